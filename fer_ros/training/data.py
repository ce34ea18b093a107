"""Loading the FER+ / FER2013 npz sets as training targets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

FERPLUS_LABELS = ("neutral", "happy", "surprised", "sad", "angry", "disgusted", "scared", "contempt")
FER2013_LABELS = ("angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral")


@dataclass(frozen=True)
class TrainingSet:
    """Images (N, 48, 48) uint8, soft targets (N, C) float32 and, where defined, hard labels (-1 = none)."""

    images: np.ndarray
    targets: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """FER+ majority label per image (index into the 10 vote columns) or -1 when there is none."""
    v = votes.astype(np.int32).copy()
    v[v == 1] = 0
    total = v.sum(axis=1)
    top = v.argmax(axis=1)
    ok = (total > 0) & (v.max(axis=1) * 2 > total) & (top < len(FERPLUS_LABELS))
    return np.where(ok, top, -1)


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
