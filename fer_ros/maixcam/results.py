"""MaixCAM frames as the pipeline's FrameResult, with the same per-track smoothing (no ROS import).

The device classifies on its NPU and numbers its own tracks; this turns each published frame into the
:class:`~fer_ros.core.types.FrameResult` a camera pipeline gives, so that one message mapping
(``fer_ros/ros/messages.py``) serves both nodes.
"""

from __future__ import annotations

import numpy as np

from fer_ros.core.smoothing import ExpressionSmoother
from fer_ros.core.types import FaceResult, FrameResult
from fer_ros.maixcam.receiver import PublishableFrame

_NO_SCORES = np.zeros(0, dtype=np.float32)


class DeviceResults:
    """Per device: the frames of its current session as FrameResults, tracks smoothed over time."""

    def __init__(self, time_constant_s: float, hysteresis_margin: float) -> None:
        self.time_constant_s = time_constant_s
        self.hysteresis_margin = hysteresis_margin
        self._smoothers: dict[str, tuple[int, ExpressionSmoother]] = {}  # device -> (session, smoother)

    def set_smoothing(self, time_constant_s: float, hysteresis_margin: float) -> None:
        """Change the smoothing of every device, live."""
        self.time_constant_s, self.hysteresis_margin = time_constant_s, hysteresis_margin
        for _, smoother in self._smoothers.values():
            smoother.time_constant_s, smoother.hysteresis_margin = time_constant_s, hysteresis_margin

    def _smoother(self, device_id: str, session_id: int) -> ExpressionSmoother:
        entry = self._smoothers.get(device_id)
        if entry is None or entry[0] != session_id:  # a restarted app numbers its tracks anew
            entry = (session_id, ExpressionSmoother(self.time_constant_s, self.hysteresis_margin))
            self._smoothers[device_id] = entry
        return entry[1]

    def result(self, item: PublishableFrame, timestamp_s: float) -> FrameResult:
        """The frame as a FrameResult at ``timestamp_s``; unclassified faces (eyes not found) keep no scores."""
        frame, labels = item.frame, item.labels
        smoother = self._smoother(frame.device_id, frame.session_id)
        active, faces = [], []
        for face in frame.faces:
            face_id = str(face.track_id) if face.track_id else ""
            expression, confidence, scores, raw = "", 0.0, _NO_SCORES, _NO_SCORES
            if face.top_class is not None:
                raw = np.asarray(face.scores, dtype=np.float32)
                total = float(raw.sum())
                if total > 0:
                    raw = raw / total  # undo the u16 rounding so that the scores sum to 1
                if face_id:
                    active.append(face_id)
                    scores, top, confidence = smoother.update(face_id, raw, timestamp_s)
                else:
                    scores, top, confidence = raw, int(np.argmax(raw)), float(raw.max())
                expression = labels[top]
            faces.append(
                FaceResult(
                    face_id=face_id,
                    box=(float(face.x), float(face.y), float(face.w), float(face.h)),
                    detection_score=float(face.score),
                    keypoints=np.asarray(face.keypoints, dtype=np.float32).reshape(-1, 2),  # -1: invalid
                    expression=expression,
                    confidence=float(confidence),
                    scores=np.asarray(scores, dtype=np.float32),
                    raw_scores=raw,
                    track_confirmed=bool(face_id),
                )
            )
        smoother.prune(active)
        return FrameResult(faces, tuple(labels), (frame.width, frame.height), timestamp_s)
