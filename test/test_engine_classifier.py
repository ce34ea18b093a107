"""ExpressionClassifier: batching, probabilities, metadata from ONNX or sidecar, preprocessing, clear errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from fer_ros.core.aligner import FER2013_TEMPLATE, SimilarityAligner
from fer_ros.core.classifier import ExpressionClassifier, softmax
from fer_ros.core.detector import YuNetDetector
from fer_ros.core.errors import ModelMetadataError, ModelNotFoundError
from fer_ros.core.image_io import read_image
from fer_ros.core.labels import FER2013_LABELS, FERPLUS_LABELS
from fer_ros.core.model_metadata import SIDECAR_DIR, ModelMetadata, load_model_metadata
from fer_ros.core.pipeline import PEER_MODEL_NAME, SHIPPED_MODEL
from fer_ros.models.registry import resolve_model

LABELS3 = ["happy", "sad", "angry"]


def _tiny_model(
    path: Path,
    layout: str = "NCHW",
    color: str = "gray",
    size: tuple[int, int] = (10, 8),
    metadata: dict[str, str] | None = None,
    seed: int = 0,
) -> np.ndarray:
    """A linear ONNX classifier (flatten -> matmul -> 3 logits); returns its weight matrix."""
    width, height = size
    channels = 1 if color == "gray" else 3
    shape = [None, channels, height, width] if layout == "NCHW" else [None, height, width, channels]
    weights = np.random.default_rng(seed).normal(0, 0.05, (channels * height * width, 3)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["input"], ["flat"], axis=1), helper.make_node("MatMul", ["flat", "w"], ["out"])],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N"] + shape[1:])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(weights, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    return weights


def _metadata(layout: str, color: str, size=(10, 8), output: str = "logits", mean=None, std=None) -> dict[str, str]:
    channels = 1 if color == "gray" else 3
    return {
        "fer_ros.task": "expression",
        "fer_ros.labels": json.dumps(LABELS3),
        "fer_ros.input_size": json.dumps(list(size)),
        "fer_ros.layout": layout,
        "fer_ros.color": color,
        "fer_ros.mean": json.dumps(mean or [0.5] * channels),
        "fer_ros.std": json.dumps(std or [0.25] * channels),
        "fer_ros.output": output,
        "fer_ros.align_template": json.dumps(FER2013_TEMPLATE.tolist()),
    }


@pytest.fixture(scope="module")
def shipped() -> ExpressionClassifier:
    return ExpressionClassifier(SHIPPED_MODEL)


@pytest.fixture(scope="module")
def peer() -> ExpressionClassifier:
    return ExpressionClassifier(resolve_model(PEER_MODEL_NAME))


@pytest.fixture(scope="module")
def group_faces(shared_dir: Path):
    image = read_image(shared_dir / "media" / "pyfeat" / "multi_face.jpg")
    faces = YuNetDetector(resolve_model("yunet_n_dynamic")).detect(image)
    assert len(faces) == 5
    return image, faces


def test_both_models_load_with_their_metadata(shipped: ExpressionClassifier, peer: ExpressionClassifier) -> None:
    assert shipped.labels == FERPLUS_LABELS
    assert shipped.metadata.source.endswith("(ONNX metadata)")
    assert peer.labels == FER2013_LABELS
    assert peer.input_size == (64, 64) and peer.metadata.layout == "NHWC" and peer.metadata.color == "gray"
    assert Path(peer.metadata.source) == SIDECAR_DIR / f"{PEER_MODEL_NAME}.json"


@pytest.mark.parametrize("which", ["shipped", "peer"])
def test_batch_equals_single_and_probabilities_sum_to_one(which: str, shipped, peer, group_faces) -> None:
    classifier = shipped if which == "shipped" else peer
    image, faces = group_faces
    crops, used = SimilarityAligner.from_metadata(classifier.metadata).align_many(image, faces)
    assert all(used)
    crops = crops.copy()
    batch = classifier.predict(crops)
    assert batch.shape == (5, len(classifier.labels))
    singles = np.concatenate([classifier.predict(crops[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(batch, singles, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(batch.sum(axis=1), 1.0, atol=1e-4)
    assert np.all(batch >= 0) and np.all(batch <= 1)
    # compared as log-probabilities: calibrated scores of clear expressions saturate near 1 in linear terms
    assert len({tuple(np.round(np.log(row), 3)) for row in batch}) == 5, "different faces, different scores"
    # The group photo: five smiling young people.
    assert sum(classifier.labels[k] == "happy" for k in batch.argmax(axis=1)) >= 4
    assert classifier.predict(crops[:0]).shape == (0, len(classifier.labels))
    with pytest.raises(ValueError, match="the model needs"):
        classifier.predict(np.zeros((1, 10, 10), np.uint8))


def test_tta_flip_averages_with_the_mirror_image(shipped, group_faces) -> None:
    image, faces = group_faces
    crops, _ = SimilarityAligner.from_metadata(shipped.metadata).align_many(image, faces)
    crops = crops.copy()
    flipped = ExpressionClassifier(SHIPPED_MODEL, tta_flip=True)
    expected = 0.5 * (shipped.predict(crops) + shipped.predict(np.ascontiguousarray(crops[:, :, ::-1])))
    np.testing.assert_allclose(flipped.predict(crops), expected, atol=1e-5)


@pytest.mark.parametrize(("layout", "color"), [("NCHW", "gray"), ("NHWC", "gray"), ("NCHW", "bgr"), ("NHWC", "rgb")])
def test_preprocessing_follows_metadata(tmp_path: Path, layout: str, color: str) -> None:
    channels = 1 if color == "gray" else 3
    mean = [0.5] if channels == 1 else [0.4, 0.5, 0.6]
    std = [0.25] if channels == 1 else [0.2, 0.25, 0.3]
    path = tmp_path / "tiny.onnx"
    weights = _tiny_model(path, layout, color, metadata=_metadata(layout, color, mean=mean, std=std))
    classifier = ExpressionClassifier(path)
    assert classifier.labels == tuple(LABELS3) and classifier.input_size == (10, 8)
    rng = np.random.default_rng(3)
    crops = rng.integers(0, 256, (4, 8, 10) + ((3,) if channels == 3 else ()), dtype=np.uint8)
    x = (crops.reshape(4, 8, 10, channels) / 255.0 - np.array(mean)) / np.array(std)
    if layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    expected = softmax((x.reshape(4, -1) @ weights).astype(np.float64))
    np.testing.assert_allclose(classifier.predict(crops), expected, atol=1e-5)


def test_probabilities_output_is_not_softmaxed_again(tmp_path: Path) -> None:
    path = tmp_path / "probs.onnx"
    weights = _tiny_model(path, metadata=_metadata("NCHW", "gray", output="probabilities"))
    crops = np.full((2, 8, 10), 200, np.uint8)
    x = ((crops / 255.0 - 0.5) / 0.25).reshape(2, -1)
    np.testing.assert_allclose(ExpressionClassifier(path).predict(crops), x @ weights, atol=1e-5)


def test_model_without_metadata_or_sidecar_is_a_clear_error(tmp_path: Path) -> None:
    bare = tmp_path / "no_metadata.onnx"
    _tiny_model(bare)
    with pytest.raises(ModelMetadataError, match="no fer_ros.\\* metadata.*sidecar"):
        ExpressionClassifier(bare)
    # The peer's weights under another name: its shipped sidecar no longer applies.
    renamed = tmp_path / "mystery_model.onnx"
    shutil.copy(resolve_model(PEER_MODEL_NAME), renamed)
    with pytest.raises(ModelMetadataError, match="mystery_model.onnx.json"):
        ExpressionClassifier(renamed)


def test_sidecar_next_to_the_model_is_honoured(tmp_path: Path, peer: ExpressionClassifier, group_faces) -> None:
    shipped_sidecar = json.loads((SIDECAR_DIR / f"{PEER_MODEL_NAME}.json").read_text())
    renamed = tmp_path / "mystery_model.onnx"
    shutil.copy(resolve_model(PEER_MODEL_NAME), renamed)
    sidecar = dict(shipped_sidecar)
    sidecar["fer_ros.labels"] = list(reversed(shipped_sidecar["fer_ros.labels"]))
    sidecar["fer_ros.crop_scale"] = "1.25"
    (tmp_path / "mystery_model.onnx.json").write_text(json.dumps(sidecar))
    classifier = ExpressionClassifier(renamed)
    assert classifier.labels == tuple(reversed(FER2013_LABELS))
    assert classifier.metadata.crop_scale == 1.25
    assert classifier.metadata.source == str(tmp_path / "mystery_model.onnx.json")
    image, faces = group_faces
    crops, _ = SimilarityAligner.from_metadata(peer.metadata).align_many(image, faces)
    np.testing.assert_allclose(classifier.predict(crops.copy()), peer.predict(crops.copy()), atol=1e-6)
    # Next to the file wins over the package's sidecar for the same model name.
    same_name = tmp_path / f"{PEER_MODEL_NAME}.onnx"
    shutil.copy(resolve_model(PEER_MODEL_NAME), same_name)
    (tmp_path / f"{PEER_MODEL_NAME}.onnx.json").write_text(json.dumps(sidecar))
    assert load_model_metadata(same_name).crop_scale == 1.25


def test_metadata_that_contradicts_the_model_is_rejected(tmp_path: Path) -> None:
    wrong_size = tmp_path / "wrong_size.onnx"
    _tiny_model(wrong_size, metadata=_metadata("NCHW", "gray", size=(16, 16)))
    with pytest.raises(ModelMetadataError, match="metadata says input"):
        ExpressionClassifier(wrong_size)
    wrong_labels = tmp_path / "wrong_labels.onnx"
    meta = _metadata("NCHW", "gray")
    meta["fer_ros.labels"] = json.dumps(["happy", "sad"])
    _tiny_model(wrong_labels, metadata=meta)
    with pytest.raises(ModelMetadataError, match="labels"):
        ExpressionClassifier(wrong_labels)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("fer_ros.task", "Faces!", "task"),  # any lower-case task name is valid (keyed by task)
        ("fer_ros.labels", '["happy", "happy", "sad"]', "distinct"),
        ("fer_ros.labels", '["happy", "bored", "sad"]', "labels"),
        ("fer_ros.layout", "CHW", "layout"),
        ("fer_ros.color", "yuv", "color"),
        ("fer_ros.std", "[0.0]", "std"),
        ("fer_ros.output", "scores", "output"),
        ("fer_ros.align_template", "[[0.3, 0.4]]", "align_template"),
        ("fer_ros.input_size", "[8]", "input_size"),
        ("fer_ros.crop_scale", "9", "crop_scale"),
        ("fer_ros.mean", "not json", "mean"),
        ("fer_ros.labels", "[happy", "JSON"),
    ],
)
def test_invalid_metadata_names_the_key(key: str, value: str, message: str) -> None:
    props = _metadata("NCHW", "gray")
    props[key] = value
    with pytest.raises(ModelMetadataError, match=message):
        ModelMetadata.from_props(props, "test")


def test_metadata_round_trips_through_props(shipped: ExpressionClassifier) -> None:
    again = ModelMetadata.from_props(shipped.metadata.to_props())
    assert again.labels == shipped.metadata.labels and again.input_size == shipped.metadata.input_size
    np.testing.assert_allclose(again.align_template, shipped.metadata.align_template, atol=1e-4)


def test_missing_or_corrupt_model_file(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        ExpressionClassifier(tmp_path / "nope.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(SHIPPED_MODEL.read_bytes()[:1000])
    with pytest.raises(Exception) as info:
        ExpressionClassifier(corrupt)
    from fer_ros.core.errors import FerRosError

    assert isinstance(info.value, FerRosError) and "cannot load ONNX model" in str(info.value)
