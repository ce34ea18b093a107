"""Annotated frames: boxes coloured by confidence, ``label: score``, face ids, score bars, aligned thumbnails."""

from __future__ import annotations

import cv2
import numpy as np

from fer_ros.core.types import FaceResult, FrameResult

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def confidence_color(confidence: float) -> tuple[int, int, int]:
    """BGR colour from red (0) through yellow (0.5) to green (1)."""
    c = float(np.clip(confidence, 0.0, 1.0))
    if c < 0.5:
        return 0, int(round(510 * c)), 255
    return 0, 255, int(round(510 * (1.0 - c)))


def _text(
    image: np.ndarray,
    text: str,
    org: tuple[int, int],
    scale: float,
    color: tuple[int, int, int],
    background: tuple[int, int, int] | None = None,
) -> None:
    thickness = max(1, int(round(scale * 2)))
    (w, h), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    x, y = org
    if background is not None:
        cv2.rectangle(image, (x, y - h - baseline), (x + w + 2, y + baseline // 2), background, cv2.FILLED)
    cv2.putText(image, text, (x + 1, y - baseline // 2), _FONT, scale, color, thickness, cv2.LINE_AA)


def _score_bars(image: np.ndarray, face: FaceResult, labels: tuple[str, ...]) -> None:
    """A compact bar chart of the (smoothed) scores beside the face box, as tall as the box."""
    height, width = image.shape[:2]
    x, y, w, h = (int(round(v)) for v in face.box)
    row = int(np.clip(h / max(len(labels), 1), 8, 18))
    text_scale = (row - 2) / 26.0
    name_w = cv2.getTextSize("surp", _FONT, text_scale, 1)[0][0] + 4
    bar_max = int(np.clip(0.6 * w, 24, 90))
    block_w = name_w + bar_max + 2
    left = x + w + 3 if x + w + 3 + block_w <= width else max(0, x - block_w - 3)
    top = int(np.clip(y, 0, max(0, height - row * len(labels))))
    overlay = image[top:top + row * len(labels), left:left + block_w]
    overlay[:] = (overlay * 0.35).astype(np.uint8)  # darken behind the chart, keep the picture visible
    for i, (label, score) in enumerate(zip(labels, face.scores, strict=True)):
        ry = top + i * row
        cv2.putText(image, label[:4], (left + 2, ry + row - 2), _FONT, text_scale, (235, 235, 235), 1, cv2.LINE_AA)
        length = int(round(float(np.clip(score, 0.0, 1.0)) * bar_max))
        if length > 0:
            color = confidence_color(float(score)) if label == face.expression else (200, 160, 60)
            cv2.rectangle(image, (left + name_w, ry + 2), (left + name_w + length, ry + row - 2), color, cv2.FILLED)


def _thumbnail(image: np.ndarray, face: FaceResult, slot: int, size: int, scale: float) -> None:
    crop = face.aligned_crop
    if crop is None or crop.size == 0:
        return
    height, width = image.shape[:2]
    x0 = slot * (size + 4)
    if x0 + size > width or size > height:
        return
    thumb = cv2.resize(crop, (size, size), interpolation=cv2.INTER_NEAREST)
    if thumb.ndim == 2:
        thumb = cv2.cvtColor(thumb, cv2.COLOR_GRAY2BGR)
    image[0:size, x0 : x0 + size] = thumb
    cv2.rectangle(image, (x0, 0), (x0 + size - 1, size - 1), confidence_color(face.confidence), 1)
    _text(image, face.face_id, (x0 + 2, size - 3), 0.35 * scale, (255, 255, 255), (0, 0, 0))


def render(
    image_bgr: np.ndarray,
    result: FrameResult,
    show_bars: bool = True,
    show_thumbnails: bool = True,
    show_keypoints: bool = True,
) -> np.ndarray:
    """A copy of ``image_bgr`` with every face of ``result`` drawn on it."""
    canvas = image_bgr.copy()
    height, width = canvas.shape[:2]
    scale = float(np.clip(min(width, height) / 480.0, 0.5, 3.0))
    thickness = max(1, int(round(2 * scale)))
    thumb_size = int(round(64 * scale))
    for slot, face in enumerate(result.faces):
        color = confidence_color(face.confidence)
        x, y, w, h = (int(round(v)) for v in face.box)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), color, thickness)
        if show_keypoints and face.keypoints is not None:
            for px, py in face.keypoints:
                cv2.circle(
                    canvas, (int(round(px)), int(round(py))), max(1, thickness), (255, 255, 0), cv2.FILLED
                )
        label = f"{face.expression}: {face.confidence:.2f}"
        _text(canvas, label, (max(0, x), max(int(18 * scale), y - 2)), 0.55 * scale, (0, 0, 0), color)
        _text(
            canvas,
            face.face_id + ("" if face.track_confirmed else "?"),
            (max(0, x), min(height - 2, y + h + int(16 * scale))),
            0.45 * scale,
            (255, 255, 255),
            (0, 0, 0),
        )
        if show_bars:
            _score_bars(canvas, face, result.labels)
        if show_thumbnails:
            _thumbnail(canvas, face, slot, thumb_size, scale)
    return canvas
