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
    "media/pyfeat/multi_face.jpg", "media/astronaut.png", "media/pyfeat/single_face.jpg",
    "media/ros4hri/user_angry.jpg", "media/ros4hri/user_happy.jpg", "media/ros4hri/user_surprised.jpg",
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
    """Square crops (side ``margin`` x face size) around every face found in the images."""
    crops = []
    for path in image_paths:
        image = read_image(path)
        for det in detector.detect(image):
            x, y, w, h = det.box
            side = margin * max(w, h)
            cx, cy = x + w / 2, y + h / 2
            matrix = np.array([[1.0, 0.0, side / 2 - cx], [0.0, 1.0, side / 2 - cy]])
            size = int(round(side))
            crops.append(cv2.warpAffine(image, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE))
    return crops


def compose_frame(crops: list[np.ndarray], n: int, size: tuple[int, int] = (640, 480), seed: int = 0) -> np.ndarray:
    """A ``size`` BGR frame with ``n`` face crops (cycled) on a textured background, laid out on a grid."""
    width, height = size
    rng = np.random.default_rng(seed)
    noise = cv2.resize(rng.integers(60, 200, (height // 16, width // 16, 3), dtype=np.uint8), (width, height),
                       interpolation=cv2.INTER_CUBIC)
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
        frame[y0:y0 + side, x0:x0 + side] = crop
    return frame
