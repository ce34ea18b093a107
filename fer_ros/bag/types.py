"""The rosbags type store used for bags: ROS 2 Kilted's standard messages plus fer_ros's own, parsed from
msg/*.msg so that every bag written carries their definitions (and the same RIHS01 hashes as rosidl's)."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from fer_ros.core.errors import FerRosError

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
IMAGE_TYPES = (IMAGE, COMPRESSED_IMAGE)
FACE_EXPRESSION = "fer_ros/msg/FaceExpression"
FACE_EXPRESSION_ARRAY = "fer_ros/msg/FaceExpressionArray"
EXPRESSION_COMMAND = "fer_ros/msg/ExpressionCommand"
MESSAGE_NAMES = ("FaceExpression", "FaceExpressionArray", "ExpressionCommand")

SOURCE_MSG_DIR = Path(__file__).resolve().parents[2] / "msg"


class MessageDefinitionsNotFound(FerRosError, FileNotFoundError):
    """fer_ros's msg/*.msg files are neither installed nor in a source checkout."""


def msg_dirs() -> list[Path]:
    """Where fer_ros's .msg files are looked up: the ROS install's share/fer_ros/msg, the Python prefix's,
    then the source checkout's msg/."""
    dirs = []
    try:
        from ament_index_python.packages import get_package_share_directory

        dirs.append(Path(get_package_share_directory("fer_ros")) / "msg")
    except Exception:  # not installed with ament, or no ament_index_python at all
        pass
    dirs += [Path(sys.prefix) / "share" / "fer_ros" / "msg", SOURCE_MSG_DIR]
    return dirs


def message_files() -> dict[str, Path]:
    """``fer_ros/msg/<Name>`` -> its .msg file, from the first directory holding all of them."""
    for directory in msg_dirs():
        files = {f"fer_ros/msg/{name}": directory / f"{name}.msg" for name in MESSAGE_NAMES}
        if all(path.is_file() for path in files.values()):
            return files
    raise MessageDefinitionsNotFound(
        "fer_ros message definitions (msg/*.msg) not found in " + ", ".join(map(str, msg_dirs()))
    )


@lru_cache(maxsize=1)
def typestore() -> Any:
    """A rosbags Typestore with ROS 2 Kilted's messages and fer_ros's registered."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for name, path in message_files().items():
        types.update(get_types_from_msg(path.read_text(), name))
    store.register(types)
    return store
