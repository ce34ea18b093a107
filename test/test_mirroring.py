"""The mirroring policy on synthetic and recorded score sequences: no flicker, dwell time, decay, targets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from fer_ros.core.labels import CANONICAL_LABELS
from fer_ros.core.mirroring import (
    ExpressionMapping,
    FaceObservation,
    MirrorCommand,
    MirrorConfig,
    MirrorPolicy,
)

ROOT = Path(__file__).resolve().parent.parent
LABELS = CANONICAL_LABELS
SIZE = (640, 480)


def scores(**values: float) -> list[float]:
    """A score vector in LABELS order; the rest of the mass is spread over the unnamed labels."""
    rest = [label for label in LABELS if label not in values]
    left = max(0.0, 1.0 - sum(values.values())) / len(rest)
    return [values.get(label, left) for label in LABELS]


def face(scores_: list[float], face_id: str = "face1", box=(270.0, 190.0, 100.0, 100.0)) -> FaceObservation:
    return FaceObservation(face_id, box, scores_)


def simulate(
    policy: MirrorPolicy, frames, frame_hz: float = 30.0, tick_hz: float = 10.0, start_s: float = 100.0
) -> list[tuple[float, MirrorCommand]]:
    """Feed ``frames`` (a list of face lists, one per camera frame) and step at ``tick_hz``."""
    commands = []
    next_tick = start_s
    for index, faces in enumerate(frames):
        now = start_s + index / frame_hz
        policy.observe(faces, LABELS, SIZE, now)
        while next_tick <= now:
            commands.append((next_tick, policy.step(next_tick)))
            next_tick += 1.0 / tick_hz
    return commands


def changes(commands) -> list[tuple[float, str]]:
    """(time, expression) at every change of the commanded expression."""
    result, last = [], None
    for time_s, command in commands:
        if command.expression != last:
            result.append((time_s, command.expression))
            last = command.expression
    return result


def test_alternating_near_ties_do_not_flicker() -> None:
    frames = [
        [face(scores(happy=0.56, sad=0.42) if i % 2 else scores(sad=0.56, happy=0.42))] for i in range(300)
    ]
    commands = simulate(MirrorPolicy(MirrorConfig(min_dwell_s=0.5)), frames)
    shown = {c.expression for _, c in commands}
    assert len(changes(commands)) <= 2, changes(commands)  # neutral -> one of them, then nothing
    assert len(shown - {"neutral"}) <= 1


def test_short_spikes_are_ignored_and_a_held_expression_stays() -> None:
    rng = np.random.default_rng(3)
    frames = []
    for i in range(450):  # 15 s at 30 Hz
        values = scores(happy=0.75)
        if i > 30 and rng.random() < 0.12:  # one-frame spikes of a random other label
            other = str(rng.choice([label for label in LABELS if label != "happy"]))
            values = scores(**{other: 0.9})
        values = list(np.clip(np.asarray(values) + rng.normal(0, 0.03, len(values)), 0, 1))
        frames.append([face(values)])
    # The input of the policy is the pipeline's smoothed scores: smooth like it does (0.3 s EMA).
    smoothed, state = [], None
    alpha = 1 - math.exp(-1 / 30 / 0.3)
    for (observation,) in frames:
        state = (
            np.asarray(observation.scores) if state is None else state + alpha * (observation.scores - state)
        )
        smoothed.append([face(list(state))])
    commands = simulate(MirrorPolicy(MirrorConfig()), smoothed)
    assert [expression for _, expression in changes(commands)] == ["happy"]
    assert all(c.face_id == "face1" for _, c in commands)
    assert commands[-1][1].intensity > 0.6


def test_dwell_time_is_respected_against_an_adversarial_sequence() -> None:
    rng = np.random.default_rng(7)
    frames, current = [], "happy"
    for i in range(900):  # 30 s; a new confident expression every 0.2 s
        if i % 6 == 0:
            current = str(rng.choice(LABELS))
        frames.append([face(scores(**{current: 0.95}))])
    config = MirrorConfig(min_dwell_s=1.2)
    commands = simulate(MirrorPolicy(config), frames)
    times = [t for t, _ in changes(commands)]
    assert len(times) >= 5, "the sequence should make the policy change several times"
    gaps = np.diff(times[1:])  # from the first real change on
    assert gaps.min() >= config.min_dwell_s - 1e-9, gaps


def test_a_real_change_is_followed_promptly() -> None:
    frames = [[face(scores(happy=0.8))]] * 90 + [[face(scores(sad=0.8))]] * 90
    commands = simulate(MirrorPolicy(MirrorConfig(min_dwell_s=1.0)), frames)
    assert [e for _, e in changes(commands)] == ["happy", "sad"]
    switch_time = changes(commands)[1][0]
    assert switch_time - (100.0 + 90 / 30) <= 0.11  # at the first tick after the change (dwell long past)


def test_lost_face_decays_to_neutral() -> None:
    config = MirrorConfig(
        lost_timeout_s=0.5, decay_time_constant_s=0.4, release_intensity=0.05, min_dwell_s=1.0
    )
    frames = [[face(scores(happy=0.9))]] * 60 + [[]] * 150  # 2 s seen, then 5 s nobody
    commands = simulate(MirrorPolicy(config), frames)
    lost_at = 100.0 + 60 / 30
    after = [(t, c) for t, c in commands if t >= lost_at]
    intensities = [c.intensity for _, c in after]
    assert all(b <= a + 1e-9 for a, b in zip(intensities[5:], intensities[6:], strict=False))
    neutral_at = next(t for t, c in after if c.expression == "neutral")
    expected = config.lost_timeout_s + config.decay_time_constant_s * math.log(0.9 / config.release_intensity)
    assert neutral_at - lost_at == pytest.approx(expected, abs=0.25)
    final = commands[-1][1]
    assert (final.expression, final.intensity, final.face_id, final.source_confidence) == (
        "neutral",
        0.0,
        "",
        0.0,
    )
    # before the timeout the target is held through a brief miss
    assert all(c.face_id == "face1" for t, c in after if t < lost_at + config.lost_timeout_s - 0.05)


def test_brief_misses_do_not_drop_the_target() -> None:
    frames = [[face(scores(happy=0.9))] if i % 5 != 4 else [] for i in range(150)]  # every fifth frame empty
    commands = simulate(MirrorPolicy(MirrorConfig()), frames)
    assert [e for _, e in changes(commands)] == ["happy"]
    assert all(c.face_id == "face1" for _, c in commands)


def test_target_modes() -> None:
    big_happy = FaceObservation("big", (20.0, 20.0, 200.0, 200.0), scores(happy=0.9))
    small_central_sad = FaceObservation("central", (300.0, 220.0, 60.0, 60.0), scores(sad=0.9))
    frames = [[big_happy, small_central_sad]] * 30
    for target, expected in (("largest", ("happy", "big")), ("central", ("sad", "central"))):
        command = simulate(MirrorPolicy(MirrorConfig(target=target)), frames)[-1][1]
        assert (command.expression, command.face_id) == expected, target
    locked = simulate(MirrorPolicy(MirrorConfig(target="locked", locked_face_id="central")), frames)[-1][1]
    assert (locked.expression, locked.face_id) == ("sad", "central")
    nobody = simulate(MirrorPolicy(MirrorConfig(target="locked", locked_face_id="absent")), frames)[-1][1]
    assert (nobody.expression, nobody.face_id) == ("neutral", "")


def test_target_does_not_hop_between_similar_faces() -> None:
    frames = []
    for i in range(120):
        grow = 5.0 if i % 2 else -5.0  # the two faces take turns at being slightly larger
        frames.append(
            [
                FaceObservation("a", (0.0, 0.0, 100.0 + grow, 100.0), scores(happy=0.9)),
                FaceObservation("b", (300.0, 0.0, 100.0 - grow, 100.0), scores(sad=0.9)),
            ]
        )
    commands = simulate(MirrorPolicy(MirrorConfig()), frames)
    assert len({c.face_id for _, c in commands}) == 1
    assert len(changes(commands)) == 1


def test_mapping_file_maps_onto_the_robot_set() -> None:
    mapping = ExpressionMapping.from_yaml(ROOT / "config" / "mirror_mapping.yaml")
    assert "contempt" not in mapping.robot_expressions and "disgusted" not in mapping.robot_expressions
    robot = mapping.map_scores(LABELS, scores(disgusted=0.5, angry=0.3))
    assert robot["angry"] == pytest.approx(0.8)
    policy = MirrorPolicy(MirrorConfig(), mapping)
    disgusted = simulate(policy, [[face(scores(disgusted=0.9))]] * 30)[-1][1]
    assert disgusted.expression == "angry"
    contempt = simulate(MirrorPolicy(MirrorConfig(), mapping), [[face(scores(contempt=0.9))]] * 30)[-1][1]
    assert contempt.expression == "neutral"  # ignored label: nothing confident to show


@pytest.mark.parametrize(
    "data, message",
    [
        ({"robot_expressions": ["neutral", "happy"], "mapping": {"sad": "crying"}}, "crying"),
        ({"robot_expressions": ["neutral"], "mapping": {"hapy": "neutral"}}, "hapy"),
        ({"robot_expressions": ["happy"], "mapping": {}}, "rest expression"),
        ({"mapping": {}}, "robot_expressions"),
    ],
)
def test_invalid_mappings_are_refused(data, message) -> None:
    with pytest.raises(ValueError, match=message):
        ExpressionMapping.from_dict(data)


def test_recorded_scores_from_a_real_video(shared_dir: Path) -> None:
    """The pipeline's per-frame (unsmoothed) scores on a real clip, fed to the policy: the raw labels flicker,
    the commands change rarely and never before the dwell time."""
    cv2 = pytest.importorskip("cv2")
    from fer_ros.core.pipeline import PipelineConfig
    from fer_ros.models.build import build_pipeline

    pipeline = build_pipeline(PipelineConfig(keep_crops=False))
    capture = cv2.VideoCapture(str(shared_dir / "media" / "pyfeat" / "WolfgangLanger_Pexels.mp4"))
    fps = capture.get(cv2.CAP_PROP_FPS) or 24.0
    policy = MirrorPolicy(MirrorConfig(min_dwell_s=1.0))
    raw_tops, commands = [], []
    next_tick, index = 0.0, 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        now = index / fps
        index += 1
        result = pipeline.process(frame, now)
        raw_tops.extend(str(result.labels[int(np.argmax(f.raw_scores))]) for f in result.faces[:1])
        observed = [FaceObservation(f.face_id, f.box, f.raw_scores.tolist()) for f in result.faces]
        policy.observe(observed, result.labels, result.image_size, now)
        while next_tick <= now:
            commands.append((next_tick, policy.step(next_tick)))
            next_tick += 0.1
    capture.release()
    assert index > 400, "the clip should have been read"
    raw_flips = sum(a != b for a, b in zip(raw_tops, raw_tops[1:], strict=False))
    assert raw_flips >= 3, (
        f"the clip's raw labels should flicker for this test to mean anything ({raw_flips})"
    )
    times = [t for t, _ in changes(commands)]
    assert len(times) - 1 <= max(2, raw_flips // 4), (raw_flips, changes(commands))
    gaps = np.diff(times[1:])
    assert gaps.size == 0 or gaps.min() >= policy.config.min_dwell_s - 1e-9
    assert commands[-1][1].face_id
