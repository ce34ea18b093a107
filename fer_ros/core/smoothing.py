"""Per-track temporal smoothing of expression probabilities, frame-rate independent, with label hysteresis."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass
class _State:
    scores: np.ndarray
    top: int
    last_time_s: float


class ExpressionSmoother:
    """Exponential moving average of each track's probabilities with a time constant in seconds.

    Each update blends in the new probabilities with ``alpha = 1 - exp(-dt / time_constant_s)``, so the response to
    a change depends on elapsed time, not on the frame rate. The reported label switches only when the new top class
    beats the current label's smoothed score by ``hysteresis_margin``.
    """

    def __init__(self, time_constant_s: float = 0.3, hysteresis_margin: float = 0.1) -> None:
        if time_constant_s < 0:
            raise ValueError("time_constant_s must be >= 0")
        self.time_constant_s = float(time_constant_s)
        self.hysteresis_margin = float(hysteresis_margin)
        self._states: dict[str, _State] = {}

    def alpha(self, dt_s: float) -> float:
        """Weight of a new observation after ``dt_s`` seconds."""
        if self.time_constant_s <= 0:
            return 1.0
        return 1.0 - math.exp(-max(dt_s, 0.0) / self.time_constant_s)

    def update(
        self, track_id: str, probabilities: np.ndarray, timestamp_s: float
    ) -> tuple[np.ndarray, int, float]:
        """Smoothed scores, index of the reported label, and its smoothed score, for one track at one time."""
        probabilities = np.asarray(probabilities, dtype=np.float32)
        state = self._states.get(track_id)
        if state is None or timestamp_s <= state.last_time_s or state.scores.shape != probabilities.shape:
            state = _State(probabilities.copy(), int(np.argmax(probabilities)), timestamp_s)
            self._states[track_id] = state
        else:
            state.scores += self.alpha(timestamp_s - state.last_time_s) * (probabilities - state.scores)
            state.last_time_s = timestamp_s
            best = int(np.argmax(state.scores))
            if best != state.top and state.scores[best] >= state.scores[state.top] + self.hysteresis_margin:
                state.top = best
        return state.scores.copy(), state.top, float(state.scores[state.top])

    def prune(self, active_ids: Iterable[str]) -> None:
        """Forget the tracks that are not in ``active_ids``."""
        keep = set(active_ids)
        for track_id in [k for k in self._states if k not in keep]:
            del self._states[track_id]

    def reset(self) -> None:
        self._states.clear()
