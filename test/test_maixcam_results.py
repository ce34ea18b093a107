"""MaixCAM frames become the pipeline's FrameResult (one message mapping for both nodes), smoothed per track."""

from __future__ import annotations

import numpy as np
import pytest

from fer_ros.maixcam.receiver import PublishableFrame
from fer_ros.maixcam.results import DeviceResults
from fer_ros.ros.messages import face_fields
from maixcam_bridge import fer_maix_protocol as P

LABELS = ("angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral")
KEYPOINTS = (60, 60, 90, 60, 75, 75, -1, -1, 85, 90)  # one invalid mouth corner


def frame(scores_by_track: dict[int, list[float] | None], session: int = 1) -> PublishableFrame:
    faces = [
        P.Face(50, 40, 60, 70, 0.9, KEYPOINTS, int(np.argmax(scores)) if scores else None,
               P.FACE_CLASSIFIED if scores else P.FACE_EYES_INVALID, track, scores or [])  # fmt: skip
        for track, scores in scores_by_track.items()
    ]
    now_us = 1_000_000
    data = P.encode_frame("cam", session, 1, now_us, now_us - 5000, 320, 224, P.labels_checksum(LABELS), 7, faces)
    return PublishableFrame(P.decode(data), LABELS, 0, None, 0)


def test_a_frame_becomes_a_frame_result_with_the_devices_conventions() -> None:
    happy = [0.02, 0.02, 0.02, 0.88, 0.02, 0.02, 0.02]
    result = DeviceResults(0.3, 0.1).result(frame({5: happy, 0: happy, 6: None}), 1.0)
    assert result.labels == LABELS and result.image_size == (320, 224) and result.timestamp_s == 1.0
    tracked, untracked, unclassified = result.faces
    assert tracked.face_id == "5" and tracked.track_confirmed and tracked.expression == "happy"
    assert untracked.face_id == "" and untracked.expression == "happy"
    assert sum(tracked.raw_scores) == pytest.approx(1.0, abs=1e-6)
    assert unclassified.expression == "" and unclassified.scores.size == 0 and unclassified.confidence == 0.0
    fields = face_fields(tracked)
    assert fields["keypoints"].tolist() == [float(v) for v in KEYPOINTS]  # -1 stays -1, point by point
    assert (fields["x"], fields["y"], fields["width"], fields["height"]) == (50.0, 40.0, 60.0, 70.0)


def test_tracks_are_smoothed_and_a_new_session_starts_afresh() -> None:
    results = DeviceResults(0.3, 0.1)
    happy = [0.02, 0.02, 0.02, 0.88, 0.02, 0.02, 0.02]
    sad = [0.02, 0.02, 0.02, 0.02, 0.88, 0.02, 0.02]
    results.result(frame({5: happy}), 0.0)
    smoothed = results.result(frame({5: sad}), 0.03).faces[0]
    assert smoothed.expression == "happy" and smoothed.scores[3] > smoothed.scores[4]  # one frame does not flip it
    restarted = results.result(frame({5: sad}, session=2), 0.06).faces[0]
    assert restarted.expression == "sad"
