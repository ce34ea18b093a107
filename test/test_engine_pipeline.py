"""ExpressionPipeline end to end on real images: labels, ids, input formats, bad frames, rendering."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_ros.core.errors import InvalidImageError
from fer_ros.core.pipeline import SHIPPED_MODEL, ExpressionPipeline, PipelineConfig
from fer_ros.core.render import confidence_color, render
from fer_ros.core.types import FrameResult
from fer_ros.models.build import build_pipeline


@pytest.fixture(scope="module")
def pipeline() -> ExpressionPipeline:
    return build_pipeline(PipelineConfig(classifier_model=str(SHIPPED_MODEL)))


def test_astronaut_is_one_happy_face(pipeline: ExpressionPipeline, astronaut: np.ndarray) -> None:
    pipeline.reset()
    result = pipeline.process(astronaut, 0.0)
    assert result.image_size == (512, 512)
    assert result.labels == pipeline.labels and "contempt" in result.labels
    (face,) = result.faces
    assert face.expression == "happy"
    assert face.confidence > 0.5
    assert face.aligned_with_keypoints
    np.testing.assert_allclose(face.raw_scores.sum(), 1.0, atol=1e-4)
    np.testing.assert_allclose(face.scores, face.raw_scores, atol=1e-6)  # first sighting: nothing to smooth
    w, h = pipeline.classifier.input_size
    assert face.aligned_crop is not None and face.aligned_crop.shape[:2] == (h, w)
    assert set(result.timings_ms) >= {"detect", "align", "classify", "track", "total"}
    record = json.loads(json.dumps(result.to_dict()))
    assert record["faces"][0]["expression"] == "happy" and len(record["faces"][0]["keypoints"]) == 5


def test_face_id_is_stable_across_frames(pipeline: ExpressionPipeline, group: np.ndarray) -> None:
    pipeline.reset()
    first = pipeline.process(group, 0.0)
    assert len(first.faces) == 5
    assert len({f.face_id for f in first.faces}) == 5
    assert not any(f.track_confirmed for f in first.faces)
    by_place = {tuple(np.round(f.box[:2])): f.face_id for f in first.faces}
    for k in range(1, 6):
        again = pipeline.process(group, k / 30)
        assert {tuple(np.round(f.box[:2])): f.face_id for f in again.faces} == by_place
        assert all(f.track_confirmed for f in again.faces)
    # After a reset the same faces get new ids (never reused).
    pipeline.reset()
    fresh = pipeline.process(group, 10.0)
    assert not {f.face_id for f in fresh.faces} & set(by_place.values())


def test_smoothing_in_the_pipeline(pipeline: ExpressionPipeline, astronaut: np.ndarray) -> None:
    pipeline.reset()
    (first,) = pipeline.process(astronaut, 0.0).faces
    # The same face, blurred: this frame's raw scores differ, the smoothed ones move only part of the way.
    # (Strongly: the calibrated scores of this broad smile are saturated, a light blur moves them by 2e-4.)
    blurred = cv2.GaussianBlur(astronaut, (0, 0), 4.0)
    (second,) = pipeline.process(blurred, 0.05).faces
    assert second.face_id == first.face_id
    assert np.abs(second.raw_scores - first.raw_scores).max() > 1e-2
    alpha = pipeline.smoother.alpha(0.05)
    assert 0 < alpha < 1
    expected = first.raw_scores + alpha * (second.raw_scores - first.raw_scores)
    np.testing.assert_allclose(second.scores, expected, atol=1e-5)


@pytest.mark.parametrize("kind", ["gray", "gray_hw1", "bgra", "uint16", "float"])
def test_other_pixel_formats_give_the_same_faces(
    pipeline: ExpressionPipeline, astronaut: np.ndarray, group: np.ndarray, kind: str
) -> None:
    for image, count in ((astronaut, 1), (group, 5)):
        converted = {
            "gray": lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY),
            "gray_hw1": lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2GRAY)[:, :, None],
            "bgra": lambda im: cv2.cvtColor(im, cv2.COLOR_BGR2BGRA),
            "uint16": lambda im: im.astype(np.uint16) * 257,
            "float": lambda im: im.astype(np.float32) / 255.0,
        }[kind](image)
        pipeline.reset()
        reference = pipeline.process(image, 0.0)
        pipeline.reset()
        result = pipeline.process(converted, 0.0)
        assert len(result.faces) == count
        for a, b in zip(
            sorted(result.faces, key=lambda f: f.box[0]), sorted(reference.faces, key=lambda f: f.box[0]), strict=True
        ):
            # Gray frames lose colour cues: the detector's boxes move a little, nothing more.
            tolerance = 0.15 * b.box[2] if kind.startswith("gray") else 0.01
            np.testing.assert_allclose(a.box, b.box, atol=tolerance)
            if not kind.startswith("gray"):
                assert a.expression == b.expression
                np.testing.assert_allclose(a.raw_scores, b.raw_scores, atol=1e-4)


@pytest.mark.parametrize(
    "frame",
    [
        None,
        "a string",
        np.zeros((0, 0, 3), np.uint8),
        np.zeros((0, 640), np.uint8),
        np.zeros(100, np.uint8),
        np.zeros((20, 20, 5), np.uint8),
        np.zeros((20, 20, 2), np.uint8),
        np.zeros((20, 20, 3), np.int32),
        np.zeros((20, 20, 3), bool),
        np.zeros((2, 20, 20, 3), np.uint8),
    ],
    ids=["none", "str", "empty", "zero_rows", "1d", "5ch", "2ch", "int32", "bool", "4d"],
)
def test_malformed_frames_raise_invalid_image_error(pipeline: ExpressionPipeline, frame) -> None:
    with pytest.raises(InvalidImageError):
        pipeline.process(frame, 0.0)


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 1), (10, 4000, 3), (15, 15, 4)])
def test_tiny_frames_give_an_empty_result(pipeline: ExpressionPipeline, shape: tuple[int, ...]) -> None:
    result = pipeline.process(np.full(shape, 128, np.uint8), 0.0)
    assert isinstance(result, FrameResult) and result.faces == []
    assert result.image_size == (shape[1], shape[0])


def test_frames_without_a_face_give_an_empty_result(pipeline: ExpressionPipeline, shared_dir: Path) -> None:
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
    for frame in (np.zeros((480, 640, 3), np.uint8), np.full((480, 640, 3), 255, np.uint8), noise):
        assert pipeline.process(frame, 0.0).faces == []
    # Non-finite floats are not a crash either.
    nan_frame = np.full((64, 64, 3), np.nan, np.float32)
    assert pipeline.process(nan_frame, 0.0).faces == []


def test_face_partly_outside_and_huge_frame(pipeline: ExpressionPipeline, astronaut: np.ndarray, group) -> None:
    pipeline.reset()
    cut = np.ascontiguousarray(astronaut[100:, 210:])  # the top-left quarter of the face is outside
    (face,) = pipeline.process(cut, 0.0).faces
    assert np.all(np.isfinite(face.raw_scores)) and face.raw_scores.sum() == pytest.approx(1.0, abs=1e-4)
    huge = cv2.resize(group, (6000, 4000), interpolation=cv2.INTER_LINEAR)
    pipeline.reset()
    result = pipeline.process(huge, 0.0)
    assert len(result.faces) == 5 and result.image_size == (6000, 4000)
    assert all(f.box[2] > 300 for f in result.faces), "boxes in source pixels"


def test_process_from_several_threads(pipeline: ExpressionPipeline, group: np.ndarray) -> None:
    pipeline.reset()
    counts: list[int] = []
    errors: list[BaseException] = []

    def work(offset: float) -> None:
        try:
            for k in range(5):
                counts.append(len(pipeline.process(group, offset + k).faces))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(100.0 * i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and counts == [5] * 15


def test_config_from_dict() -> None:
    config = PipelineConfig.from_dict({"max_faces": 3, "detector_input_long_side": 480})
    assert config.max_faces == 3 and PipelineConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown pipeline settings: bogus"):
        PipelineConfig.from_dict({"bogus": 1})


def test_max_faces_and_no_crops_config(group: np.ndarray) -> None:
    small = build_pipeline(PipelineConfig(max_faces=2, keep_crops=False))
    result = small.process(group, 0.0)
    assert len(result.faces) == 2 and all(f.aligned_crop is None for f in result.faces)


def test_render_draws_on_a_copy(pipeline: ExpressionPipeline, astronaut: np.ndarray, group: np.ndarray) -> None:
    for image in (astronaut, group, np.ascontiguousarray(astronaut[:120, :90])):
        pipeline.reset()
        result = pipeline.process(image, 0.0)
        before = image.copy()
        out = render(image, result)
        assert out.shape == image.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(image, before)  # the input is untouched
        if result.faces:
            changed = np.any(out != image, axis=2)
            assert changed.mean() > 0.01
            x, y, w, h = (int(v) for v in result.faces[0].box)
            assert changed[y : y + h, x].any(), "the box outline is drawn"
    empty = pipeline.process(np.zeros((100, 100, 3), np.uint8), 0.0)
    np.testing.assert_array_equal(render(np.zeros((100, 100, 3), np.uint8), empty), 0)
    plain = render(group, pipeline.process(group, 1.0), show_bars=False, show_thumbnails=False, show_keypoints=False)
    assert plain.shape == group.shape


def test_confidence_colour_goes_red_to_green() -> None:
    assert confidence_color(0.0) == (0, 0, 255)
    assert confidence_color(0.5) == (0, 255, 255)
    assert confidence_color(1.0) == (0, 255, 0)
    assert confidence_color(7.0) == (0, 255, 0) and confidence_color(-1.0) == (0, 0, 255)
