"""Deterministic, fully populated messages for tests, and a message -> plain data conversion to compare."""

from __future__ import annotations

import array
from typing import Any

import numpy as np

LABELS = ("neutral", "happy", "surprised", "sad", "angry", "disgusted", "scared", "contempt")


def _probabilities(seed: int) -> list[float]:
    values = np.random.default_rng(seed).random(len(LABELS)).astype(np.float32) + np.float32(0.05)
    return [float(v) for v in (values / values.sum()).astype(np.float32)]


def sample_face_expression_array(
    faces: int = 2, stamp_sec: int = 1_700_000_000, stamp_nanosec: int = 123_456_789
):
    """A FaceExpressionArray with every field set to a distinct, non-default value."""
    from fer_ros.msg import FaceExpression, FaceExpressionArray

    msg = FaceExpressionArray()
    msg.header.stamp.sec = stamp_sec
    msg.header.stamp.nanosec = stamp_nanosec
    msg.header.frame_id = "camera_optical_frame"
    msg.source = "maixcam:test-device"
    msg.image_width = 640
    msg.image_height = 480
    msg.labels = list(LABELS)
    for index in range(faces):
        face = FaceExpression()
        face.face_id = f"track-{index + 7}"
        face.x, face.y = 100.5 + 150 * index, 80.25 + 10 * index
        face.width, face.height = 120.0 + index, 140.5 + index
        face.detection_confidence = 0.875 - 0.125 * index
        keypoints = [
            face.x + 30,
            face.y + 50,
            face.x + 90,
            face.y + 50,
            face.x + 60,
            face.y + 80,
            face.x + 35,
            face.y + 110,
            face.x + 85,
            face.y + 110,
        ]
        if index == 1:
            keypoints[4:6] = [-1.0, -1.0]  # the "invalid keypoint" convention
        face.keypoints = keypoints
        face.scores = _probabilities(index)
        face.raw_scores = _probabilities(100 + index)
        best = int(np.argmax(face.scores))
        face.expression = LABELS[best]
        face.confidence = face.scores[best]
        msg.faces.append(face)
    return msg


def message_to_data(msg: Any) -> Any:
    """A ROS message as nested dicts/lists of Python scalars (exact: float32 values become Python floats)."""
    if hasattr(msg, "get_fields_and_field_types"):
        return {field: message_to_data(getattr(msg, field)) for field in msg.get_fields_and_field_types()}
    if isinstance(msg, (list, tuple, array.array, np.ndarray)):
        return [message_to_data(item) for item in msg]
    if isinstance(msg, np.generic):
        return msg.item()
    return msg
