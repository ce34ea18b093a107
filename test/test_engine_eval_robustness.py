"""Evaluation additions of model v2: calibration figures, the FER+ plurality protocol, camera perturbations."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.labels import FERPLUS_LABELS
from fer_ros.core.pipeline import SHIPPED_MODEL
from fer_ros.evaluation.datasets import DatasetError, ferplus_plurality
from fer_ros.evaluation.evaluate import evaluate_npz
from fer_ros.evaluation.metrics import calibration_report
from fer_ros.evaluation.perturbations import (
    DegradeConfig,
    Perturbation,
    parse_perturbations,
    perturbed_sets,
    random_degrade,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def fer_ros_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, TQDM_DISABLE="1")
    command = [sys.executable, "-m", "fer_ros.cli.main", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120, env=env)


def test_calibration_report_by_hand() -> None:
    # 10 predictions at confidence 0.95 of which 9 right, 10 at 0.55 of which 5 right
    confidence = np.array([0.95] * 10 + [0.55] * 10)
    correct = np.array([True] * 9 + [False] + [True] * 5 + [False] * 5)
    report = calibration_report(confidence, correct)
    assert report["bins"] == 15 and report["n"] == 20
    assert report["ece"] == pytest.approx(0.5 * 0.05 + 0.5 * 0.05)
    assert report["mean_confidence"] == pytest.approx(0.75) and report["accuracy"] == pytest.approx(0.7)
    assert report["selective"]["0.5"] == {"coverage": 1.0, "accuracy": pytest.approx(0.7)}
    assert report["selective"]["0.8"] == {"coverage": 0.5, "accuracy": pytest.approx(0.9)}
    assert report["selective"]["0.9"]["coverage"] == 0.5
    perfect = calibration_report(np.array([1.0, 1.0, 0.0]), np.array([True, True, False]))
    assert perfect["ece"] == pytest.approx(0.0)
    assert perfect["selective"]["0.9"]["coverage"] == pytest.approx(2 / 3)
    under = calibration_report(np.full(100, 0.6), np.ones(100, bool))  # right every time at 0.6: 0.4 too shy
    assert under["ece"] == pytest.approx(0.4)
    with pytest.raises(ValueError):
        calibration_report(np.ones(3), np.ones(2, bool))


def test_ferplus_plurality_protocol() -> None:
    rows = np.array(
        [
            [6, 2, 1, 0, 1, 0, 0, 0, 0, 0],  # neutral on top
            [4, 0, 0, 0, 1, 0, 0, 4, 1, 0],  # tie neutral/contempt: both count (no majority here)
            [0, 2, 0, 0, 0, 0, 0, 0, 8, 0],  # unknown on top -> left out
            [0, 3, 0, 0, 0, 0, 0, 0, 3, 0],  # tie happy/unknown: happy counts
            [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],  # every vote an outlier -> left out
            [0, 0, 0, 3, 2, 2, 0, 0, 0, 0],  # sad
        ]
    )
    keep, top = ferplus_plurality(rows)
    assert keep.tolist() == [True, True, False, True, False, True]
    assert top.shape == (6, 8)
    assert [list(np.flatnonzero(t)) for t in top[keep]] == [[0], [0, 7], [1], [3]]
    with pytest.raises(DatasetError):
        ferplus_plurality(np.zeros((2, 8)))


@pytest.fixture(scope="module")
def crops(shared_dir: Path) -> np.ndarray:
    return np.load(shared_dir / "data" / "ferplus_valid.npz")["images"][:64]


def test_perturbations_are_named_seeded_and_do_what_they_say(crops: np.ndarray) -> None:
    parsed = parse_perturbations("noise10,jpeg20,blur1,down24,bright1.6")
    assert [p.name for p in parsed] == ["noise10", "jpeg20", "blur1", "down24", "bright1.6"]
    first = dict((p.name, x) for p, x in perturbed_sets(crops, parsed, seed=3))
    again = dict((p.name, x) for p, x in perturbed_sets(crops, parsed, seed=3))
    other = dict((p.name, x) for p, x in perturbed_sets(crops, parsed, seed=4))
    for name, degraded in first.items():
        assert degraded.shape == crops.shape and degraded.dtype == np.uint8, name
        assert not np.array_equal(degraded, crops), name
        np.testing.assert_array_equal(degraded, again[name])
    assert not np.array_equal(first["noise10"], other["noise10"])
    np.testing.assert_array_equal(first["jpeg20"], other["jpeg20"])  # only noise draws from the generator

    residual = first["noise10"].astype(float) - crops
    unclipped = (crops > 40) & (crops < 215)
    assert residual[unclipped].std() == pytest.approx(10, abs=0.5)
    expected = cv2.GaussianBlur(crops[0], (0, 0), 1.0)
    np.testing.assert_array_equal(first["blur1"][0], expected)
    sharpness = [float(np.abs(np.diff(x.astype(float), axis=2)).mean()) for x in (crops, first["down24"])]
    assert sharpness[1] < 0.8 * sharpness[0]
    assert first["bright1.6"].mean() > 1.3 * crops.mean()
    jpeg = cv2.imdecode(cv2.imencode(".jpg", crops[5], [cv2.IMWRITE_JPEG_QUALITY, 20])[1], cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(first["jpeg20"][5], jpeg)
    colour = Perturbation("jpeg", 50).apply(np.repeat(crops[:2, :, :, None], 3, axis=3), np.random.default_rng(0))
    assert colour.shape == (2, 48, 48, 3)


@pytest.mark.parametrize("text", ["noise", "fog3", "jpeg200", "noise10,,blur", "", "bright-1"])
def test_bad_perturbation_names_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_perturbations(text)


def test_random_degradation_for_training(crops: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    degraded = random_degrade(crops, DegradeConfig(), rng)
    assert degraded.shape == crops.shape and degraded.dtype == np.uint8
    changed = np.array([not np.array_equal(a, b) for a, b in zip(degraded, crops, strict=True)])
    assert 0.4 < changed.mean() < 1.0  # most crops get something, some stay clean
    off = DegradeConfig(noise_prob=0, jpeg_prob=0, blur_prob=0, down_prob=0, light_prob=0)
    np.testing.assert_array_equal(random_degrade(crops, off, rng), crops)
    np.testing.assert_array_equal(
        random_degrade(crops, DegradeConfig(), np.random.default_rng(5)),
        random_degrade(crops, DegradeConfig(), np.random.default_rng(5)),
    )


def test_evaluate_npz_reports_calibration_plurality_and_perturbations(shared_dir: Path) -> None:
    classifier = ExpressionClassifier(SHIPPED_MODEL)
    valid = shared_dir / "data" / "ferplus_valid.npz"
    perturbations = parse_perturbations("noise10,blur1")
    report = evaluate_npz(classifier, valid, limit=400, progress=False, perturbations=perturbations)
    cal = report["calibration"]
    assert cal["n"] == report["n"] == 400 and cal["accuracy"] == pytest.approx(report["accuracy"])
    assert 0 <= cal["ece"] < 0.5 and set(cal["selective"]) == {"0.5", "0.8", "0.9"}
    coverage = [cal["selective"][t]["coverage"] for t in ("0.5", "0.8", "0.9")]
    assert coverage == sorted(coverage, reverse=True)
    plurality = report["plurality"]
    assert plurality["n"] == 400 and report["accuracy"] - 0.1 < plurality["accuracy"] <= 1.0
    for name in ("noise10", "blur1"):
        result = report["perturbations"][name]
        assert result["drop"] == pytest.approx(report["accuracy"] - result["accuracy"])
        assert sum(result["predicted_share"].values()) == pytest.approx(1.0)
        assert set(result["predicted_share"]) == set(FERPLUS_LABELS)
    again = evaluate_npz(classifier, valid, limit=400, progress=False, perturbations=perturbations)
    assert again["perturbations"] == report["perturbations"]  # fixed seed


def test_plurality_on_the_full_valid_set_is_above_majority_coverage(shared_dir: Path) -> None:
    votes = np.load(shared_dir / "data" / "ferplus_valid.npz")["votes"]
    keep, top = ferplus_plurality(votes)
    assert keep.sum() > 3191  # every majority image, plus the ones with a plurality but no majority
    assert (top[keep].sum(axis=1) >= 1).all()


def test_cli_eval_perturb(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    valid = str(shared_dir / "data" / "ferplus_valid.npz")
    proc = fer_ros_cli("eval", "--data", valid, "--limit", "300", "--perturb", "--json", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert list(report["perturbations"]) == ["noise10", "jpeg20", "blur1", "down24", "bright1.6"]
    assert "calibration: ECE" in proc.stdout and "FER+ plurality agreement" in proc.stdout
    assert "perturbed jpeg20" in proc.stdout
    bad = fer_ros_cli("eval", "--data", valid, "--perturb", "fog3", cwd=tmp_path)
    assert bad.returncode == 2 and "fog3" in bad.stdout and "Traceback" not in bad.stderr
