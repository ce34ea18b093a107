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
from fer_ros.core.pipeline import ExpressionPipeline
from fer_ros.evaluation.datasets import list_image_folder, load_npz
from fer_ros.evaluation.metrics import classification_report


def evaluate_npz(
    classifier: ExpressionClassifier,
    path: str | Path,
    batch_size: int = 256,
    limit: int | None = None,
    progress: bool = True,
    keep_predictions: bool = False,
) -> dict:
    """Classify the crops directly (resized to the model input); images whose class the model lacks are left out.

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
    predicted: list[str] = []
    for s in tqdm(range(0, len(keep), batch_size), desc="eval", unit="batch", disable=not progress or None):
        index = keep[s : s + batch_size]
        probs = classifier.predict(classifier.to_model_crops(data.images[index]))
        predicted += [classifier.labels[k] for k in probs.argmax(axis=1)]
    report = classification_report(
        [data.labels[i] for i in keep],
        predicted,
        tuple(c for c in data.classes if c in classifier.labels),
        classifier.labels,
    )
    report.update(
        protocol=data.protocol,
        left_out=int(sum(left_out.values())),
        left_out_reasons=dict(left_out),
        seconds=round(time.perf_counter() - start, 2),
    )
    if keep_predictions:
        report["predictions"] = predicted
    return report


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
