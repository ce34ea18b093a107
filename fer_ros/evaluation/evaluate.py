"""Accuracy of an expression model on an npz of face crops or on a folder of full images."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.errors import ImageReadError
from fer_ros.core.image_io import read_image
from fer_ros.core.labels import FERPLUS_LABELS
from fer_ros.core.pipeline import ExpressionPipeline
from fer_ros.evaluation.datasets import LabelledCrops, list_image_folder, load_npz
from fer_ros.evaluation.metrics import calibration_report, classification_report
from fer_ros.evaluation.perturbations import Perturbation, perturbed_sets


def predict_crops(
    classifier: ExpressionClassifier, images: np.ndarray, batch_size: int = 256, progress: bool = False
) -> np.ndarray:
    """Probabilities (N, labels) for crops of any size, in batches."""
    out = [np.zeros((0, len(classifier.labels)), np.float32)]
    for s in tqdm(range(0, len(images), batch_size), desc="eval", unit="batch", disable=not progress or None):
        out.append(classifier.predict(classifier.to_model_crops(images[s : s + batch_size])))
    return np.concatenate(out)


def evaluate_npz(
    classifier: ExpressionClassifier,
    path: str | Path,
    batch_size: int = 256,
    limit: int | None = None,
    progress: bool = True,
    keep_predictions: bool = False,
    perturbations: list[Perturbation] | None = None,
    seed: int = 0,
) -> dict:
    """Classify the crops directly (resized to the model input); images whose class the model lacks are left out.

    The report has the classification figures, ``calibration`` (ECE over 15 bins, accuracy and coverage at
    confidence >= 0.5/0.8/0.9), for FER+ votes ``plurality`` (the FER+ plurality protocol beside the majority
    one), and with ``perturbations`` the accuracy on the same crops degraded by each (``seed`` fixes the noise).
    With ``keep_predictions`` the report also holds ``predictions``: the predicted label of each evaluated image.
    """
    start = time.perf_counter()
    data = load_npz(path)
    left_out = Counter(data.left_out)
    keep = [i for i, label in enumerate(data.labels) if label in classifier.labels]
    for label in data.labels:
        if label not in classifier.labels:
            left_out[f"class_not_in_model:{label}"] += 1
    if limit is not None:
        keep = keep[:limit]
    images = data.images[keep]
    true = [data.labels[i] for i in keep]
    classes = tuple(c for c in data.classes if c in classifier.labels)
    probs = predict_crops(classifier, images, batch_size, progress)
    predicted = [classifier.labels[k] for k in probs.argmax(axis=1)]
    report = classification_report(true, predicted, classes, classifier.labels)
    correct = np.array([p == t for p, t in zip(predicted, true, strict=True)], dtype=bool)
    report["calibration"] = calibration_report(probs.max(axis=1) if len(probs) else np.zeros(0), correct)
    if data.plurality_images is not None:
        report["plurality"] = _plurality(classifier, data, limit, batch_size)
    if perturbations:
        report["perturbations"] = {}
        for perturbation, degraded in perturbed_sets(images, perturbations, seed):
            degraded_pred = [classifier.labels[k] for k in predict_crops(classifier, degraded, batch_size).argmax(1)]
            result = classification_report(true, degraded_pred, classes, classifier.labels)
            report["perturbations"][perturbation.name] = {
                "accuracy": result["accuracy"],
                "drop": report["accuracy"] - result["accuracy"],
                "macro_recall": result["macro_recall"],
                "predicted_share": {
                    label: degraded_pred.count(label) / max(len(degraded_pred), 1) for label in classifier.labels
                },
            }
        report["perturbation_seed"] = seed
    report.update(
        protocol=data.protocol,
        left_out=int(sum(left_out.values())),
        left_out_reasons=dict(left_out),
        seconds=round(time.perf_counter() - start, 2),
    )
    if keep_predictions:
        report["predictions"] = predicted
    return report


def _plurality(classifier: ExpressionClassifier, data: LabelledCrops, limit: int | None, batch_size: int) -> dict:
    """FER+ plurality agreement: the prediction is one of the top-voted classes (images with an emotion on top)."""
    images, top = data.plurality_images, data.plurality_top
    columns = [FERPLUS_LABELS.index(label) if label in FERPLUS_LABELS else -1 for label in classifier.labels]
    model_has = np.array([FERPLUS_LABELS[c] in classifier.labels for c in range(len(FERPLUS_LABELS))])
    usable = (top & model_has).any(axis=1)  # e.g. a 7-class model cannot agree on contempt-only images
    images, top = images[usable], top[usable]
    if limit is not None:
        images, top = images[:limit], top[:limit]
    predicted = predict_crops(classifier, images, batch_size).argmax(axis=1)
    hit = np.array([columns[p] >= 0 and top[i, columns[p]] for i, p in enumerate(predicted)], dtype=bool)
    return {
        "n": int(len(images)),
        "accuracy": float(hit.mean()) if len(hit) else 0.0,
        "left_out_no_class_in_model": int((~usable).sum()),
    }


def evaluate_folder(
    pipeline: ExpressionPipeline, path: str | Path, limit: int | None = None, progress: bool = True
) -> dict:
    """Run detection + alignment + classification on each image; the largest face is the one scored.

    Images with no face found and unreadable files are left out of the accuracy and counted;
    ``accuracy_counting_misses`` scores them as wrong.
    """
    start = time.perf_counter()
    items, classes = list_image_folder(path)
    if limit is not None:
        items = items[:limit]
    labels = pipeline.labels
    left_out: Counter = Counter()
    true, predicted = [], []
    for file, label in tqdm(items, desc="eval", unit="img", disable=not progress or None):
        if label not in labels:
            left_out[f"class_not_in_model:{label}"] += 1
            continue
        try:
            image = read_image(file)
        except ImageReadError:
            left_out["unreadable"] += 1
            continue
        pipeline.reset(restart_ids=True)
        result = pipeline.process(image, 0.0)
        if not result.faces:
            left_out["no_face"] += 1
            continue
        face = max(result.faces, key=lambda f: f.box[2] * f.box[3])
        true.append(label)
        predicted.append(labels[int(np.argmax(face.raw_scores))])
    report = classification_report(true, predicted, tuple(c for c in classes if c in labels), labels)
    misses = left_out["no_face"] + left_out["unreadable"]
    report.update(
        protocol="image_folder",
        no_face=left_out["no_face"],
        accuracy_counting_misses=report["accuracy"] * report["n"] / max(report["n"] + misses, 1),
        left_out=int(sum(left_out.values())),
        left_out_reasons=dict(left_out),
        seconds=round(time.perf_counter() - start, 2),
    )
    return report
