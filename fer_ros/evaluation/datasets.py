"""Expression data sets: npz files in the shared/data layout and image folders with one sub-folder per class."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_ros.core.errors import FerRosError
from fer_ros.core.labels import FER2013_LABELS, FERPLUS_LABELS, canonical_label

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
UNKNOWN_COLUMN, NOT_A_FACE_COLUMN = 8, 9


class DatasetError(FerRosError, ValueError):
    """A data set file or folder is missing or not in a supported layout."""


@dataclass
class LabelledCrops:
    """Face crops with one canonical label each; images without a usable label are already left out."""

    images: np.ndarray  # uint8 (N, H, W) gray or (N, H, W, 3) BGR
    labels: list[str]
    classes: tuple[str, ...]  # the data set's classes, in its own order
    protocol: str
    left_out: Counter = field(default_factory=Counter)
    # FER+ only: the plurality protocol's images (a superset of ``images``) and their top-voted classes
    plurality_images: np.ndarray | None = None
    plurality_top: np.ndarray | None = None  # bool (M, 8), columns in FERPLUS_LABELS order


def ferplus_majority(votes: np.ndarray) -> np.ndarray:
    """FER+ majority label per image (vote column 0..7), or -1 when the image has none.

    As the FER+ reference code: votes equal to 1 are set to 0; then the top class must hold more than half of the
    remaining votes and must not be ``unknown`` or ``NF``.
    """
    votes = np.asarray(votes, dtype=np.int64).copy()
    if votes.ndim != 2 or votes.shape[1] != 10:
        raise DatasetError(f"FER+ votes must be (N, 10), got {votes.shape}")
    votes[votes == 1] = 0
    total = votes.sum(axis=1)
    top = votes.argmax(axis=1)
    top_votes = votes[np.arange(len(votes)), top]
    ok = (total > 0) & (2 * top_votes > total) & (top < UNKNOWN_COLUMN)
    return np.where(ok, top, -1)


def ferplus_plurality(votes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FER+ plurality protocol: which images count, and their top-voted emotion classes.

    Votes equal to 1 are set to 0 (as for the majority); the top-voted classes are those with the most
    remaining votes. An image counts when one of them is an emotion (not ``unknown`` or ``NF``); a prediction
    is right when it is one of the top-voted emotions (ties included). Returns ``(keep (N,), top (N, 8))``.
    """
    votes = np.asarray(votes, dtype=np.int64).copy()
    if votes.ndim != 2 or votes.shape[1] != 10:
        raise DatasetError(f"FER+ votes must be (N, 10), got {votes.shape}")
    votes[votes == 1] = 0
    best = votes.max(axis=1, keepdims=True)
    top = (votes == best) & (best > 0)
    emotion_top = top[:, :UNKNOWN_COLUMN]
    return emotion_top.any(axis=1), emotion_top


def load_npz(path: str | Path) -> LabelledCrops:
    """Load an npz with ``images`` and either FER+ ``votes`` (majority protocol) or FER2013 ``labels``."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        data = np.load(path, allow_pickle=False)
        keys = set(data.files)
        if "images" not in keys or not keys & {"votes", "labels"}:
            raise DatasetError(
                f"{path}: expected arrays 'images' and 'votes' or 'labels', found {sorted(keys)}"
            )
        images = np.asarray(data["images"])
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise DatasetError(
                f"{path}: 'images' must be uint8 (N, H, W[, 3]), got {images.dtype} {images.shape}"
            )
        if "votes" in keys:
            majority = ferplus_majority(data["votes"])
            keep = majority >= 0
            left_out = Counter({"no_majority": int((~keep).sum())}) if (~keep).any() else Counter()
            labels = [FERPLUS_LABELS[i] for i in majority[keep]]
            plural, top = ferplus_plurality(data["votes"])
            return LabelledCrops(
                images[keep], labels, FERPLUS_LABELS, "ferplus_majority", left_out, images[plural], top[plural]
            )
        ids = np.asarray(data["labels"]).astype(np.int64)
        if ids.min(initial=0) < 0 or ids.max(initial=0) >= len(FER2013_LABELS):
            raise DatasetError(f"{path}: FER2013 labels must be 0..6")
        return LabelledCrops(images, [FER2013_LABELS[i] for i in ids], FER2013_LABELS, "fer2013")
    except (OSError, ValueError, KeyError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: cannot read npz ({exc})") from None


def list_image_folder(path: str | Path) -> tuple[list[tuple[Path, str]], tuple[str, ...]]:
    """Images of a folder with one sub-folder per class (names like ``happy``, ``Happiness``, ``fear``...)."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder")
    items: list[tuple[Path, str]] = []
    classes: list[str] = []
    for sub in sorted(p for p in path.iterdir() if p.is_dir()):
        try:
            label = canonical_label(sub.name)
        except ValueError:
            raise DatasetError(f"{sub}: folder name is not an expression label") from None
        classes.append(label)
        items += [(f, label) for f in sorted(sub.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
    if not items:
        raise DatasetError(f"{path}: no images in class sub-folders")
    return items, tuple(dict.fromkeys(classes))
