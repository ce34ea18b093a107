"""Evaluation harness: the peer's published FER2013 accuracy, the FER+ majority protocol, image-folder eval."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.labels import FER2013_LABELS, FERPLUS_LABELS
from fer_ros.core.pipeline import PEER_MODEL_NAME, SHIPPED_MODEL, PipelineConfig
from fer_ros.evaluation.datasets import DatasetError, ferplus_majority, list_image_folder, load_npz
from fer_ros.evaluation.evaluate import evaluate_folder, evaluate_npz
from fer_ros.evaluation.metrics import classification_report, confusion_text
from fer_ros.models.build import build_pipeline
from fer_ros.models.registry import resolve_model

REPO_ROOT = Path(__file__).resolve().parent.parent
PEER_PUBLISHED_ACCURACY = 0.652


def fer_ros_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fer_ros.cli.main", *args],
        cwd=cwd or REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ, TQDM_DISABLE="1"),
    )


def test_cli_eval_reproduces_the_peer_accuracy_on_fer2013(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "peer" / "report.json"
    proc = fer_ros_cli(
        "eval",
        "--data",
        str(shared_dir / "data" / "fer2013_publictest.npz"),
        "--model",
        PEER_MODEL_NAME,
        "--json",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    for key in ("accuracy", "macro_recall", "macro_f1", "n", "per_class_recall", "confusion_matrix", "left_out"):
        assert key in report
    assert report["n"] == 3589 and report["left_out"] == 0
    assert report["accuracy"] == pytest.approx(PEER_PUBLISHED_ACCURACY, abs=0.005)
    assert set(report["per_class_recall"]) == set(FER2013_LABELS)
    counts = np.array(report["confusion_matrix"]["counts"])
    assert counts.sum() == 3589 and np.trace(counts) / 3589 == pytest.approx(report["accuracy"])
    assert 0.5 < report["macro_f1"] < report["accuracy"]
    png = cv2.imread(report["confusion_png"])
    assert png is not None and png.shape[0] > 300
    assert "accuracy 0.65" in proc.stdout and "true \\ predicted" in proc.stdout


def test_ferplus_majority_protocol() -> None:
    rows = np.array(
        [
            [6, 2, 1, 0, 1, 0, 0, 0, 0, 0],  # clear neutral
            [3, 1, 1, 1, 1, 1, 1, 1, 0, 0],  # 3 of 10 raw votes, but the single votes are outliers -> neutral
            [4, 0, 0, 0, 1, 0, 0, 4, 1, 0],  # tie neutral/contempt -> none
            [0, 5, 5, 0, 0, 0, 0, 0, 0, 0],  # tie -> none
            [0, 3, 0, 0, 0, 0, 0, 0, 2, 0],  # happy 3 of 5 (unknown votes count in the total)
            [0, 2, 0, 0, 0, 0, 0, 0, 8, 0],  # unknown majority -> none
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face -> none
            [0, 0, 0, 0, 0, 0, 0, 6, 2, 2],  # contempt 6 of 10
            [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # every vote is an outlier -> none
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],  # no votes -> none
            [0, 0, 2, 0, 0, 0, 0, 0, 0, 0],  # surprise
            [0, 0, 0, 3, 2, 0, 0, 0, 0, 0],  # sadness 3 of 5
            [0, 0, 0, 0, 0, 0, 4, 0, 0, 4],  # tie with NF -> none
        ]
    )
    assert ferplus_majority(rows).tolist() == [0, 0, -1, -1, 1, -1, -1, 7, -1, -1, 2, 3, -1]
    assert [FERPLUS_LABELS[i] for i in (0, 1, 2, 3, 7)] == ["neutral", "happy", "surprised", "sad", "contempt"]
    with pytest.raises(DatasetError):
        ferplus_majority(np.zeros((3, 8)))


def test_npz_loading_and_class_mapping(tmp_path: Path, shared_dir: Path) -> None:
    valid = np.load(shared_dir / "data" / "ferplus_valid.npz")
    images, votes = valid["images"][:400], valid["votes"][:400]
    path = tmp_path / "ferplus_small.npz"
    np.savez(path, images=images, votes=votes)
    data = load_npz(path)
    majority = ferplus_majority(votes)
    assert data.protocol == "ferplus_majority" and data.classes == FERPLUS_LABELS
    assert len(data.labels) == int((majority >= 0).sum()) == len(data.images)
    assert data.left_out["no_majority"] == int((majority < 0).sum())
    assert data.labels == [FERPLUS_LABELS[i] for i in majority[majority >= 0]]

    # A 7-class model on FER+ data: contempt images are left out and counted.
    peer = ExpressionClassifier(resolve_model(PEER_MODEL_NAME))
    report = evaluate_npz(peer, path, progress=False)
    contempt = data.labels.count("contempt")
    assert report["n"] == len(data.labels) - contempt
    reasons = report["left_out_reasons"]
    assert reasons.get("class_not_in_model:contempt", 0) == contempt
    assert report["left_out"] == contempt + data.left_out["no_majority"]

    # An 8-class model on FER2013 (7 classes): contempt predictions are a column of the matrix, and wrong.
    shipped = ExpressionClassifier(SHIPPED_MODEL)
    report = evaluate_npz(shipped, shared_dir / "data" / "fer2013_publictest.npz", limit=300, progress=False)
    cm = report["confusion_matrix"]
    assert cm["columns_predicted"] == list(FERPLUS_LABELS) and cm["rows_true"] == list(FER2013_LABELS)
    counts = np.array(cm["counts"])
    assert counts.sum() == report["n"] == 300
    diagonal = sum(counts[i, cm["columns_predicted"].index(label)] for i, label in enumerate(cm["rows_true"]))
    assert report["accuracy"] == pytest.approx(diagonal / 300)
    assert 0.4 < report["accuracy"] < 0.95

    with pytest.raises(DatasetError):
        load_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", pictures=images)
    with pytest.raises(DatasetError, match="expected arrays"):
        load_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "bad_labels.npz", images=images[:3], labels=np.array([0, 7, 1]))
    with pytest.raises(DatasetError, match="0..6"):
        load_npz(tmp_path / "bad_labels.npz")


def test_classification_report_by_hand() -> None:
    true = ["happy", "happy", "sad", "sad", "angry"]
    pred = ["happy", "contempt", "sad", "happy", "happy"]
    report = classification_report(true, pred, ("happy", "sad", "angry"), ("happy", "sad", "angry", "contempt"))
    assert report["n"] == 5 and report["accuracy"] == pytest.approx(2 / 5)
    assert report["per_class_recall"] == {"happy": 0.5, "sad": 0.5, "angry": 0.0}
    assert report["per_class_precision"]["happy"] == pytest.approx(1 / 3)
    assert report["macro_recall"] == pytest.approx(1 / 3)
    f1_happy = 2 * (1 / 3) * 0.5 / (1 / 3 + 0.5)
    assert report["macro_f1"] == pytest.approx((f1_happy + 2 / 3 + 0) / 3)
    assert report["confusion_matrix"]["counts"] == [[1, 0, 0, 1], [1, 1, 0, 0], [1, 0, 0, 0]]
    assert "contempt" in confusion_text(report)


@pytest.fixture()
def image_folder(tmp_path: Path, shared_dir: Path) -> Path:
    ros4hri = shared_dir / "media" / "ros4hri"
    layout = {
        "happy": ["image0000015.jpg", "user_happy.jpg"],
        "Surprise": ["image0003660.jpg", "user_surprised.jpg"],  # data-set spelling, mapped to "surprised"
        "angry": ["image0003626.jpg"],
    }
    root = tmp_path / "faces"
    for label, names in layout.items():
        (root / label).mkdir(parents=True)
        for name in names:
            shutil.copy(ros4hri / name, root / label / name)
    cv2.imwrite(str(root / "angry" / "blank.png"), np.full((240, 320, 3), 200, np.uint8))  # no face
    data = (ros4hri / "image0003669.jpg").read_bytes()
    (root / "sad").mkdir()
    (root / "sad" / "truncated.jpg").write_bytes(data[: len(data) // 2])  # unreadable
    (root / "happy" / "notes.txt").write_text("not an image")  # ignored: not an image suffix
    return root


def test_image_folder_eval_counts_faces_not_found(image_folder: Path) -> None:
    items, classes = list_image_folder(image_folder)
    assert sorted(classes) == ["angry", "happy", "sad", "surprised"] and len(items) == 7
    pipeline = build_pipeline(PipelineConfig(classifier_model=str(SHIPPED_MODEL), track_confirm_hits=1))
    report = evaluate_folder(pipeline, image_folder, progress=False)
    assert report["protocol"] == "image_folder"
    assert report["n"] == 5
    assert report["no_face"] == 1
    assert report["left_out_reasons"] == {"no_face": 1, "unreadable": 1}
    assert report["left_out"] == 2
    assert report["accuracy_counting_misses"] == pytest.approx(report["accuracy"] * 5 / 7)
    assert report["support"] == {"angry": 1, "happy": 2, "sad": 0, "surprised": 2}
    assert report["per_class_recall"]["happy"] == 1.0, "two broad smiles"
    assert report["accuracy"] >= 0.6


def test_image_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        list_image_folder(tmp_path / "missing")
    (tmp_path / "bored").mkdir()
    with pytest.raises(DatasetError, match="not an expression label"):
        list_image_folder(tmp_path)
    (tmp_path / "bored").rmdir()
    (tmp_path / "happy").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        list_image_folder(tmp_path)


def test_cli_eval_on_an_image_folder(image_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "folder.json"
    proc = fer_ros_cli("eval", "--data", str(image_folder), "--json", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["n"] == 5 and report["no_face"] == 1 and report["left_out"] == 2
    assert "no face found in 1 image(s)" in proc.stdout
    assert Path(report["confusion_png"]).is_file()
    bad = fer_ros_cli("eval", "--data", str(tmp_path / "nope.npz"), cwd=tmp_path)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "nope.npz" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
