"""YuNetDetector on real images: face counts, keypoint geometry, agreement with OpenCV, knobs, odd frames."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_ros.core.detector import YuNetDetector, nms
from fer_ros.core.types import Detection
from fer_ros.models.registry import resolve_model

DETECTORS = ("yunet_n_dynamic", "yunet_s_dynamic")


@pytest.fixture(scope="module", params=DETECTORS)
def detector(request: pytest.FixtureRequest) -> YuNetDetector:
    return YuNetDetector(resolve_model(request.param), max_faces=50)


def _xyxy(d: Detection) -> np.ndarray:
    x, y, w, h = d.box
    return np.array([x, y, x + w, y + h])


def _match(a: list[Detection], b: list[Detection]) -> list[tuple[Detection, Detection]]:
    """Pair each detection of ``a`` with the one of ``b`` whose box centre is nearest."""
    pairs = []
    for d in a:
        centre = _xyxy(d).reshape(2, 2).mean(axis=0)
        nearest = min(b, key=lambda e: float(np.linalg.norm(_xyxy(e).reshape(2, 2).mean(axis=0) - centre)))
        pairs.append((d, nearest))
    return pairs


def test_face_counts_on_real_images(detector: YuNetDetector, astronaut: np.ndarray, group: np.ndarray) -> None:
    assert len(detector.detect(astronaut)) == 1
    faces = detector.detect(group)
    assert len(faces) == 5
    scores = [f.score for f in faces]
    assert scores == sorted(scores, reverse=True), "best score first"
    assert all(detector.score_threshold <= s <= 1.0 for s in scores)


def test_astronaut_box_is_on_the_face(detector: YuNetDetector, astronaut: np.ndarray) -> None:
    (face,) = detector.detect(astronaut)
    x, y, w, h = face.box
    # Eileen Collins' face in the 512x512 skimage picture: roughly x 180..270, y 60..175.
    assert 165 < x < 195 and 45 < y < 80
    assert 75 < w < 110 and 95 < h < 135


def test_keypoint_geometry(detector: YuNetDetector, astronaut: np.ndarray, group: np.ndarray) -> None:
    for image in (astronaut, group):
        for face in detector.detect(image):
            kps = face.keypoints
            assert kps is not None and kps.shape == (5, 2) and np.all(np.isfinite(kps))
            x, y, w, h = face.box
            assert np.all((kps[:, 0] >= x) & (kps[:, 0] <= x + w)), "keypoints inside the box (x)"
            assert np.all((kps[:, 1] >= y) & (kps[:, 1] <= y + h)), "keypoints inside the box (y)"
            left_eye, right_eye, nose, left_mouth, right_mouth = kps
            assert left_eye[0] < right_eye[0], "image-left eye is left of the image-right eye"
            assert left_mouth[0] < right_mouth[0]
            assert max(left_eye[1], right_eye[1]) < min(left_mouth[1], right_mouth[1]), "eyes above mouth"
            assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1])


@pytest.mark.parametrize(
    ("dynamic", "fixed"), [("yunet_n_dynamic", "yunet_n_320_320"), ("yunet_s_dynamic", "yunet_s_640_640")]
)
def test_boxes_agree_with_opencv_face_detector_yn(dynamic: str, fixed: str, group: np.ndarray) -> None:
    ours = YuNetDetector(resolve_model(dynamic), input_long_side=320).detect(group)
    # OpenCV's own YuNet decoder on the same resized input, mapped back by hand.
    height, width = group.shape[:2]
    in_w, in_h = 320, round(height * 320 / width)
    resized = cv2.resize(group, (in_w, in_h), interpolation=cv2.INTER_AREA)
    yn = cv2.FaceDetectorYN.create(str(resolve_model(fixed)), "", (in_w, in_h), 0.6, 0.3, 5000)
    _, faces = yn.detect(resized)
    assert faces is not None and len(faces) == len(ours) == 5
    sx, sy = width / in_w, height / in_h
    theirs = [
        Detection((f[0] * sx, f[1] * sy, f[2] * sx, f[3] * sy), float(f[14]), f[4:14].reshape(5, 2) * [sx, sy])
        for f in faces
    ]
    for a, b in _match(ours, theirs):
        np.testing.assert_allclose(a.box, b.box, atol=3.0)
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=3.0)
        assert abs(a.score - b.score) < 0.02
    # The same model file through the project's OpenCV backend gives the same boxes too.
    backend = YuNetDetector(resolve_model(fixed), input_long_side=320, backend="opencv").detect(group)
    assert len(backend) == 5
    for a, b in _match(ours, backend):
        np.testing.assert_allclose(a.box, b.box, atol=3.0)


def test_input_long_side_is_honoured(shared_dir: Path, group: np.ndarray) -> None:
    model = resolve_model("yunet_n_dynamic")
    assert YuNetDetector(model, input_long_side=640).input_size(1000, 667)[:2] == (640, 427)
    assert YuNetDetector(model, input_long_side=160).input_size(667, 1000)[:2] == (107, 160)
    # The group photo shrunk into a corner of a big frame: faces of ~25 px in 1600 px.
    frame = np.full((1200, 1600, 3), 127, np.uint8)
    frame[:200, :300] = cv2.resize(group, (300, 200), interpolation=cv2.INTER_AREA)
    fine = YuNetDetector(model, input_long_side=640).detect(frame)
    coarse = YuNetDetector(model, input_long_side=320).detect(frame)
    assert len(fine) == 5 and len(coarse) == 0
    assert all(f.box[0] + f.box[2] <= 305 and f.box[1] + f.box[3] <= 205 for f in fine)
    # Boxes come back in source pixels whatever the input size.
    big = YuNetDetector(model, input_long_side=640).detect(group)
    small = YuNetDetector(model, input_long_side=320).detect(group)
    assert len(big) == len(small) == 5
    for a, b in _match(big, small):
        np.testing.assert_allclose(a.box, b.box, atol=0.12 * b.box[2])


def test_score_threshold_max_faces_and_min_face_size(group: np.ndarray) -> None:
    model = resolve_model("yunet_n_dynamic")
    every = YuNetDetector(model, score_threshold=0.5).detect(group)
    assert len(every) == 5
    scores = sorted((f.score for f in every), reverse=True)
    threshold = (scores[1] + scores[2]) / 2
    strict = YuNetDetector(model, score_threshold=threshold).detect(group)
    assert len(strict) == 2 and all(f.score >= threshold for f in strict)

    top3 = YuNetDetector(model, score_threshold=0.5, max_faces=3).detect(group)
    assert [f.score for f in top3] == pytest.approx(scores[:3])
    assert YuNetDetector(model, max_faces=1).detect(group)[0].score == pytest.approx(scores[0])

    sides = sorted(min(f.box[2], f.box[3]) for f in every)
    limit = (sides[1] + sides[2]) / 2
    big = YuNetDetector(model, min_face_size_px=limit).detect(group)
    assert len(big) == 3 and all(min(f.box[2], f.box[3]) >= limit - 1.0 for f in big)


def test_nms_keeps_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.6], np.float32)
    assert nms(boxes, scores, 0.3, 10) == [1, 2]
    assert nms(boxes, scores, 0.3, 1) == [1]
    assert nms(boxes, scores, 0.99, 10) == [1, 0, 2, 3]


@pytest.mark.parametrize("side", ["left", "top", "right", "bottom"])
def test_face_cut_by_the_frame_border(astronaut: np.ndarray, side: str) -> None:
    detector = YuNetDetector(resolve_model("yunet_n_dynamic"))
    (face,) = detector.detect(astronaut)
    x, y, w, h = (int(v) for v in face.box)
    # Cut the picture so that about a quarter of the face is outside the frame.
    cut = {
        "left": astronaut[:, x + w // 4 :],
        "top": astronaut[y + h // 4 :, :],
        "right": astronaut[:, : x + 3 * w // 4],
        "bottom": astronaut[: y + 3 * h // 4, :],
    }[side]
    cut = np.ascontiguousarray(cut)
    height, width = cut.shape[:2]
    faces = detector.detect(cut)
    assert len(faces) == 1, "three quarters of a face are still found"
    for f in faces:
        fx, fy, fw, fh = f.box
        assert 0 < fw < 1.5 * w and 0 < fh < 1.5 * h
        # The box overlaps the frame and reaches out of it by at most half the face.
        assert fx + fw > 0 and fy + fh > 0 and fx < width and fy < height
        assert fx > -0.5 * fw and fy > -0.5 * fh and fx + fw < width + 0.5 * fw and fy + fh < height + 0.5 * fh
        assert np.all(np.isfinite(f.keypoints))


def test_huge_image(group: np.ndarray) -> None:
    detector = YuNetDetector(resolve_model("yunet_n_dynamic"))
    huge = cv2.resize(group, (6000, 4000), interpolation=cv2.INTER_LINEAR)
    small = detector.detect(group)
    faces = detector.detect(huge)
    assert len(faces) == 5
    sx, sy = 6000 / group.shape[1], 4000 / group.shape[0]
    scaled = [Detection((d.box[0] * sx, d.box[1] * sy, d.box[2] * sx, d.box[3] * sy), d.score) for d in small]
    for a, b in _match(faces, scaled):
        np.testing.assert_allclose(a.box, b.box, atol=0.05 * b.box[2])


def test_frames_without_faces() -> None:
    detector = YuNetDetector(resolve_model("yunet_n_dynamic"))
    rng = np.random.default_rng(1)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 2)
    assert detector.detect(noise) == []
    assert detector.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert detector.detect(np.zeros((40, 7, 3), np.uint8)) == []  # very thin frame: no crash


def test_bad_arguments() -> None:
    model = resolve_model("yunet_n_dynamic")
    with pytest.raises(ValueError, match="backend"):
        YuNetDetector(model, backend="tensorrt")
    with pytest.raises(ValueError, match="input_long_side"):
        YuNetDetector(model, input_long_side=8)
