"""The per-face timeline picture, drawn with OpenCV (no plotting library): one row per face, each frame a bar
coloured by its expression, blended with white by its confidence (opacity = confidence), time in seconds."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from fer_ros.bag.report import Timeline

# BGR colours of the canonical labels (msg/FaceExpression.msg); others get a colour from their name.
EXPRESSION_COLORS: dict[str, tuple[int, int, int]] = {
    "neutral": (150, 150, 150),
    "happy": (0, 190, 255),
    "sad": (200, 110, 30),
    "angry": (40, 40, 220),
    "surprised": (220, 80, 210),
    "disgusted": (50, 150, 40),
    "scared": (140, 40, 110),
    "contempt": (30, 90, 140),
}
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_INK = (30, 30, 30)
_TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def expression_color(label: str) -> tuple[int, int, int]:
    """The colour of an expression label (a stable made-up one for unknown labels)."""
    if label in EXPRESSION_COLORS:
        return EXPRESSION_COLORS[label]
    value = zlib.crc32(label.encode())
    return (value & 0xFF, (value >> 8) & 0xFF, (value >> 16) & 0xFF)


def _blend(color: tuple[int, int, int], alpha: float) -> tuple[int, int, int]:
    alpha = float(np.clip(alpha, 0.0, 1.0))
    return tuple(int(round(255 * (1 - alpha) + c * alpha)) for c in color)  # type: ignore[return-value]


def _tick_step(duration_s: float, max_ticks: int = 10) -> float:
    return next((s for s in _TICK_STEPS if duration_s / s <= max_ticks), _TICK_STEPS[-1])


def timeline_image(timeline: Timeline, width: int = 960, row_height: int = 22) -> np.ndarray:
    """BGR picture of ``timeline``'s faces."""
    from fer_ros.bag.report import frame_ends

    rows = list(timeline.faces.items())
    multi_topic = len({topic for topic, _ in timeline.faces}) > 1
    left, right, top = 150, 20, 44
    gap = 6
    plot_height = max(1, len(rows)) * (row_height + gap)
    height = top + plot_height + 80
    image = np.full((height, width, 3), 255, np.uint8)
    span = max(
        timeline.duration_s,
        max((max(frame_ends(frames, 1.0)) for _, frames in rows), default=0.0),
        1e-3,
    )
    scale = (width - left - right) / span

    def x_of(t: float) -> int:
        return left + int(round(t * scale))

    title = f"{Path(timeline.bag).name}: {len(rows)} face(s), {timeline.duration_s:.1f} s"
    if timeline.partial:
        title += "  (PARTIAL)"
    cv2.putText(image, title, (10, 26), _FONT, 0.6, _INK, 1, cv2.LINE_AA)
    step = _tick_step(span)
    axis_y = top + plot_height
    t = 0.0
    while t <= span + 1e-9:
        x = x_of(t)
        cv2.line(image, (x, top - 4), (x, axis_y), (225, 225, 225), 1)
        cv2.line(image, (x, axis_y), (x, axis_y + 5), _INK, 1)
        cv2.putText(image, f"{t:g}", (x - 8, axis_y + 20), _FONT, 0.42, _INK, 1, cv2.LINE_AA)
        t += step
    cv2.line(image, (left, axis_y), (width - right, axis_y), _INK, 1)
    cv2.putText(image, "time (s)", (width - right - 70, axis_y + 38), _FONT, 0.45, _INK, 1, cv2.LINE_AA)
    for index, ((topic, face_id), frames) in enumerate(rows):
        y0 = top + index * (row_height + gap)
        face_name = face_id if face_id.startswith("face") else f"face {face_id}"
        name = f"{topic.rsplit('/faces', 1)[0] or '/'} {face_name}" if multi_topic else face_name
        cv2.putText(image, name[:20], (8, y0 + row_height - 6), _FONT, 0.45, _INK, 1, cv2.LINE_AA)
        for frame, end in zip(frames, frame_ends(frames, 1.0), strict=True):
            color = _blend(expression_color(frame.expression), frame.confidence)
            cv2.rectangle(image, (x_of(frame.time_s), y0), (max(x_of(end) - 1, x_of(frame.time_s)), y0 + row_height),
                          color, cv2.FILLED)
    seen = [label for label in timeline.labels if any(f.expression == label for _, fs in rows for f in fs)]
    seen += sorted({f.expression for _, fs in rows for f in fs} - set(seen))
    x, y = 10, height - 14
    for label in seen:
        cv2.rectangle(image, (x, y - 11), (x + 12, y + 1), expression_color(label), cv2.FILLED)
        cv2.putText(image, label, (x + 16, y), _FONT, 0.42, _INK, 1, cv2.LINE_AA)
        x += 24 + cv2.getTextSize(label, _FONT, 0.42, 1)[0][0]
    cv2.putText(image, "opacity = confidence", (max(x + 10, width - 190), y), _FONT, 0.42, (110, 110, 110), 1,
                cv2.LINE_AA)
    return image


def write_timeline_png(timeline: Timeline, path: str | Path) -> Path:
    """Write :func:`timeline_image` as a PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), timeline_image(timeline), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise OSError(f"{path}: cannot write PNG")
    return path
