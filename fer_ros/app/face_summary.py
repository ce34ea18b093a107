"""Per-face summaries of a run or a recording: frames seen, time span, dominant expression (no ROS import;
used by ``fer-ros run --record`` and ``fer-ros bag process``)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class FaceSummary:
    """What one tracked face did during the recording."""

    face_id: str
    frames: int = 0
    first_s: float = float("inf")
    last_s: float = float("-inf")
    expressions: Counter = field(default_factory=Counter)
    confidence_sum: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    score_sum: np.ndarray | None = None
    size_sum: float = 0.0

    def add(self, time_s: float, face: Any) -> None:
        self.frames += 1
        self.first_s, self.last_s = min(self.first_s, time_s), max(self.last_s, time_s)
        self.expressions[face.expression] += 1
        self.confidence_sum[face.expression] += float(face.confidence)
        scores = np.asarray(face.scores, dtype=np.float64)
        if self.score_sum is None or self.score_sum.shape != scores.shape:
            self.score_sum = scores.copy()
        else:
            self.score_sum += scores
        self.size_sum += float(np.sqrt(max(face.width, 0.0) * max(face.height, 0.0)))

    def to_dict(self, labels: list[str]) -> dict:
        dominant, count = self.expressions.most_common(1)[0]
        mean_scores = (self.score_sum / self.frames).tolist() if self.score_sum is not None else []
        return {
            "face_id": self.face_id,
            "frames": self.frames,
            "first_s": round(self.first_s, 3),
            "last_s": round(self.last_s, 3),
            "dominant_expression": dominant,
            "dominant_share": round(count / self.frames, 3),
            "mean_confidence": round(self.confidence_sum[dominant] / count, 3),
            "expressions": dict(self.expressions.most_common()),
            "mean_scores": {label: round(s, 4) for label, s in zip(labels, mean_scores, strict=False)},
            "mean_face_size_px": round(self.size_sum / self.frames, 1),
        }


def summary_table(summary: dict) -> str:
    """The per-face summary as a text table."""
    header = (
        f"{'face':<8} {'frames':>6} {'seen (s)':>13}  {'dominant':<10} {'share':>5} {'conf':>5}  expressions"
    )
    lines = [header, "-" * len(header)]
    for face in summary["faces"]:
        shown = ", ".join(f"{name} {count}" for name, count in face["expressions"].items())
        lines.append(
            f"{face['face_id']:<8} {face['frames']:>6} {face['first_s']:>6.1f}-{face['last_s']:<6.1f} "
            f"{face['dominant_expression']:<10} {face['dominant_share']:>5.0%} "
            f"{face['mean_confidence']:>5.2f}  {shown}"
        )
    if not summary["faces"]:
        lines.append("(no face seen)")
    return "\n".join(lines)
