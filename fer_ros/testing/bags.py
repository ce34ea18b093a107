"""Camera bags made with rosbags for tests and benchmarks: frames as sensor_msgs/Image (bgr8 or another
encoding) or CompressedImage (JPEG), each with a chosen header stamp and receive time."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_ros.bag.types import COMPRESSED_IMAGE, IMAGE, typestore


@dataclass
class CameraFrame:
    """One frame to record: BGR pixels (or raw bytes with ``encoding``), its header stamp, its receive time."""

    image: np.ndarray
    stamp_ns: int
    log_ns: int | None = None  # receive time; default: the stamp
    frame_id: str = "camera"


def image_message(frame: CameraFrame, kind: str = "raw", encoding: str = "bgr8", jpeg_quality: int = 90):
    """A rosbags Image (``kind="raw"``) or CompressedImage (``"compressed"``) of ``frame``."""
    types = typestore().types
    stamp = types["builtin_interfaces/msg/Time"](
        sec=frame.stamp_ns // 1_000_000_000, nanosec=frame.stamp_ns % 1_000_000_000
    )
    header = types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame.frame_id)
    if kind == "compressed":
        ok, data = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        assert ok
        return types[COMPRESSED_IMAGE](header=header, format="bgr8; jpeg compressed bgr8", data=data.reshape(-1))
    pixels = np.ascontiguousarray(frame.image)
    height, width = pixels.shape[:2]
    step = pixels.nbytes // height
    return types[IMAGE](
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=step,
        data=pixels.reshape(-1).view(np.uint8),
    )


def write_camera_bag(
    path: str | Path,
    frames: Iterable[CameraFrame],
    topic: str = "/camera/image_raw",
    kind: str = "raw",
    storage: str = "mcap",
    encoding: str = "bgr8",
    extra_topics: dict[str, Iterable[CameraFrame]] | None = None,
    encodings: dict[str, str] | None = None,
) -> Path:
    """Write a bag with ``frames`` on ``topic`` (``/compressed`` is appended for compressed images), plus
    ``extra_topics`` (topic -> frames, same kind; raw ones in ``encodings[topic]``, default ``encoding``).
    Frames are streamed, not held."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    store = typestore()
    msgtype = IMAGE if kind == "raw" else COMPRESSED_IMAGE
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    topics = {topic + ("/compressed" if kind == "compressed" else ""): frames}
    for name, more in (extra_topics or {}).items():
        topics[name] = more
    path = Path(path)
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        for name, items in topics.items():
            connection = writer.add_connection(name, msgtype, typestore=store)
            for frame in items:
                topic_encoding = (encodings or {}).get(name, encoding)
                data = store.serialize_cdr(image_message(frame, kind, topic_encoding), msgtype)
                writer.write(connection, frame.log_ns if frame.log_ns is not None else frame.stamp_ns, data)
    return path
