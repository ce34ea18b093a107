"""Robot expression mirroring: from per-frame face expressions to a steady command a robot face can follow.

No ROS import. :class:`MirrorPolicy` is fed observations (the faces of one frame, with their smoothed scores)
and asked for a :class:`MirrorCommand` at a fixed rate:

1. **Target**: the largest face, the most central one, or the face with a locked id. The current target is
   kept while it is seen (a brief miss shorter than ``lost_timeout_s`` is not a loss) unless another face is
   better by ``target_switch_ratio``.
2. **Mapping**: the recognised labels' scores are summed onto the robot's own expression set
   (:class:`ExpressionMapping`, e.g. ``contempt -> neutral`` for a robot without contempt).
3. **Decision**: the shown expression changes only when a candidate's score reaches ``min_confidence`` *and*
   beats the current expression's score by ``hysteresis_margin``, and never before ``min_dwell_s`` since the
   last change. A current expression whose score falls below ``min_confidence - hysteresis_margin`` (nothing
   confident left) gives way to neutral, under the same dwell rule.
4. **Intensity** follows the shown expression's score with ``intensity_time_constant_s``; when the target is
   lost it decays to 0 with ``decay_time_constant_s``, and below ``release_intensity`` the command returns to
   neutral with no face.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_ros.core.labels import CANONICAL_LABELS, NEUTRAL, canonical_label

TARGET_MODES = ("largest", "central", "locked")


@dataclass
class MirrorConfig:
    """Every knob of the mirroring policy (times in seconds, scores and intensities 0..1)."""

    target: str = "largest"
    locked_face_id: str = ""
    target_switch_ratio: float = 1.5
    # For calibrated scores (fer_ros.temperature): on FER+ Valid a top score >= 0.5 is right 88 % of the time
    # and covers 96 % of faces, as 0.4 did before calibration; a lead of 0.3 over the runner-up keeps the
    # share of faces a margin of 0.15 kept before (87 %).
    min_confidence: float = 0.5
    hysteresis_margin: float = 0.3
    min_dwell_s: float = 1.0
    lost_timeout_s: float = 0.5
    intensity_time_constant_s: float = 0.2
    decay_time_constant_s: float = 0.5
    release_intensity: float = 0.05

    def __post_init__(self) -> None:
        if self.target not in TARGET_MODES:
            choices = ", ".join(TARGET_MODES)
            raise ValueError(f"unknown mirror target {self.target!r}; expected one of {choices}")
        if self.target_switch_ratio < 1.0:
            raise ValueError("target_switch_ratio must be >= 1")
        for name in ("min_dwell_s", "lost_timeout_s", "intensity_time_constant_s", "decay_time_constant_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")


@dataclass(frozen=True)
class ExpressionMapping:
    """Recognised labels -> the robot's own expressions.

    ``mapping[label]`` is a robot expression, or None to ignore the label; labels absent from ``mapping`` are
    ignored too. ``neutral`` is the robot's rest expression (shown when nobody is followed).
    """

    robot_expressions: tuple[str, ...]
    mapping: Mapping[str, str | None]
    neutral: str = NEUTRAL

    def __post_init__(self) -> None:
        if self.neutral not in self.robot_expressions:
            raise ValueError(
                f"the rest expression {self.neutral!r} is not one of the robot's expressions "
                f"{list(self.robot_expressions)}"
            )
        for label, target in self.mapping.items():
            if target is not None and target not in self.robot_expressions:
                raise ValueError(
                    f"mapping {label!r} -> {target!r}: {target!r} is not one of the robot's "
                    f"expressions {list(self.robot_expressions)}"
                )

    @classmethod
    def identity(cls, labels: Sequence[str] = CANONICAL_LABELS) -> ExpressionMapping:
        """Every canonical label shown as itself."""
        return cls(tuple(labels), {label: label for label in labels})

    @classmethod
    def from_dict(cls, data: Mapping) -> ExpressionMapping:
        """From the YAML structure ``{robot_expressions: [...], neutral: ..., mapping: {label: expr|null}}``.

        Keys of ``mapping`` are recognised labels (any spelling canonical_label accepts);
        ``robot_expressions`` are the robot's own names, used as given.
        """
        if not isinstance(data, Mapping) or "robot_expressions" not in data or "mapping" not in data:
            raise ValueError(
                "a mirror mapping needs 'robot_expressions' (a list) and 'mapping' (label: expression)"
            )
        robot = tuple(str(name) for name in data["robot_expressions"])
        raw = data["mapping"] or {}
        if not isinstance(raw, Mapping):
            raise ValueError("'mapping' must be a dictionary of recognised label: robot expression")
        mapping = {
            canonical_label(str(label)): (None if target in (None, "") else str(target))
            for label, target in raw.items()
        }
        return cls(robot, mapping, str(data.get("neutral", NEUTRAL)))

    @classmethod
    def from_yaml(cls, path: str | Path) -> ExpressionMapping:
        """Read a mapping file (see config/mirror_mapping.yaml)."""
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as error:
            raise ValueError(f"{path}: cannot read the mirror mapping ({error.strerror or error})") from None
        except yaml.YAMLError as error:
            raise ValueError(f"{path}: not valid YAML: {error}") from None
        try:
            return cls.from_dict(data)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    def map_scores(self, labels: Sequence[str], scores: Sequence[float]) -> dict[str, float]:
        """The robot expressions' scores: the sum of the scores of the labels mapped onto each."""
        robot = dict.fromkeys(self.robot_expressions, 0.0)
        for label, score in zip(labels, scores, strict=True):
            target = self.mapping.get(label)
            if target is not None:
                robot[target] += float(score)
        return robot


