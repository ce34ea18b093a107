"""Loading the FER+ / FER2013 npz sets as training targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_ros.core.labels import FER2013_LABELS, FERPLUS_LABELS
from fer_ros.evaluation.datasets import ferplus_majority


@dataclass(frozen=True)
class TrainingSet:
    """Images (N, 48, 48) uint8, soft targets (N, C) float32 and, where defined, hard labels (-1 = none)."""

    images: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]


def load_ferplus(path: Path, drop_unlabelled: bool) -> TrainingSet:
    """FER+ with the normalised emotion votes as targets; images whose votes are mostly unknown/NF dropped."""
    data = np.load(path)
    votes = data["votes"].astype(np.float32)
    emotion = votes[:, : len(FERPLUS_LABELS)]
    keep = emotion.sum(axis=1) > 0
    if drop_unlabelled:
        keep &= votes.argmax(axis=1) < len(FERPLUS_LABELS)
    targets = emotion[keep] / emotion[keep].sum(axis=1, keepdims=True)
    return TrainingSet(data["images"][keep], targets, ferplus_majority(data["votes"][keep]), FERPLUS_LABELS)


def load_fer2013(path: Path) -> TrainingSet:
    """FER2013 with one-hot targets from the original labels."""
    data = np.load(path)
    labels = data["labels"].astype(np.int64)
    targets = np.eye(len(FER2013_LABELS), dtype=np.float32)[labels]
    return TrainingSet(data["images"], targets, labels, FER2013_LABELS)
