"""Helpers of the bag tests: real-face frames at chosen stamps, and reading bags back with rosbags and,
independently, with the MCAP reference reader (mcap + mcap-ros2-support) or sqlite3 + mcap-ros2's decoder."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fer_ros.testing.bags import CameraFrame

T0_NS = 1_700_000_000_000_000_000
PERIOD_NS = 100_000_000  # 10 Hz
RECEIVE_DELAY_NS = 7_000_000  # receive time = stamp + 7 ms, so that the two are told apart


def video_frames(media: Path, count: int, every: int = 5, start_index: int = 0) -> list[np.ndarray]:
    """``count`` frames of shared/media/pyfeat/single_face.mp4 (one face, neutral then happy), every ``every``."""
    capture = cv2.VideoCapture(str(media / "pyfeat" / "single_face.mp4"))
    frames = []
    index = 0
    while len(frames) < count:
        ok, frame = capture.read()
        assert ok, f"single_face.mp4 ended after {index} frames"
        if index >= start_index and (index - start_index) % every == 0:
            frames.append(frame)
        index += 1
    capture.release()
    return frames


def stamped(images: list[np.ndarray], first: int = 0, frame_id: str = "camera") -> list[CameraFrame]:
    """Frames at 10 Hz from T0 (+ ``first`` periods), received 7 ms after their stamps."""
    stamps = [T0_NS + (first + i) * PERIOD_NS for i in range(len(images))]
    return [
        CameraFrame(image, stamp, stamp + RECEIVE_DELAY_NS, frame_id)
        for image, stamp in zip(images, stamps, strict=True)
    ]


def stamp_ns(msg: Any) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def read_rosbags(path: Path, topic: str) -> tuple[str, list[tuple[int, Any]]]:
    """(message type, [(receive time, message)]) of one topic, read and deserialized with rosbags."""
    from rosbags.rosbag2 import Reader

    from fer_ros.bag.types import typestore

    store = typestore()
    with Reader(path) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        assert connections, f"no {topic} in {path}: {[c.topic for c in reader.connections]}"
        messages = [
            (log_ns, store.deserialize_cdr(raw, c.msgtype)) for c, log_ns, raw in reader.messages(connections)
        ]
        return connections[0].msgtype, messages


def read_independently(path: Path, topic: str) -> tuple[str, str, list[tuple[int, Any]]]:
    """(schema name, schema encoding, [(receive time, message)]) of one topic, without rosbags: the MCAP
    reference reader for .mcap, sqlite3 + mcap-ros2's CDR decoder (from the bag's own definition) for .db3."""
    files = sorted(path.glob("*.mcap")) + sorted(path.glob("*.db3"))
    assert len(files) == 1, files
    if files[0].suffix == ".mcap":
        from mcap.reader import make_reader
        from mcap_ros2.decoder import DecoderFactory

        with files[0].open("rb") as handle:
            reader = make_reader(handle, decoder_factories=[DecoderFactory()])
            summary = reader.get_summary()
            channel = next(c for c in summary.channels.values() if c.topic == topic)
            schema = summary.schemas[channel.schema_id]
            messages = [(m.log_time, decoded) for _, _, m, decoded in reader.iter_decoded_messages(topics=[topic])]
            return schema.name, schema.encoding, messages
    from mcap_ros2._dynamic import generate_dynamic

    connection = sqlite3.connect(f"file:{files[0]}?mode=ro", uri=True)
    try:
        topic_id, type_name = connection.execute("SELECT id, type FROM topics WHERE name = ?", (topic,)).fetchone()
        encoding, definition = connection.execute(
            "SELECT encoding, encoded_message_definition FROM message_definitions WHERE topic_type = ?", (type_name,)
        ).fetchone()
        decode = generate_dynamic(type_name, definition)[type_name]
        rows = connection.execute(
            "SELECT timestamp, data FROM messages WHERE topic_id = ? ORDER BY timestamp", (topic_id,)
        ).fetchall()
        return type_name, encoding, [(timestamp, decode(data)) for timestamp, data in rows]
    finally:
        connection.close()


def bag_custom_data(path: Path) -> dict[str, str]:
    """metadata.yaml's custom_data."""
    import yaml

    info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    return dict(info.get("custom_data") or {})
