"""Plain dataclasses passed between the core stages (no ROS import)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detection:
    """One detected face in source-image pixels.

    ``box`` is ``(x, y, width, height)`` with a top-left origin; ``keypoints`` is a ``(5, 2)`` float array
    (image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner) or None.
    """

    box: tuple[float, float, float, float]
    score: float
    keypoints: np.ndarray | None = None

    @property
    def area(self) -> float:
        return max(self.box[2], 0.0) * max(self.box[3], 0.0)


@dataclass
class FaceResult:
    """Everything the pipeline knows about one face in one frame."""

    face_id: str
    box: tuple[float, float, float, float]
    detection_score: float
    keypoints: np.ndarray | None
    expression: str
    confidence: float
    scores: np.ndarray
    raw_scores: np.ndarray
    aligned_crop: np.ndarray | None = None
    track_confirmed: bool = False
    aligned_with_keypoints: bool = True
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # other per-face models' scores, by task

    def to_dict(self, labels: tuple[str, ...] | list[str]) -> dict:
        """JSON-ready dict (the crop is left out)."""
        return {
            "face_id": self.face_id,
            "box": [round(float(v), 2) for v in self.box],
            "detection_score": round(float(self.detection_score), 4),
            "keypoints": None if self.keypoints is None else np.round(self.keypoints.astype(float), 2).tolist(),
            "expression": self.expression,
            "confidence": round(float(self.confidence), 4),
            "scores": {label: round(float(s), 4) for label, s in zip(labels, self.scores, strict=True)},
            "raw_scores": {label: round(float(s), 4) for label, s in zip(labels, self.raw_scores, strict=True)},
            "track_confirmed": self.track_confirmed,
            **({"outputs": {task: np.round(v.astype(float), 4).tolist() for task, v in self.outputs.items()}}
               if self.outputs else {}),
        }


@dataclass
class FrameResult:
    """The result of one ``ExpressionPipeline.process`` call."""

    faces: list[FaceResult]
    labels: tuple[str, ...]
    image_size: tuple[int, int]  # (width, height)
    timestamp_s: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)
    task_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # of FaceResult.outputs, by task

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {
            "timestamp_s": self.timestamp_s,
            "image_width": self.image_size[0],
            "image_height": self.image_size[1],
            "labels": list(self.labels),
            "faces": [face.to_dict(self.labels) for face in self.faces],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            **({"task_labels": {k: list(v) for k, v in self.task_labels.items()}} if self.task_labels else {}),
        }
