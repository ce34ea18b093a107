"""Several cameras in one launch: ``cameras:=head,chest`` -> one namespace, and one set of nodes, per camera.

No ROS import (the launch file and tests use it). Every topic of a camera's nodes is relative, so it resolves in
``<namespace>/<camera>``: nothing two cameras share, except the conventional ``/diagnostics`` (each status
carries the node's full name).
"""

from __future__ import annotations

import re

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def parse_cameras(text: str) -> list[str]:
    """``"head, chest"`` or ``"[head,chest]"`` -> ``["head", "chest"]``; ValueError on a bad or repeated name."""
    text = text.strip().removeprefix("[").removesuffix("]")
    names = [item.strip().strip("'\"") for item in text.split(",") if item.strip()]
    for name in names:
        if not _NAME.match(name):
            raise ValueError(f"cameras: {name!r} is not a ROS name (a letter, then letters, digits, _)")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"cameras: {', '.join(repeated)} listed twice")
    return names


def camera_namespace(namespace: str, camera: str) -> str:
    """The namespace of one camera's nodes: ``<namespace>/<camera>`` (``/<camera>`` without a namespace)."""
    base = namespace.strip().strip("/")
    return f"/{base}/{camera}" if base else f"/{camera}"


def camera_image_topic(topic: str) -> str:
    """A camera's image topic, which must be relative (resolved in each camera's namespace)."""
    topic = topic.strip()
    if not topic or topic.startswith(("/", "~")):
        raise ValueError(
            f"camera_image:={topic!r}: with cameras:= the image topic must be relative (e.g. image_raw), "
            "so that each camera's nodes read their own camera"
        )
    return topic
