"""SimilarityAligner: keypoints land on the template, box fallback, size/colour from metadata, crop_scale."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_ros.core.aligner import FER2013_TEMPLATE, SimilarityAligner, similarity_transform
from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.detector import YuNetDetector
from fer_ros.core.image_io import read_image
from fer_ros.core.pipeline import PEER_MODEL_NAME, SHIPPED_MODEL
from fer_ros.core.types import Detection
from fer_ros.models.registry import resolve_model


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def _similar_keypoints(template_px: np.ndarray, scale: float, angle_deg: float, shift: tuple[float, float]):
    """``template_px`` moved by an exact similarity (what a face rotated and scaled in a frame looks like)."""
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return template_px @ rot.T + np.asarray(shift)


def _box_around(points: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    size = hi - lo
    return (lo[0] - 0.3 * size[0], lo[1] - 0.6 * size[1], 1.6 * size[0], 1.8 * size[1])


def _blob_centres(crop: np.ndarray) -> np.ndarray:
    """Centroids of the bright blobs of a gray crop, sorted like the template (by y, then x within a row)."""
    _, binary = cv2.threshold(crop, 100, 255, cv2.THRESH_BINARY)
    count, _, stats, centroids = cv2.connectedComponentsWithStats(binary)
    return centroids[1:][stats[1:, cv2.CC_STAT_AREA] > 0]


def _order_like_template(points: np.ndarray, template: np.ndarray) -> np.ndarray:
    return np.array([points[np.argmin(np.linalg.norm(points - t, axis=1))] for t in template])


@pytest.fixture(scope="module")
def astronaut_face(shared_dir: Path) -> tuple[np.ndarray, Detection]:
    image = read_image(shared_dir / "media" / "astronaut.png")
    (face,) = YuNetDetector(resolve_model("yunet_n_dynamic")).detect(image)
    return image, face


def test_similarity_transform_recovers_an_exact_similarity() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        src = rng.uniform(0, 500, (5, 2))
        angle, scale, shift = rng.uniform(-math.pi, math.pi), rng.uniform(0.05, 5), rng.uniform(-300, 300, 2)
        rot = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        dst = src @ rot.T + shift
        matrix = similarity_transform(src, dst)
        np.testing.assert_allclose(_apply(matrix, src), dst, atol=1e-6)
        np.testing.assert_allclose(matrix[:, :2], rot, atol=1e-9)
    with pytest.raises(ValueError):
        similarity_transform(np.ones((5, 2)), np.zeros((5, 2)))


@pytest.mark.parametrize(("scale", "angle"), [(0.6, 0.0), (1.0, 15.0), (4.0, -25.0), (9.0, 40.0)])
def test_keypoints_land_on_the_template(scale: float, angle: float) -> None:
    aligner = SimilarityAligner(FER2013_TEMPLATE, (48, 48), 1.0, "gray")
    keypoints = _similar_keypoints(aligner.template_px, scale, angle, (700.0, 500.0))
    detection = Detection(_box_around(keypoints), 0.9, keypoints.astype(np.float32))
    matrix, used = aligner.transform(detection)
    assert used
    np.testing.assert_allclose(_apply(matrix, keypoints), aligner.template_px, atol=1e-3)

    # The warped picture agrees: bright dots drawn at the keypoints end up on the template.
    frame = np.zeros((1500, 1500, 3), np.uint8)
    for x, y in keypoints:
        cv2.circle(frame, (int(round(x)), int(round(y))), max(2, int(round(1.5 * scale))), (255, 255, 255), -1)
    crop, used = aligner.align(frame, detection)
    assert used and crop.shape == (48, 48) and crop.dtype == np.uint8
    centres = _blob_centres(crop)
    assert len(centres) == 5
    np.testing.assert_allclose(_order_like_template(centres, aligner.template_px), aligner.template_px, atol=1.0)


def test_real_face_lands_near_the_template(astronaut_face: tuple[np.ndarray, Detection]) -> None:
    image, face = astronaut_face
    aligner = SimilarityAligner(FER2013_TEMPLATE, (48, 48))
    matrix, used = aligner.transform(face)
    assert used
    residual = np.linalg.norm(_apply(matrix, face.keypoints) - aligner.template_px, axis=1)
    assert residual.max() < 3.0, residual  # a real face is not exactly the template, but close
    eyes = _apply(matrix, face.keypoints[:2])
    assert abs(eyes[0, 1] - eyes[1, 1]) < 1.5, "eyes level after alignment"


def test_box_fallback_when_keypoints_are_missing_or_bad() -> None:
    aligner = SimilarityAligner(FER2013_TEMPLATE, (48, 48), 1.0, "bgr")
    frame = np.zeros((400, 600, 3), np.uint8)
    frame[100:220, 300:420] = (0, 0, 255)  # a red 120x120 "face"
    box = (300.0, 100.0, 120.0, 120.0)
    bad_keypoints = [
        None,
        np.full((5, 2), np.nan, np.float32),
        np.full((5, 2), 150.0, np.float32),  # collapsed
        np.array([[390, 140], [330, 140], [360, 170], [335, 200], [385, 200]], np.float32),  # eyes swapped
        np.array([[1000, 140], [1050, 140], [1020, 170], [1000, 200], [1050, 200]], np.float32),  # off the box
    ]
    for keypoints in bad_keypoints:
        detection = Detection(box, 0.9, keypoints)
        assert not aligner.keypoints_valid(detection)
        crop, used = aligner.align(frame, detection)
        assert not used
        assert crop.shape == (48, 48, 3)
        inner = crop[2:-2, 2:-2].reshape(-1, 3)
        assert np.all(inner == (0, 0, 255)), "the crop is the box"
    # A wide box: square crop of its long side, centred (black bands above and below).
    wide = Detection((300.0, 130.0, 120.0, 60.0), 0.9, None)
    crop, used = aligner.align(frame, wide)
    assert not used
    assert np.all(crop[24, 2:-2] == (0, 0, 255))


@pytest.mark.parametrize("model", ["shipped", "peer"])
def test_output_size_and_colour_follow_model_metadata(model: str, astronaut_face) -> None:
    path = SHIPPED_MODEL if model == "shipped" else resolve_model(PEER_MODEL_NAME)
    meta = ExpressionClassifier(path).metadata
    image, face = astronaut_face
    aligner = SimilarityAligner.from_metadata(meta)
    width, height = meta.input_size
    crop, used = aligner.align(image, face)
    assert used
    assert crop.shape == ((height, width) if meta.color == "gray" else (height, width, 3))
    batch, flags = aligner.align_many(image, [face, face, Detection(face.box, face.score, None)])
    assert batch.shape[0] == 3 and flags == [True, True, False]
    np.testing.assert_array_equal(batch[0], crop)
    for color in ("gray", "bgr", "rgb"):
        other = SimilarityAligner(meta.align_template, (40, 56), meta.crop_scale, color)
        out, _ = other.align(image, face)
        assert out.shape == ((56, 40) if color == "gray" else (56, 40, 3))
    bgr, _ = SimilarityAligner(meta.align_template, (40, 56), 1.0, "bgr").align(image, face)
    rgb, _ = SimilarityAligner(meta.align_template, (40, 56), 1.0, "rgb").align(image, face)
    np.testing.assert_array_equal(bgr[:, :, ::-1], rgb)
    with pytest.raises(ValueError):
        SimilarityAligner(meta.align_template, (48, 48), 1.0, "yuv")


def test_crop_scale_above_one_shrinks_the_face(astronaut_face) -> None:
    image, face = astronaut_face
    tight = SimilarityAligner(FER2013_TEMPLATE, (48, 48), 1.0)
    loose = SimilarityAligner(FER2013_TEMPLATE, (48, 48), 1.5)
    eye_gap = [np.linalg.norm(a.template_px[1] - a.template_px[0]) for a in (tight, loose)]
    assert eye_gap[1] == pytest.approx(eye_gap[0] / 1.5)
    np.testing.assert_allclose(loose.template_px.mean(axis=0) - 24, (tight.template_px.mean(axis=0) - 24) / 1.5)
    m_tight, _ = tight.transform(face)
    m_loose, _ = loose.transform(face)
    scale = [math.hypot(m[0, 0], m[1, 0]) for m in (m_tight, m_loose)]
    assert scale[1] == pytest.approx(scale[0] / 1.5, rel=1e-6)
    # Box fallback too: more of the frame around the box.
    box_only = Detection(face.box, face.score, None)
    m_tight, _ = tight.transform(box_only)
    m_loose, _ = loose.transform(box_only)
    assert m_loose[0, 0] == pytest.approx(m_tight[0, 0] / 1.5)
