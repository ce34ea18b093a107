"""Locating the shared data folder and composing benchmark frames from real faces."""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np

from fer_ros.core.detector import YuNetDetector
from fer_ros.core.image_io import read_image

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_FACE_IMAGES = (
    "media/pyfeat/multi_face.jpg",
    "media/astronaut.png",
    "media/pyfeat/single_face.jpg",
    "media/ros4hri/user_angry.jpg",
    "media/ros4hri/user_happy.jpg",
    "media/ros4hri/user_surprised.jpg",
)


def shared_dir() -> Path:
    """``$FER_ROS_SHARED``, else ``../shared`` beside the repository (or the current folder)."""
    env = os.environ.get("FER_ROS_SHARED")
    if env:
        return Path(env)
    for candidate in (REPO_ROOT.parent / "shared", Path.cwd().parent / "shared", Path.cwd() / "shared"):
        if candidate.is_dir():
            return candidate
    return REPO_ROOT.parent / "shared"


def face_crops(detector: YuNetDetector, image_paths: list[Path], margin: float = 1.8) -> list[np.ndarray]:
    """Square crops (side ``margin`` x face size) around every face found in the images, one face per crop.

    In a group photo a crop around one face also shows its neighbours: their boxes (enlarged) are painted over
    with the image's median colour first, and a crop is kept only when the detector finds exactly one face in
    it at the sizes ``compose_frame`` uses.
    """
    crops = []
    for path in image_paths:
        image = read_image(path)
        detections = detector.detect(image)
        fill = np.median(image.reshape(-1, 3), axis=0).astype(np.uint8)
        for i, det in enumerate(detections):
            source = image
            if len(detections) > 1:
                source = image.copy()
                keep = _box_mask(image.shape, det.box, 1.0)
                for j, other in enumerate(detections):
                    if j != i:
                        source[_box_mask(image.shape, other.box, 1.3) & ~keep] = fill
            x, y, w, h = det.box
            side = margin * max(w, h)
            cx, cy = x + w / 2, y + h / 2
            matrix = np.array([[1.0, 0.0, side / 2 - cx], [0.0, 1.0, side / 2 - cy]])
            size = int(round(side))
            crop = cv2.warpAffine(source, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE)
            if _holds_one_face(detector, crop):
                crops.append(crop)
    return crops


def _box_mask(shape: tuple[int, ...], box: tuple[float, float, float, float], scale: float) -> np.ndarray:
    """Boolean (H, W) mask of ``box`` (x, y, w, h) scaled by ``scale`` about its centre."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    mask = np.zeros(shape[:2], dtype=bool)
    x0, x1 = max(0, int(cx - scale * w / 2)), max(0, int(np.ceil(cx + scale * w / 2)))
    y0, y1 = max(0, int(cy - scale * h / 2)), max(0, int(np.ceil(cy + scale * h / 2)))
    mask[y0:y1, x0:x1] = True
    return mask


def _holds_one_face(detector: YuNetDetector, crop: np.ndarray, sides: tuple[int, ...] = (110, 220)) -> bool:
    """True when the detector finds exactly one face in ``crop`` pasted at each side on a plain 640x480 frame."""
    for side in sides:
        frame = np.full((480, 640, 3), 128, np.uint8)
        y0, x0 = (480 - side) // 2, (640 - side) // 2
        frame[y0 : y0 + side, x0 : x0 + side] = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA)
        if len(detector.detect(frame)) != 1:
            return False
    return True


def compose_frame(
    crops: list[np.ndarray], n: int, size: tuple[int, int] = (640, 480), seed: int = 0
) -> np.ndarray:
    """A ``size`` BGR frame with ``n`` face crops (cycled) on a textured background, laid out on a grid."""
    width, height = size
    rng = np.random.default_rng(seed)
    noise = cv2.resize(
        rng.integers(60, 200, (height // 16, width // 16, 3), dtype=np.uint8),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    frame = cv2.GaussianBlur(noise, (0, 0), 3)
    cols = max(1, math.ceil(math.sqrt(n * width / height)))
    rows = math.ceil(n / cols)
    tile_w, tile_h = width // cols, height // rows
    side = int(min(0.85 * min(tile_w, tile_h), 220))
    for i in range(n):
        crop = cv2.resize(crops[i % len(crops)], (side, side), interpolation=cv2.INTER_AREA)
        r, c = divmod(i, cols)
        x0 = c * tile_w + (tile_w - side) // 2
        y0 = r * tile_h + (tile_h - side) // 2
        frame[y0 : y0 + side, x0 : x0 + side] = crop
    return frame
