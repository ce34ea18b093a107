"""The shipped default model: present, self-describing, better than the peer on real labelled faces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.labels import FER2013_LABELS, FERPLUS_LABELS, canonical_label
from fer_ros.core.onnx_session import create_session
from fer_ros.core.pipeline import (
    PEER_MODEL_NAME,
    SHIPPED_FLOAT_MODEL,
    SHIPPED_MODEL,
    PipelineConfig,
    default_classifier_model,
)
from fer_ros.evaluation.evaluate import evaluate_npz
from fer_ros.models.build import build_pipeline
from fer_ros.models.registry import resolve_model, sha256_of

REQUIRED_KEYS = (
    "fer_ros.task",
    "fer_ros.name",
    "fer_ros.version",
    "fer_ros.labels",
    "fer_ros.input_size",
    "fer_ros.layout",
    "fer_ros.color",
    "fer_ros.mean",
    "fer_ros.std",
    "fer_ros.output",
    "fer_ros.align_template",
    "fer_ros.crop_scale",
    "fer_ros.license",
    "fer_ros.training_data",
    "fer_ros.recipe",
    "fer_ros.git_commit",
)


@pytest.fixture(scope="module")
def shipped() -> ExpressionClassifier:
    return ExpressionClassifier(SHIPPED_MODEL)


def _metadata(path: Path) -> dict[str, str]:
    return create_session(path).get_modelmeta().custom_metadata_map


def test_shipped_model_is_the_default_and_small() -> None:
    assert SHIPPED_MODEL.is_file() and SHIPPED_FLOAT_MODEL.is_file()
    assert default_classifier_model() == str(SHIPPED_MODEL)
    assert SHIPPED_MODEL.stat().st_size <= 5 * 1024 * 1024
    assert SHIPPED_FLOAT_MODEL.stat().st_size <= 5 * 1024 * 1024


@pytest.mark.parametrize("path", [SHIPPED_MODEL, SHIPPED_FLOAT_MODEL], ids=["int8", "float"])
def test_metadata_is_complete(path: Path) -> None:
    props = _metadata(path)
    missing = [key for key in REQUIRED_KEYS if not props.get(key)]
    assert not missing
    shipped = ExpressionClassifier(path)
    assert shipped.labels == FERPLUS_LABELS
    assert shipped.input_size == (48, 48)
    template = np.asarray(json.loads(props["fer_ros.align_template"]))
    assert template.shape == (5, 2) and (template > 0).all() and (template < 1).all()
    assert template[0, 0] < template[1, 0] and template[3, 0] < template[4, 0]  # image-left first
    assert template[:2, 1].max() < template[2, 1] < template[3:, 1].min()  # eyes above nose above mouth


def test_int8_default_is_the_quantized_float_model_within_half_a_point(shared_dir: Path) -> None:
    quantization = json.loads(_metadata(SHIPPED_MODEL)["fer_ros.quantization"])
    assert quantization["source_sha256"] == sha256_of(SHIPPED_FLOAT_MODEL), "re-run `fer-ros train quantize`"
    valid = shared_dir / "data" / "ferplus_valid.npz"
    int8 = evaluate_npz(ExpressionClassifier(SHIPPED_MODEL), valid, progress=False)
    float_ = evaluate_npz(ExpressionClassifier(SHIPPED_FLOAT_MODEL), valid, progress=False)
    print(f"FER+ Valid accuracy: float {float_['accuracy']:.4f}, int8 {int8['accuracy']:.4f}")
    assert float_["accuracy"] - int8["accuracy"] <= 0.005
    assert int8["n"] == float_["n"]


def test_dev_accuracy_on_a_ferplus_valid_slice(shipped: ExpressionClassifier, shared_dir: Path) -> None:
    report = evaluate_npz(shipped, shared_dir / "data" / "ferplus_valid.npz", limit=800, progress=False)
    assert report["accuracy"] > 0.80, report["accuracy"]


def _correct_on_ros4hri(model: str, media: Path) -> int:
    pipeline = build_pipeline(PipelineConfig(classifier_model=model))
    correct = 0
    with open(media / "image_labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            pipeline.reset()
            result = pipeline.process(cv2.imread(str(media / row["image_filename"])), 0.0)
            assert result.faces, row["image_filename"]
            face = max(result.faces, key=lambda face: face.box[2] * face.box[3])
            correct += face.expression == canonical_label(row["emotion"])
    return correct


def test_labelled_real_faces_at_least_as_well_as_the_peer(shared_dir: Path) -> None:
    media = shared_dir / "media" / "ros4hri"
    ours = _correct_on_ros4hri(str(SHIPPED_MODEL), media)
    peer = _correct_on_ros4hri("fer_mini_xception_64", media)
    print(f"ros4hri labelled faces correct: fer_ros {ours}/9, peer {peer}/9")
    assert ours >= peer


FER2013_MODELS = {"float": "fer_ros_fer2013", "int8": "fer_ros_fer2013_int8"}


@pytest.fixture(scope="module")
def peer_on_fer2013_publictest(shared_dir: Path) -> dict:
    peer = ExpressionClassifier(resolve_model(PEER_MODEL_NAME))
    return evaluate_npz(peer, shared_dir / "data" / "fer2013_publictest.npz", progress=False)


@pytest.mark.parametrize("variant", sorted(FER2013_MODELS))
def test_fer2013_protocol_model_beats_the_peer_on_fer2013_publictest(
    variant: str, shared_dir: Path, peer_on_fer2013_publictest: dict
) -> None:
    path = resolve_model(FER2013_MODELS[variant])
    assert path.stat().st_size <= 5 * 1024 * 1024
    model = ExpressionClassifier(path)
    assert model.labels == FER2013_LABELS and model.tta_flip
    props = _metadata(path)
    assert not [key for key in REQUIRED_KEYS if not props.get(key)]
    assert "fer2013_train" in props["fer_ros.training_data"]
    if variant == "int8":
        source = json.loads(props["fer_ros.quantization"])["source_sha256"]
        assert source == sha256_of(resolve_model(FER2013_MODELS["float"])), "re-run `fer-ros train quantize`"
    ours = evaluate_npz(model, shared_dir / "data" / "fer2013_publictest.npz", progress=False)
    peer = peer_on_fer2013_publictest
    print(f"FER2013 PublicTest accuracy: {path.stem} {ours['accuracy']:.4f}, peer {peer['accuracy']:.4f}")
    assert ours["n"] == peer["n"] == 3589
    assert ours["accuracy"] > peer["accuracy"]


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("fer_ros_ferplus_int8", "ferplus_valid.npz"),
        ("fer_ros_ferplus", "ferplus_valid.npz"),
        ("fer_ros_fer2013_int8", "fer2013_publictest.npz"),
    ],
)
def test_shipped_scores_are_calibrated_probabilities(name: str, data: str, shared_dir: Path) -> None:
    """Each shipped model carries the temperature fitted on its dev set; its scores then mean what they say."""
    path = resolve_model(name)
    props = _metadata(path)
    temperature = float(props["fer_ros.temperature"])
    recorded = json.loads(props["fer_ros.calibration"])
    assert recorded["temperature"] == pytest.approx(temperature) and data in recorded["data"]
    model = ExpressionClassifier(path)
    assert model.metadata.temperature == pytest.approx(temperature)
    report = evaluate_npz(model, shared_dir / "data" / data, progress=False)
    calibration = report["calibration"]
    print(f"{name} on {data}: T {temperature}, ECE {calibration['ece']:.4f}")
    assert calibration["ece"] <= 0.03
    assert calibration["ece"] == pytest.approx(recorded["calibrated"]["ece"], abs=2e-3)
    assert abs(calibration["mean_confidence"] - calibration["accuracy"]) < 0.02
