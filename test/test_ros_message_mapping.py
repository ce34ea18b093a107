"""fer_ros.ros.messages: FrameResult <-> FaceExpressionArray, field by field (no DDS)."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header

from fer_ros.core.types import FaceResult, FrameResult
from fer_ros.msg import FaceExpressionArray
from fer_ros.ros.messages import (
    flat_to_keypoints,
    frame_result_to_msg,
    keypoints_to_flat,
    msg_to_frame_result,
    stamp_to_nanoseconds,
    stamp_to_seconds,
)

LABELS = ("angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral")


def _face(index: int, keypoints: bool = True) -> FaceResult:
    rng = np.random.default_rng(index)
    scores = rng.random(len(LABELS)).astype(np.float32)
    scores /= scores.sum()
    raw = rng.random(len(LABELS)).astype(np.float32)
    raw /= raw.sum()
    return FaceResult(
        face_id=f"face{index}",
        box=(10.5 + index, 20.25, 100.0, 120.5),
        detection_score=0.9 - 0.1 * index,
        keypoints=np.arange(10, dtype=np.float32).reshape(5, 2) + 40 * index if keypoints else None,
        expression=LABELS[int(np.argmax(scores))],
        confidence=float(scores.max()),
        scores=scores,
        raw_scores=raw,
        aligned_crop=np.zeros((48, 48), np.uint8),
        track_confirmed=True,
    )


def _result(faces: int = 2) -> FrameResult:
    return FrameResult([_face(i, keypoints=i != 1) for i in range(faces)], LABELS, (640, 480), 12.5)


def _header() -> Header:
    header = Header(frame_id="camera_optical")
    header.stamp.sec, header.stamp.nanosec = 1_700_000_123, 456_000_789
    return header


def test_every_field_is_mapped() -> None:
    result = _result()
    msg = frame_result_to_msg(result, _header(), source="camera:front")
    assert msg.header == _header()
    assert (msg.source, msg.image_width, msg.image_height) == ("camera:front", 640, 480)
    assert list(msg.labels) == list(LABELS)
    assert len(msg.faces) == 2
    for face, expected in zip(msg.faces, result.faces, strict=True):
        assert face.face_id == expected.face_id
        assert (face.x, face.y, face.width, face.height) == pytest.approx(expected.box)
        assert face.detection_confidence == pytest.approx(expected.detection_score)
        assert face.expression == expected.expression
        assert face.confidence == pytest.approx(expected.confidence)
        np.testing.assert_allclose(face.scores, expected.scores, rtol=1e-6)
        np.testing.assert_allclose(face.raw_scores, expected.raw_scores, rtol=1e-6)
    np.testing.assert_array_equal(msg.faces[0].keypoints, np.arange(10, dtype=np.float32))
    np.testing.assert_array_equal(msg.faces[1].keypoints, np.full(10, -1.0, np.float32))


def test_no_faces_still_describes_the_image() -> None:
    msg = frame_result_to_msg(FrameResult([], LABELS, (320, 240)), _header())
    assert (msg.source, msg.image_width, msg.image_height, len(msg.faces)) == ("camera", 320, 240, 0)
    assert list(msg.labels) == list(LABELS)


def test_message_serializes_with_field_checks_on() -> None:
    msg = frame_result_to_msg(_result(3), _header())
    back = deserialize_message(serialize_message(msg), FaceExpressionArray)
    assert back == msg


def test_round_trip_to_a_frame_result() -> None:
    result = _result()
    back = msg_to_frame_result(frame_result_to_msg(result, _header()))
    assert back.labels == LABELS and back.image_size == (640, 480)
    assert back.timestamp_s == pytest.approx(1_700_000_123.456000789)
    assert [f.face_id for f in back.faces] == ["face0", "face1"]
    np.testing.assert_allclose(back.faces[0].keypoints, result.faces[0].keypoints)
    assert back.faces[1].keypoints is None
    assert back.faces[0].aligned_crop is None


def test_keypoint_conversions() -> None:
    assert keypoints_to_flat(None).tolist() == [-1.0] * 10
    partial = keypoints_to_flat(np.array([[1.0, 2.0], [np.nan, 4.0]]))
    assert partial.tolist() == [1.0, 2.0, -1.0, 4.0] + [-1.0] * 6
    assert flat_to_keypoints([-1.0] * 10) is None


def test_stamps() -> None:
    header = _header()
    assert stamp_to_nanoseconds(header.stamp) == 1_700_000_123_456_000_789
    assert stamp_to_seconds(header.stamp) == pytest.approx(1_700_000_123.456000789)
