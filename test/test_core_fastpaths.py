"""The hot path's shortcuts give the same answers as the plain forms: batched alignment transforms, the tracker's
no-choice matching, the detector's squared-threshold prefilter; and face ids restart on request."""

from __future__ import annotations

import numpy as np
import pytest

from fer_ros.core.aligner import FER2013_TEMPLATE, SimilarityAligner, similarity_transform
from fer_ros.core.assignment import linear_sum_assignment
from fer_ros.core.detector import YuNetDetector
from fer_ros.core.tracker import _FORBIDDEN, FaceTracker
from fer_ros.core.types import Detection
from fer_ros.models.registry import resolve_model


def _random_detections(rng: np.random.Generator, n: int) -> list[Detection]:
    """Faces with exact-similarity keypoints, plus some with missing, collapsed or mirrored keypoints."""
    detections = []
    for i in range(n):
        scale, angle = rng.uniform(40, 300), rng.uniform(-0.6, 0.6)
        rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        kps = FER2013_TEMPLATE.astype(np.float64) @ rot.T + rng.uniform(-50, 600, 2)
        kps += rng.normal(0, 0.02 * scale, kps.shape)
        lo, hi = kps.min(axis=0), kps.max(axis=0)
        box = (lo[0] - 0.3 * (hi - lo)[0], lo[1] - 0.6 * (hi - lo)[1], 1.6 * (hi - lo)[0], 1.8 * (hi - lo)[1])
        kind = i % 5
        if kind == 1:
            kps = None
        elif kind == 2:
            kps = np.repeat(kps[:1], 5, axis=0)  # collapsed
        elif kind == 3:
            kps = kps[[1, 0, 2, 4, 3]]  # mirrored: image-left eye right of image-right eye
        detections.append(Detection(box=tuple(float(v) for v in box), score=0.9, keypoints=kps))
    return detections


def test_batched_transforms_equal_the_per_face_forms() -> None:
    rng = np.random.default_rng(3)
    aligner = SimilarityAligner(FER2013_TEMPLATE, (48, 40), crop_scale=1.2, color="gray")
    detections = _random_detections(rng, 40)
    matrices, valid = aligner.transforms(detections)
    assert matrices.shape == (40, 2, 3) and valid.shape == (40,)
    assert valid.sum() >= 8 and (~valid).sum() >= 24  # both branches exercised
    for detection, matrix, ok in zip(detections, matrices, valid, strict=True):
        assert ok == aligner.keypoints_valid(detection)
        if ok:
            np.testing.assert_allclose(
                matrix, similarity_transform(detection.keypoints, aligner.template_px), rtol=1e-9, atol=1e-9
            )
        else:  # box fallback: the box centre maps to the crop centre
            x, y, w, h = detection.box
            centre = matrix[:, :2] @ np.array([x + w / 2, y + h / 2]) + matrix[:, 2]
            np.testing.assert_allclose(centre, [24.0, 20.0], atol=1e-9)
    empty, none_valid = aligner.transforms([])
    assert empty.shape == (0, 2, 3) and none_valid.shape == (0,)


def test_align_many_equals_align_one_by_one() -> None:
    rng = np.random.default_rng(4)
    frame = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    for color in ("gray", "bgr", "rgb"):
        aligner = SimilarityAligner(FER2013_TEMPLATE, (48, 48), color=color)
        detections = _random_detections(rng, 7)
        batch, used = aligner.align_many(frame, detections)
        assert batch.shape[0] == 7
        for i, detection in enumerate(detections):
            crop, ok = aligner.align(frame, detection)
            assert ok == used[i]
            np.testing.assert_array_equal(batch[i], crop)


def test_tracker_no_choice_shortcut_matches_hungarian() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        tracker = FaceTracker(confirm_hits=1, max_misses=3)
        boxes = np.column_stack([rng.uniform(0, 600, (6, 2)), rng.uniform(20, 120, (6, 1)).repeat(2, axis=1)])
        tracker.update(boxes[: rng.integers(1, 7)], 0.0)
        moved = boxes + np.column_stack([rng.normal(0, 40, (6, 2)), np.zeros((6, 2))])
        moved = moved[rng.permutation(6)][: rng.integers(0, 7)]
        cost = tracker.cost_matrix(moved, 0.1)
        rows, cols = linear_sum_assignment(cost) if cost.size else (np.zeros(0, int), np.zeros(0, int))
        expected = {(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _FORBIDDEN}
        ids_before = [t.track_id for t in tracker.tracks]
        assigned = tracker.update(moved, 0.1)
        got = {(ids_before.index(t.track_id), j) for j, t in enumerate(assigned) if t.track_id in ids_before}
        assert got == expected


def test_face_ids_restart_on_request() -> None:
    tracker = FaceTracker(confirm_hits=1)
    tracker.update([(0, 0, 50, 50), (200, 0, 50, 50)], 0.0)
    tracker.reset()
    assert tracker.update([(0, 0, 50, 50)], 1.0)[0].track_id == "face3"  # never reused by default
    tracker.reset(restart_ids=True)
    assert tracker.update([(0, 0, 50, 50)], 2.0)[0].track_id == "face1"


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.9])
def test_detector_prefilter_keeps_exactly_the_faces_above_threshold(shared_dir, threshold: float) -> None:
    from fer_ros.core.image_io import read_image

    image = read_image(shared_dir / "media" / "pyfeat" / "multi_face.jpg")
    model = resolve_model("yunet_n_dynamic")
    ours = YuNetDetector(model, score_threshold=threshold)
    low = YuNetDetector(model, score_threshold=0.05)
    in_w, in_h, _ = ours.input_size(image.shape[1], image.shape[0])
    import cv2

    resized = cv2.resize(image, (in_w, in_h), interpolation=cv2.INTER_AREA)
    _, scores, _ = ours._detect_onnx(resized)
    _, all_scores, _ = low._detect_onnx(resized)
    assert sorted(scores.tolist()) == sorted(s for s in all_scores.tolist() if s >= threshold)
