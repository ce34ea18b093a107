"""Multi-face tracker with stable string ids: Hungarian assignment on an IoU + centre-distance cost."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer_ros.core.assignment import linear_sum_assignment

_FORBIDDEN = 1e6


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) against every box in ``b`` (M, 4); boxes are (x, y, w, h)."""
    ax1, ay1, ax2, ay2 = a[:, 0:1], a[:, 1:2], a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx1, by1, bx2, by2 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    w = np.clip(np.minimum(ax2, bx2) - np.maximum(ax1, bx1), 0.0, None)
    h = np.clip(np.minimum(ay2, by2) - np.maximum(ay1, by1), 0.0, None)
    inter = w * h
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return inter / np.maximum(union, 1e-9)


@dataclass
class Track:
    """A tracked face: its id, last box (x, y, w, h), centre velocity (px/s) and hit/miss counts."""

    track_id: str
    box: np.ndarray
    velocity: np.ndarray
    last_time_s: float
    hits: int = 1
    misses: int = 0
    confirmed: bool = False

    def predicted_box(self, timestamp_s: float, max_dt_s: float = 1.0) -> np.ndarray:
        dt = min(max(timestamp_s - self.last_time_s, 0.0), max_dt_s)
        box = self.box.copy()
        box[:2] += self.velocity * dt
        return box


class FaceTracker:
    """Assign detections to tracks so each face keeps one ``face_id`` across frames.

    Cost of detection j for track i: ``(1 - IoU) + centre_weight * d``, with ``d`` the centre distance in units of
    the track's face size, against the track's box predicted at this frame's time. A pair is allowed only when
    ``IoU >= min_iou`` or ``d <= max_centre_distance``. A new track is confirmed after ``confirm_hits`` hits; a
    confirmed track is dropped after more than ``max_misses`` frames without a detection, a tentative one at its
    first miss.
    """

    def __init__(
        self,
        confirm_hits: int = 2,
        max_misses: int = 5,
        min_iou: float = 0.1,
        max_centre_distance: float = 1.0,
        centre_weight: float = 0.5,
        id_prefix: str = "face",
    ) -> None:
        self.confirm_hits = max(1, int(confirm_hits))
        self.max_misses = max(0, int(max_misses))
        self.min_iou = float(min_iou)
        self.max_centre_distance = float(max_centre_distance)
        self.centre_weight = float(centre_weight)
        self.id_prefix = id_prefix
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self, restart_ids: bool = False) -> None:
        """Forget every track; ids keep counting up (never reused) unless ``restart_ids``."""
        self.tracks = []
        if restart_ids:
            self._next_id = 1

    @property
    def track_ids(self) -> set[str]:
        return {t.track_id for t in self.tracks}

    def cost_matrix(self, boxes: np.ndarray, timestamp_s: float) -> np.ndarray:
        """Cost of every (track, detection) pair; forbidden pairs cost ``_FORBIDDEN``."""
        if not self.tracks or len(boxes) == 0:
            return np.zeros((len(self.tracks), len(boxes)))
        predicted = np.stack([t.predicted_box(timestamp_s) for t in self.tracks])
        iou = iou_matrix(predicted, boxes)
        pc = predicted[:, :2] + predicted[:, 2:] / 2
        dc = boxes[:, :2] + boxes[:, 2:] / 2
        size = np.sqrt(np.maximum(predicted[:, 2] * predicted[:, 3], 1.0))[:, None]
        dist = np.linalg.norm(pc[:, None, :] - dc[None, :, :], axis=2) / size
        cost = (1.0 - iou) + self.centre_weight * dist
        allowed = (iou >= self.min_iou) | (dist <= self.max_centre_distance)
        return np.where(allowed, cost, _FORBIDDEN)

    def update(
        self, boxes: list[tuple[float, float, float, float]] | np.ndarray, timestamp_s: float
    ) -> list[Track]:
        """Match this frame's boxes (x, y, w, h) to tracks; returns the track of each box, in box order."""
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        assigned: list[Track | None] = [None] * len(boxes)
        matched_tracks: set[int] = set()
        if self.tracks and len(boxes):
            cost = self.cost_matrix(boxes, timestamp_s)
            allowed = cost < _FORBIDDEN
            if (allowed.sum(axis=0) <= 1).all() and (allowed.sum(axis=1) <= 1).all():
                pairs = np.nonzero(allowed)  # every track and detection has at most one candidate: no choice
            else:
                pairs = linear_sum_assignment(cost)
            for ti, di in zip(*pairs, strict=True):
                if cost[ti, di] >= _FORBIDDEN:
                    continue
                self._hit(self.tracks[ti], boxes[di], timestamp_s)
                assigned[di] = self.tracks[ti]
                matched_tracks.add(int(ti))
        survivors = []
        for ti, track in enumerate(self.tracks):
            if ti not in matched_tracks:
                track.misses += 1
                if not track.confirmed or track.misses > self.max_misses:
                    continue
            survivors.append(track)
        self.tracks = survivors
        for di, box in enumerate(boxes):
            if assigned[di] is None:
                track = Track(f"{self.id_prefix}{self._next_id}", box.copy(), np.zeros(2), timestamp_s)
                self._next_id += 1
                track.confirmed = track.hits >= self.confirm_hits
                self.tracks.append(track)
                assigned[di] = track
        return assigned  # type: ignore[return-value]

    def _hit(self, track: Track, box: np.ndarray, timestamp_s: float) -> None:
        dt = timestamp_s - track.last_time_s
        if dt > 1e-6:
            moved = (box[:2] + box[2:] / 2) - (track.box[:2] + track.box[2:] / 2)
            track.velocity = 0.5 * track.velocity + 0.5 * moved / dt
        track.box = box.copy()
        track.last_time_s = timestamp_s
        track.hits += 1
        track.misses = 0
        if track.hits >= self.confirm_hits:
            track.confirmed = True