@dataclass
class FaceObservation:
    """One face of one frame: id, box ``(x, y, width, height)`` in pixels, scores in label order."""

    face_id: str
    box: tuple[float, float, float, float]
    scores: Sequence[float]


@dataclass
class MirrorCommand:
    """What the robot should show now."""

    expression: str
    intensity: float
    face_id: str
    source_confidence: float
    changed: bool = False


@dataclass
class _Target:
    face_id: str
    goodness: float
    scores: dict[str, float]
    last_seen_s: float


@dataclass
class _Observation:
    faces: list[FaceObservation] = field(default_factory=list)
    labels: tuple[str, ...] = ()
    image_size: tuple[int, int] = (0, 0)
    time_s: float = -math.inf


class MirrorPolicy:
    """Decides the robot's expression: call :meth:`observe` per frame and :meth:`step` per tick."""

    def __init__(self, config: MirrorConfig | None = None, mapping: ExpressionMapping | None = None) -> None:
        self.config = config or MirrorConfig()
        self.mapping = mapping or ExpressionMapping.identity()
        self._latest = _Observation()
        self._target: _Target | None = None
        self.expression = self.mapping.neutral
        self.intensity = 0.0
        self._since_s = -math.inf
        self._last_step_s: float | None = None

    # -- input -------------------------------------------------------------------------------------------

    def observe(
        self,
        faces: Sequence[FaceObservation],
        labels: Sequence[str],
        image_size: tuple[int, int],
        now_s: float,
    ) -> None:
        """The faces of one processed frame (an empty list: nobody seen), received at ``now_s``."""
        self._latest = _Observation(
            list(faces), tuple(labels), (int(image_size[0]), int(image_size[1])), now_s
        )
        self._update_target(now_s)

    def _goodness(self, face: FaceObservation, image_size: tuple[int, int]) -> float:
        x, y, w, h = face.box
        if self.config.target == "central":
            width, height = image_size
            if width <= 0 or height <= 0:
                return 0.0
            dx, dy = (x + w / 2 - width / 2) / (width / 2), (y + h / 2 - height / 2) / (height / 2)
            return max(0.0, 1.0 - math.hypot(dx, dy) / math.sqrt(2.0)) + 1e-6
        return max(w, 0.0) * max(h, 0.0)

    def _update_target(self, now_s: float) -> None:
        obs, config = self._latest, self.config
        candidates = obs.faces
        if config.target == "locked":
            candidates = [face for face in candidates if face.face_id == config.locked_face_id]
        scored = [(self._goodness(face, obs.image_size), face) for face in candidates]
        current = self._target
        seen = None
        if current is not None:
            seen = next((face for goodness, face in scored if face.face_id == current.face_id), None)
            if seen is not None:
                current.goodness = self._goodness(seen, obs.image_size)
                current.scores = self.mapping.map_scores(obs.labels, seen.scores)
                current.last_seen_s = now_s
        if not scored:
            return
        best_goodness, best = max(scored, key=lambda item: item[0])
        if current is not None and now_s - current.last_seen_s <= config.lost_timeout_s:
            if seen is None:  # a brief miss: wait for the target to come back
                return
            if (
                best.face_id == current.face_id
                or best_goodness < current.goodness * config.target_switch_ratio
            ):
                return
        self._target = _Target(
            best.face_id, best_goodness, self.mapping.map_scores(obs.labels, best.scores), now_s
        )

    def lock(self, face_id: str) -> None:
        """Follow ``face_id`` only (target mode ``locked``)."""
        self.config.target, self.config.locked_face_id = "locked", face_id
        if self._target is not None and self._target.face_id != face_id:
            self._target = None

    # -- output ------------------------------------------------------------------------------------------

    @property
    def target_face_id(self) -> str:
        return self._target.face_id if self._target is not None else ""

    def _target_visible(self, now_s: float) -> bool:
        target = self._target
        return target is not None and now_s - target.last_seen_s <= self.config.lost_timeout_s

    def _switch(self, expression: str, now_s: float) -> bool:
        if expression == self.expression or now_s - self._since_s < self.config.min_dwell_s:
            return False
        self.expression, self._since_s = expression, now_s
        return True

    def _decide(self, scores: dict[str, float], now_s: float) -> bool:
        config, current = self.config, self.expression
        best = max(scores, key=scores.__getitem__)
        current_score = scores.get(current, 0.0)
        if (
            best != current
            and scores[best] >= config.min_confidence
            and scores[best] >= current_score + config.hysteresis_margin
        ):
            return self._switch(best, now_s)
        if (
            current != self.mapping.neutral
            and current_score < config.min_confidence - config.hysteresis_margin
        ):
            return self._switch(self.mapping.neutral, now_s)
        return False

    @staticmethod
    def _approach(value: float, goal: float, dt_s: float, time_constant_s: float) -> float:
        if time_constant_s <= 0:
            return goal
        return goal + (value - goal) * math.exp(-dt_s / time_constant_s)

    def step(self, now_s: float) -> MirrorCommand:
        """The command at ``now_s`` (call at a fixed rate; times must not go backwards)."""
        dt = 0.0 if self._last_step_s is None else max(0.0, now_s - self._last_step_s)
        self._last_step_s = now_s
        config, changed = self.config, False
        if self._target_visible(now_s):
            scores = self._target.scores
            changed = self._decide(scores, now_s)
            goal = scores.get(self.expression, 0.0)
            self.intensity = self._approach(self.intensity, goal, dt, config.intensity_time_constant_s)
            return MirrorCommand(
                self.expression,
                _unit(self.intensity),
                self._target.face_id,
                _unit(scores.get(self.expression, 0.0)),
                changed,
            )
        # Nobody followed: fade out, then rest.
        self._target = None
        self.intensity = self._approach(self.intensity, 0.0, dt, config.decay_time_constant_s)
        if self.intensity < config.release_intensity:
            changed = self.expression != self.mapping.neutral and self._switch(self.mapping.neutral, now_s)
            if self.expression == self.mapping.neutral:
                self.intensity = 0.0
        return MirrorCommand(self.expression, _unit(self.intensity), "", 0.0, changed)


def _unit(value: float) -> float:
    return float(np.clip(value, 0.0, 1.0))
