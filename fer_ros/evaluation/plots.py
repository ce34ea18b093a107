"""Confusion-matrix picture drawn with OpenCV (no plotting library needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def confusion_matrix_image(report: dict, title: str = "", cell: int = 64) -> np.ndarray:
    """BGR image of the row-normalised confusion matrix with counts in the cells."""
    cm = report["confusion_matrix"]
    rows, cols = cm["rows_true"], cm["columns_predicted"]
    counts = np.asarray(cm["counts"], dtype=np.float64)
    norm = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    left, top = 110, 110
    width, height = left + cell * len(cols) + 20, top + cell * len(rows) + 50
    image = np.full((height, width, 3), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i in range(len(rows)):
        for j in range(len(cols)):
            value = float(norm[i, j])
            shade = int(round(255 * (1 - value)))
            x0, y0 = left + j * cell, top + i * cell
            cv2.rectangle(image, (x0, y0), (x0 + cell, y0 + cell), (255, shade, shade), cv2.FILLED)
            cv2.rectangle(image, (x0, y0), (x0 + cell, y0 + cell), (180, 180, 180), 1)
            ink = (255, 255, 255) if value > 0.5 else (0, 0, 0)
            cv2.putText(
                image, f"{int(counts[i, j])}", (x0 + 6, y0 + cell // 2 - 2), font, 0.42, ink, 1, cv2.LINE_AA
            )
            cv2.putText(image, f"{value:.2f}", (x0 + 6, y0 + cell // 2 + 16), font, 0.38, ink, 1, cv2.LINE_AA)
    for i, r in enumerate(rows):
        cv2.putText(image, r, (6, top + i * cell + cell // 2 + 5), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    for j, c in enumerate(cols):
        org = (left + j * cell + 4, top - 8)
        cv2.putText(image, c[:9], org, font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(
        image, "true (rows) / predicted (columns)", (6, top - 40), font, 0.45, (80, 80, 80), 1, cv2.LINE_AA
    )
    summary = f"{title}  n={report['n']}  acc={report['accuracy']:.3f}  macro-F1={report['macro_f1']:.3f}"
    cv2.putText(image, summary.strip(), (6, 24), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def write_confusion_png(report: dict, path: str | Path, title: str = "") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), confusion_matrix_image(report, title)):
        raise OSError(f"{path}: cannot write PNG")
    return path
