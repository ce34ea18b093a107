"""Core results <-> fer_ros messages: FrameResult -> FaceExpressionArray, and back for the overlay.

Pure mappings with no node state. Field conventions are those of msg/FaceExpression.msg: boxes and
keypoints in source-image pixels, keypoints ``-1`` where the detector gave none, ``scores`` smoothed and
``raw_scores`` this frame's, both in ``labels`` order.
"""

from __future__ import annotations

import array
from collections.abc import Sequence
from typing import Any

import numpy as np

from fer_ros.core.types import FaceResult, FrameResult

INVALID_KEYPOINT = -1.0
NUM_KEYPOINTS = 5


def stamp_to_seconds(stamp) -> float:
    """A builtin_interfaces/Time as float seconds."""
    return float(stamp.sec) + float(stamp.nanosec) * 1e-9


def stamp_to_nanoseconds(stamp) -> int:
    """A builtin_interfaces/Time as integer nanoseconds (an exact key for matching stamps)."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def _float32_array(values) -> array.array:
    return array.array("f", np.asarray(values, dtype=np.float32).ravel().tobytes())


def _f32(value: float) -> float:
    """``value`` rounded to float32, as a float32 field carries it (what subscribers will receive)."""
    return float(np.float32(value))


def keypoints_to_flat(keypoints: np.ndarray | None) -> np.ndarray:
    """``(5, 2)`` keypoints (or None, or fewer points) as the message's 10 floats, ``-1`` where missing."""
    flat = np.full(2 * NUM_KEYPOINTS, INVALID_KEYPOINT, dtype=np.float32)
    if keypoints is not None:
        points = np.asarray(keypoints, dtype=np.float32).reshape(-1, 2)[:NUM_KEYPOINTS]
        flat[: points.size] = points.ravel()
        flat[~np.isfinite(flat)] = INVALID_KEYPOINT
    return flat


def flat_to_keypoints(flat: Sequence[float]) -> np.ndarray | None:
    """The message's 10 floats as ``(5, 2)`` keypoints; None when every keypoint is invalid."""
    points = np.asarray(flat, dtype=np.float32).reshape(NUM_KEYPOINTS, 2)
    if np.all(points == INVALID_KEYPOINT):
        return None
    return points


def face_fields(face: FaceResult) -> dict[str, Any]:
    """fer_ros/FaceExpression's field values for one FaceResult (arrays as float32 numpy arrays).

    The one mapping behind both the live node's messages and the ones ``fer-ros bag process`` writes.
    """
    x, y, width, height = (_f32(v) for v in face.box)
    return {
        "face_id": str(face.face_id),
        "x": x,
        "y": y,
        "width": width,
        "height": height,
        "detection_confidence": _f32(face.detection_score),
        "keypoints": keypoints_to_flat(face.keypoints),
        "expression": str(face.expression),
        "confidence": _f32(face.confidence),
        "scores": np.asarray(face.scores, dtype=np.float32).ravel(),
        "raw_scores": np.asarray(face.raw_scores, dtype=np.float32).ravel(),
    }


def array_fields(result: FrameResult, source: str = "camera") -> dict[str, Any]:
    """fer_ros/FaceExpressionArray's field values for a FrameResult, less ``header`` and ``faces``."""
    width, height = (int(v) for v in result.image_size)
    return {
        "source": source,
        "image_width": width,
        "image_height": height,
        "labels": [str(label) for label in result.labels],
    }


_SEQUENCE_FIELDS = ("scores", "raw_scores")


def face_to_msg(face: FaceResult):
    """One FaceResult as a fer_ros/FaceExpression."""
    from fer_ros.msg import FaceExpression

    msg = FaceExpression()
    for name, value in face_fields(face).items():
        setattr(msg, name, _float32_array(value) if name in _SEQUENCE_FIELDS else value)
    return msg


def frame_result_to_msg(result: FrameResult, header, source: str = "camera"):
    """A FrameResult as a fer_ros/FaceExpressionArray carrying ``header`` (the source image's, unchanged)."""
    from fer_ros.msg import FaceExpressionArray

    msg = FaceExpressionArray()
    msg.header = header
    for name, value in array_fields(result, source).items():
        setattr(msg, name, value)
    msg.faces = [face_to_msg(face) for face in result.faces]
    return msg


def msg_to_frame_result(msg) -> FrameResult:
    """A FaceExpressionArray as a FrameResult (no aligned crops; every face counted as a confirmed track)."""
    faces = [
        FaceResult(
            face_id=face.face_id,
            box=(float(face.x), float(face.y), float(face.width), float(face.height)),
            detection_score=float(face.detection_confidence),
            keypoints=flat_to_keypoints(face.keypoints),
            expression=face.expression,
            confidence=float(face.confidence),
            scores=np.asarray(face.scores, dtype=np.float32),
            raw_scores=np.asarray(face.raw_scores, dtype=np.float32),
            aligned_crop=None,
            track_confirmed=True,
        )
        for face in msg.faces
    ]
    return FrameResult(
        faces=faces,
        labels=tuple(msg.labels),
        image_size=(int(msg.image_width), int(msg.image_height)),
        timestamp_s=stamp_to_seconds(msg.header.stamp),
    )
