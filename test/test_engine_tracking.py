"""Hungarian assignment against brute force, FaceTracker ids / confirmation / drops, ExpressionSmoother."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from fer_ros.core.assignment import linear_sum_assignment
from fer_ros.core.smoothing import ExpressionSmoother
from fer_ros.core.tracker import FaceTracker, iou_matrix

# -- Hungarian method ----------------------------------------------------------------------------------------


def _brute_force(cost: np.ndarray) -> float:
    rows, cols = cost.shape
    if rows <= cols:
        return min(sum(cost[i, p[i]] for i in range(rows)) for p in itertools.permutations(range(cols), rows))
    return min(sum(cost[p[j], j] for j in range(cols)) for p in itertools.permutations(range(rows), cols))


def test_hungarian_equals_brute_force_on_random_rectangular_matrices() -> None:
    rng = np.random.default_rng(42)
    for k in range(200):
        shape = tuple(int(v) for v in rng.integers(1, 7, 2))
        # Half real-valued, half small integers (many ties), some with big forbidden-like entries.
        cost = rng.uniform(-5, 5, shape) if k % 2 else rng.integers(0, 4, shape).astype(float)
        if k % 5 == 0:
            cost[rng.random(shape) < 0.3] = 1e6
        rows, cols = linear_sum_assignment(cost)
        assert len(rows) == len(cols) == min(shape)
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
        assert list(rows) == sorted(rows)
        assert cost[rows, cols].sum() == pytest.approx(_brute_force(cost), abs=1e-9), cost


def test_hungarian_edge_cases() -> None:
    rows, cols = linear_sum_assignment(np.zeros((0, 3)))
    assert rows.size == cols.size == 0
    rows, cols = linear_sum_assignment(np.array([[3.0]]))
    assert rows.tolist() == [0] and cols.tolist() == [0]
    rows, cols = linear_sum_assignment(np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]))
    assert rows.tolist() == [0, 1] and cols.tolist() == [1, 0]
    with pytest.raises(ValueError):
        linear_sum_assignment(np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError):
        linear_sum_assignment(np.zeros(3))


# -- tracker ---------------------------------------------------------------------------------------------------


def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10], [100, 100, 10, 10]], float)
    b = np.array([[5, 0, 10, 10], [0, 0, 10, 10], [50, 50, 1, 1]], float)
    np.testing.assert_allclose(iou_matrix(a, b), [[50 / 150, 1.0, 0.0], [0.0, 0.0, 0.0]])


def test_ids_stay_with_three_moving_faces() -> None:
    """Three faces crossing the frame at different speeds, detections in random order, 30 Hz for 3 s."""
    tracker = FaceTracker(confirm_hits=2, max_misses=3)
    rng = np.random.default_rng(7)
    starts = np.array([[50.0, 100.0], [300.0, 120.0], [520.0, 300.0]])
    velocity = np.array([[120.0, 10.0], [-60.0, 40.0], [-150.0, -30.0]])  # px/s
    sizes = np.array([80.0, 70.0, 90.0])
    ids: dict[int, str] = {}
    for frame in range(90):
        t = frame / 30.0
        order = rng.permutation(3)
        centres = starts + velocity * t + rng.normal(0, 1.5, (3, 2))
        boxes = [(*(centres[i] - sizes[i] / 2), sizes[i], sizes[i]) for i in order]
        tracks = tracker.update(boxes, t)
        assert len({id(tr) for tr in tracks}) == 3, "two detections never share a track"
        for face, track in zip(order, tracks, strict=True):
            ids.setdefault(int(face), track.track_id)
            assert track.track_id == ids[int(face)], f"face {face} changed id at frame {frame}"
            assert track.confirmed == (frame >= 1)
    assert len(set(ids.values())) == 3
    assert len(tracker.tracks) == 3


def test_confirm_after_n_hits_and_drop_after_m_misses() -> None:
    tracker = FaceTracker(confirm_hits=3, max_misses=2)
    box = (100.0, 100.0, 80.0, 80.0)
    seen = [(track.track_id, track.confirmed) for t in range(4) for track in tracker.update([box], t / 10)]
    assert [confirmed for _, confirmed in seen] == [False, False, True, True]
    assert len({track_id for track_id, _ in seen}) == 1
    track_id = seen[0][0]
    # Two missed frames: the confirmed track survives and gets its face back.
    assert tracker.update([], 0.4) == [] and tracker.update([], 0.5) == []
    assert tracker.track_ids == {track_id}
    assert tracker.update([box], 0.6)[0].track_id == track_id
    # Three missed frames (> max_misses): dropped; the face comes back under a new id.
    for t in (0.7, 0.8, 0.9):
        tracker.update([], t)
    assert tracker.track_ids == set()
    again = tracker.update([box], 1.0)[0]
    assert again.track_id != track_id and not again.confirmed


def test_tentative_track_dies_at_its_first_miss() -> None:
    tracker = FaceTracker(confirm_hits=3, max_misses=5)
    first = tracker.update([(0.0, 0.0, 50.0, 50.0)], 0.0)[0]
    tracker.update([], 0.1)
    assert tracker.tracks == []
    assert tracker.update([(0.0, 0.0, 50.0, 50.0)], 0.2)[0].track_id != first.track_id


def test_confirm_hits_one_confirms_at_once() -> None:
    assert FaceTracker(confirm_hits=1).update([(0.0, 0.0, 50.0, 50.0)], 0.0)[0].confirmed


def test_two_close_detections_never_share_a_track() -> None:
    tracker = FaceTracker(confirm_hits=1)
    (single,) = tracker.update([(100.0, 100.0, 80.0, 80.0)], 0.0)
    # Next frame two faces overlap the old one: one keeps the id, the other gets a new track.
    a, b = tracker.update([(98.0, 100.0, 80.0, 80.0), (110.0, 104.0, 80.0, 80.0)], 0.1)
    assert a is not b and a.track_id != b.track_id
    assert single.track_id in (a.track_id, b.track_id)
    assert a.track_id == single.track_id, "the better-overlapping detection keeps the id"


def test_far_jump_starts_a_new_track() -> None:
    tracker = FaceTracker(confirm_hits=1)
    first = tracker.update([(0.0, 0.0, 50.0, 50.0)], 0.0)[0]
    jumped = tracker.update([(400.0, 300.0, 50.0, 50.0)], 0.033)[0]
    assert jumped.track_id != first.track_id


def test_random_sequences_keep_assignments_unique() -> None:
    rng = np.random.default_rng(5)
    tracker = FaceTracker(confirm_hits=2, max_misses=2)
    all_ids: set[str] = set()
    for frame in range(200):
        n = int(rng.integers(0, 6))
        xy = rng.uniform(0, 500, (n, 2))
        boxes = np.column_stack([xy, rng.uniform(30, 90, (n, 1)).repeat(2, axis=1)])
        tracks = tracker.update(boxes, frame / 15)
        assert len(tracks) == n
        assert len({t.track_id for t in tracks}) == n
        all_ids |= {t.track_id for t in tracks}
        assert len(tracker.tracks) == len(tracker.track_ids)
    tracker.reset()
    assert tracker.tracks == []
    assert tracker.update([(0.0, 0.0, 40.0, 40.0)], 100.0)[0].track_id not in all_ids, "ids are never reused"


# -- smoothing -------------------------------------------------------------------------------------------------


def _step_response(smoother: ExpressionSmoother, fps: float, seconds: float) -> dict[float, float]:
    """Feed [1, 0] at t=0 then [0, 1] at fps; the smoothed second score at every frame time."""
    smoother.update("face1", np.array([1.0, 0.0]), 0.0)
    out = {}
    for k in range(1, int(round(seconds * fps)) + 1):
        t = k / fps
        scores, _, _ = smoother.update("face1", np.array([0.0, 1.0]), t)
        out[round(t, 6)] = float(scores[1])
    return out


def test_smoothing_is_frame_rate_independent() -> None:
    tau = 0.3
    slow = _step_response(ExpressionSmoother(tau, hysteresis_margin=0.0), 10.0, 1.5)
    fast = _step_response(ExpressionSmoother(tau, hysteresis_margin=0.0), 30.0, 1.5)
    for t in (0.1, 0.3, 0.6, 1.0, 1.5):
        assert slow[t] == pytest.approx(fast[t], abs=1e-5), t
        assert slow[t] == pytest.approx(1 - math.exp(-t / tau), abs=1e-5)
    # A longer time constant responds more slowly.
    lazy = _step_response(ExpressionSmoother(1.0, hysteresis_margin=0.0), 30.0, 1.5)
    assert lazy[0.3] < fast[0.3]
    # time_constant 0: no smoothing at all.
    none = _step_response(ExpressionSmoother(0.0), 10.0, 0.3)
    assert none[0.1] == 1.0


def test_hysteresis_prevents_flip_flop() -> None:
    near_tie = [np.array([0.52, 0.48]), np.array([0.47, 0.53])]
    # No smoothing, so only the hysteresis decides.
    sticky = ExpressionSmoother(0.0, hysteresis_margin=0.1)
    jumpy = ExpressionSmoother(0.0, hysteresis_margin=0.0)
    sticky_labels, jumpy_labels = [], []
    for k in range(20):
        sticky_labels.append(sticky.update("f", near_tie[k % 2], k / 30)[1])
        jumpy_labels.append(jumpy.update("f", near_tie[k % 2], k / 30)[1])
    assert set(sticky_labels) == {0}
    assert jumpy_labels == [k % 2 for k in range(20)]
    # A clear change still switches, and the confidence is the reported label's smoothed score.
    scores, top, confidence = sticky.update("f", np.array([0.2, 0.8]), 1.0)
    assert top == 1 and confidence == pytest.approx(0.8)
    np.testing.assert_allclose(scores, [0.2, 0.8])


def test_smoother_keeps_tracks_apart_and_prunes() -> None:
    smoother = ExpressionSmoother(0.3)
    smoother.update("a", np.array([1.0, 0.0]), 0.0)
    smoother.update("b", np.array([0.0, 1.0]), 0.0)
    a, _, _ = smoother.update("a", np.array([1.0, 0.0]), 0.1)
    np.testing.assert_allclose(a, [1.0, 0.0])
    smoother.prune(["b"])
    # "a" was forgotten: its next update starts from scratch.
    fresh, top, _ = smoother.update("a", np.array([0.0, 1.0]), 0.2)
    np.testing.assert_allclose(fresh, [0.0, 1.0])
    assert top == 1
    # A timestamp going back (e.g. a replayed bag) restarts the track instead of extrapolating.
    back, _, _ = smoother.update("b", np.array([1.0, 0.0]), -1.0)
    np.testing.assert_allclose(back, [1.0, 0.0])
    with pytest.raises(ValueError):
        ExpressionSmoother(-1.0)
