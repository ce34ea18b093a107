"""Thin rclpy nodes around the core engine; each module has a ``main()`` and a ``PARAMETERS`` table.

:data:`NODES` is the one list of node executables: setup.py (console scripts ``fer-ros-<name>``) and
CMakeLists.txt (``ros2 run fer_ros <name>``) read the line below as text, so keep it one line of string literals.
Each name is a module here whose class is the name in CamelCase (``camera_node`` -> ``CameraNode``).
"""

from __future__ import annotations

NODES = ("camera_node", "expression_node", "overlay_node", "mirror_node", "maixcam_bridge_node")


def node_class(name: str) -> type:
    """The rclpy node class of executable ``name`` (imports its module, so rclpy)."""
    import importlib

    if name not in NODES:
        raise ValueError(f"unknown node {name!r}; nodes: {', '.join(NODES)}")
    module = importlib.import_module(f"{__name__}.{name}")
    return getattr(module, "".join(part.capitalize() for part in name.split("_")))
