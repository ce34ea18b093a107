"""The shipped default model: present, self-describing, better than the peer on real labelled faces."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.labels import FERPLUS_LABELS, canonical_label
from fer_ros.core.pipeline import SHIPPED_MODEL, ExpressionPipeline, PipelineConfig, default_classifier_model
from fer_ros.evaluation.evaluate import evaluate_npz

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


def test_shipped_model_is_the_default_and_small() -> None:
    assert SHIPPED_MODEL.is_file()
    assert default_classifier_model() == str(SHIPPED_MODEL)
    assert SHIPPED_MODEL.stat().st_size <= 5 * 1024 * 1024


def test_metadata_is_complete(shipped: ExpressionClassifier) -> None:
    import onnxruntime as ort

    props = ort.InferenceSession(str(SHIPPED_MODEL), providers=["CPUExecutionProvider"]).get_modelmeta()
    missing = [key for key in REQUIRED_KEYS if not props.custom_metadata_map.get(key)]
    assert not missing
    assert shipped.labels == FERPLUS_LABELS
    assert shipped.input_size == (48, 48)
    template = np.asarray(json.loads(props.custom_metadata_map["fer_ros.align_template"]))
    assert template.shape == (5, 2) and (template > 0).all() and (template < 1).all()
    assert template[0, 0] < template[1, 0] and template[3, 0] < template[4, 0]  # image-left first
    assert template[:2, 1].max() < template[2, 1] < template[3:, 1].min()  # eyes above nose above mouth


def test_dev_accuracy_on_a_ferplus_valid_slice(shipped: ExpressionClassifier, shared_dir: Path) -> None:
    report = evaluate_npz(shipped, shared_dir / "data" / "ferplus_valid.npz", limit=800, progress=False)
    assert report["accuracy"] > 0.80, report["accuracy"]


def _correct_on_ros4hri(model: str, media: Path) -> int:
    pipeline = ExpressionPipeline(PipelineConfig(classifier_model=model))
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
