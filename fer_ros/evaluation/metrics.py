"""Classification metrics over a data set's classes and a model's labels (which may differ)."""

from __future__ import annotations

import numpy as np


def classification_report(
    true_labels: list[str],
    predicted_labels: list[str],
    classes: tuple[str, ...],
    model_labels: tuple[str, ...],
) -> dict:
    """Accuracy, macro recall, macro F1, per-class recall/precision/F1 and the confusion matrix.

    Rows of the confusion matrix are the data set's ``classes`` (true), columns the ``model_labels``
    (predicted), so a prediction the data set cannot hold (e.g. contempt on FER2013) is counted, and wrong.
    Macro figures average over the classes that have at least one sample.
    """
    row = {c: i for i, c in enumerate(classes)}
    col = {c: i for i, c in enumerate(model_labels)}
    matrix = np.zeros((len(classes), len(model_labels)), dtype=np.int64)
    for t, p in zip(true_labels, predicted_labels, strict=True):
        matrix[row[t], col[p]] += 1
    n = int(matrix.sum())
    correct = sum(int(matrix[row[c], col[c]]) for c in classes if c in col)
    recall, precision, f1 = {}, {}, {}
    for c in classes:
        support = int(matrix[row[c]].sum())
        if support == 0:
            continue
        tp = int(matrix[row[c], col[c]]) if c in col else 0
        predicted = int(matrix[:, col[c]].sum()) if c in col else 0
        recall[c] = tp / support
        precision[c] = tp / predicted if predicted else 0.0
        f1[c] = 2 * precision[c] * recall[c] / (precision[c] + recall[c]) if tp else 0.0
    return {
        "n": n,
        "accuracy": correct / n if n else 0.0,
        "macro_recall": float(np.mean(list(recall.values()))) if recall else 0.0,
        "macro_f1": float(np.mean(list(f1.values()))) if f1 else 0.0,
        "per_class_recall": recall,
        "per_class_precision": precision,
        "per_class_f1": f1,
        "support": {c: int(matrix[row[c]].sum()) for c in classes},
        "confusion_matrix": {
            "rows_true": list(classes),
            "columns_predicted": list(model_labels),
            "counts": matrix.tolist(),
        },
    }


def confusion_text(report: dict) -> str:
    """The confusion matrix as a fixed-width table (rows true, columns predicted)."""
    cm = report["confusion_matrix"]
    rows, cols, counts = cm["rows_true"], cm["columns_predicted"], cm["counts"]
    width = max(6, *(len(c[:9]) for c in cols)) + 1
    head = " " * 11 + "".join(f"{c[:9]:>{width}}" for c in cols) + "   recall"
    lines = ["true \\ predicted", head]
    for r, values in zip(rows, counts, strict=True):
        rec = report["per_class_recall"].get(r)
        lines.append(
            f"{r:<11}"
            + "".join(f"{v:>{width}}" for v in values)
            + (f"   {rec:6.3f}" if rec is not None else "      -")
        )
    return "\n".join(lines)


CONFIDENCE_THRESHOLDS = (0.5, 0.8, 0.9)


def calibration_report(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15, thresholds: tuple[float, ...] = CONFIDENCE_THRESHOLDS
) -> dict:
    """Expected calibration error and selective accuracy of top-1 predictions.

    ``confidence`` is the top score of each prediction, ``correct`` whether it was right. ECE: the
    sample-weighted mean of |accuracy - mean confidence| over ``bins`` equal-width confidence bins (the lowest bin
    includes 0). For each threshold t: the share of predictions with confidence >= t (coverage) and their accuracy.
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=bool)
    if confidence.shape != correct.shape or confidence.ndim != 1:
        raise ValueError("confidence and correct must be 1-D arrays of the same length")
    n = len(confidence)
    if n == 0:
        return {"n": 0, "ece": 0.0, "bins": bins, "mean_confidence": 0.0, "accuracy": 0.0, "selective": {}}
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.sum() / n * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    selective = {}
    for t in thresholds:
        kept = confidence >= t
        selective[f"{t:g}"] = {
            "coverage": float(kept.mean()),
            "accuracy": float(correct[kept].mean()) if kept.any() else None,
        }
    return {
        "n": n,
        "ece": float(ece),
        "bins": bins,
        "mean_confidence": float(confidence.mean()),
        "accuracy": float(correct.mean()),
        "selective": selective,
    }


def negative_log_likelihood(probabilities: np.ndarray, true_index: np.ndarray) -> float:
    """Mean -log p(true class), probabilities clipped at 1e-12."""
    p = probabilities[np.arange(len(true_index)), true_index]
    return float(-np.log(np.maximum(p, 1e-12)).mean())
