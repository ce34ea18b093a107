"""Bridge logic without ROS: loss / reorder / duplicate simulation, clock offset, labels, trust, sessions."""

from __future__ import annotations

import random

import pytest

from fer_ros.maixcam.receiver import MaixReceiver, ReceiverConfig, Verdict
from fer_ros.maixcam.stream_state import ClockOffsetEstimator, DeviceStream, SeqVerdict, seq_delta
from maixcam_bridge import fer_maix_protocol as P

LABELS = ["angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral"]
CRC = P.labels_checksum(LABELS)
MS = 1_000_000  # ns


class Device:
    """A simulated device: its own monotonic clock (µs) that is `offset_us` behind the host's."""

    def __init__(self, name: str = "cam-1", session: int = 7, offset_us: int = 3_600_000_000, key=None):
        self.name, self.session, self.offset_us, self.key = name, session, offset_us, key
        self.seq = 0

    def device_us(self, host_ns: int) -> int:
        return host_ns // 1000 + self.offset_us

    def meta(self, host_ns: int, labels=LABELS) -> tuple[int, bytes]:
        self.seq += 1
        return self.seq, P.encode_meta(
            self.name,
            self.session,
            self.seq,
            self.device_us(host_ns),
            {"labels": labels, "fps": 25.0},
            key=self.key,
        )

    def frame(self, host_ns: int, n_faces: int = 1, latency_us: int = 20_000) -> tuple[int, bytes]:
        self.seq += 1
        faces = [
            P.Face(
                10 * i,
                10,
                50,
                60,
                0.9,
                tuple(range(10)),
                3,
                P.FACE_CLASSIFIED,
                i + 1,
                [0.05, 0.05, 0.05, 0.7, 0.05, 0.05, 0.05],
            )
            for i in range(n_faces)
        ]
        send = self.device_us(host_ns)
        return self.seq, P.encode_frame(
            self.name, self.session, self.seq, send, send - latency_us, 320, 224, CRC, 7, faces, key=self.key
        )


def test_seq_delta_wraps() -> None:
    assert seq_delta(5, 3) == 2 and seq_delta(3, 5) == -2
    assert seq_delta(1, 0xFFFFFFFF) == 2 and seq_delta(0xFFFFFFFF, 1) == -2


def test_sequence_classification_across_the_wrap() -> None:
    s = DeviceStream("d", 1, 10.0, 0)
    verdicts = [s.classify_seq(q) for q in (0xFFFFFFFE, 0xFFFFFFFF, 1, 0, 1, 2)]
    assert verdicts == [
        SeqVerdict.NEWEST,
        SeqVerdict.NEWEST,
        SeqVerdict.NEWEST,
        SeqVerdict.LATE,
        SeqVerdict.DUPLICATE,
        SeqVerdict.NEWEST,
    ]
    assert (s.counters.lost, s.counters.late, s.counters.duplicates) == (0, 1, 1)


def test_huge_forward_jump_is_a_resync_not_a_loss() -> None:
    s = DeviceStream("d", 1, 10.0, 0)
    s.classify_seq(1)
    s.classify_seq(1_000_000)
    assert s.counters.lost == 0 and s.counters.resyncs == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_loss_reorder_duplicate_simulation(seed: int) -> None:
    """Frames through a channel that drops 10 %, duplicates 5 % and delays by a random 0.2..90 ms."""
    rng = random.Random(seed)
    dev = Device()
    rx = MaixReceiver(ReceiverConfig(max_age_ms=0))  # no stale drop here: only order is under test
    sent: list[tuple[int, int, bytes]] = []  # (arrival_ns, seq, datagram)
    t = 1_000 * MS
    sent.append((t, *dev.meta(t)))
    for _ in range(2000):
        t += 33 * MS
        seq, data = dev.frame(t)
        if rng.random() < 0.10:
            continue
        copies = 2 if rng.random() < 0.05 else 1
        for _ in range(copies):
            sent.append((t + int(rng.uniform(0.2, 90) * MS), seq, data))
    sent.sort(key=lambda x: x[0])

    # independent model of what the bridge must count
    seen: set[int] = set()
    highest = 0
    exp_dup = exp_late = 0
    published_model = []
    for _, seq, _ in sent:
        if seq in seen:
            exp_dup += 1
            continue
        seen.add(seq)
        if seq > highest:
            highest = seq
            if seq != 1:
                published_model.append(seq)
        else:
            exp_late += 1
    exp_lost = highest - len(seen)

    published = []
    for arrival, _, data in sent:
        out = rx.handle(data, "127.0.0.1", arrival).frame
        if out is not None:
            published.append(out.frame.seq)
    c = rx.table.devices["cam-1"].current.counters
    assert published == published_model
    assert published == sorted(set(published))  # newest only: strictly increasing
    assert (c.lost, c.duplicates, c.late) == (exp_lost, exp_dup, exp_late)
    assert exp_lost > 100 and exp_dup > 50 and exp_late > 50  # the channel really was bad
    assert c.published == len(published) and rx.counters.rejected == 0


def test_clock_offset_is_the_minimum_delay_over_the_window() -> None:
    est = ClockOffsetEstimator(window_s=2.0)
    true_offset_ns = 5_000 * MS  # host = device + 5 s
    rng = random.Random(4)
    for k in range(200):
        host = 10_000 * MS + k * 20 * MS
        delay = int(rng.uniform(1, 30) * MS) if k != 50 else int(0.1 * MS)
        device_us = (host - true_offset_ns) // 1000
        est.add(device_us, host + delay)
        assert est.offset_ns is not None and est.offset_ns >= true_offset_ns
    # the 0.1 ms datagram (k=50) left the 2 s window long ago: the estimate is the window's best, within 30 ms
    assert 0 < est.offset_ns - true_offset_ns < 30 * MS
    assert est.to_host_ns(1_000) == 1_000_000 + est.offset_ns
    est2 = ClockOffsetEstimator(window_s=100.0)
    for k in range(200):
        host = k * 20 * MS
        delay = int(rng.uniform(1, 30) * MS) if k != 50 else int(0.1 * MS)
        est2.add((host - true_offset_ns) // 1000, host + delay)
    assert est2.offset_ns - true_offset_ns == int(0.1 * MS)


def test_stamp_is_capture_time_on_the_host_clock_and_stale_frames_are_dropped() -> None:
    dev = Device()
    rx = MaixReceiver(ReceiverConfig(max_age_ms=100))
    t = 50_000 * MS
    rx.handle(dev.meta(t)[1], "10.0.0.2", t + 1 * MS)  # 1 ms network delay
    t += 40 * MS
    out = rx.handle(dev.frame(t, latency_us=20_000)[1], "10.0.0.2", t + 1 * MS).frame
    assert out is not None
    # offset estimate = true offset + 1 ms; capture was 20 ms before sending
    assert out.stamp_ns == t - 20 * MS + 1 * MS
    t += 40 * MS
    assert rx.handle(dev.frame(t)[1], "10.0.0.2", t + 150 * MS).frame is None  # arrived 150 ms late
    assert rx.table.devices["cam-1"].current.counters.stale == 1


def test_frames_wait_for_matching_labels() -> None:
    dev = Device()
    rx = MaixReceiver(ReceiverConfig(max_age_ms=0))
    t = 1000 * MS
    assert rx.handle(dev.frame(t)[1], "h", t).frame is None
    rx.handle(dev.meta(t, labels=LABELS[:6] + ["calm"])[1], "h", t)
    assert rx.handle(dev.frame(t)[1], "h", t).frame is None  # checksum differs from this META
    rx.handle(dev.meta(t)[1], "h", t)
    out = rx.handle(dev.frame(t)[1], "h", t).frame
    assert out is not None and out.labels == tuple(LABELS)
    assert rx.table.devices["cam-1"].current.counters.no_labels == 2


def test_session_restart_starts_a_new_stream_and_refuses_the_old_one() -> None:
    rx = MaixReceiver(ReceiverConfig(max_age_ms=0))
    t = 1000 * MS
    old, new = Device(session=1), Device(session=2)
    rx.handle(old.meta(t)[1], "h", t)
    assert rx.handle(old.frame(t)[1], "h", t).frame is not None
    t += 3000 * MS  # the app restarted (which takes seconds): seq starts again at 1
    rx.handle(new.meta(t)[1], "h", t)
    assert rx.handle(new.frame(t)[1], "h", t).frame is not None
    assert rx.handle(old.frame(t)[1], "h", t).frame is None  # a straggler of the old session
    entry = rx.table.devices["cam-1"]
    assert entry.current.session_id == 2 and entry.restarts == 1 and entry.retired_datagrams == 1
    assert rx.counters.by_reason["retired_session"] == 1


def test_several_devices_are_kept_apart() -> None:
    rx = MaixReceiver(ReceiverConfig(max_age_ms=0))
    a, b = Device("cam-a", session=1), Device("cam-b", session=1, offset_us=123_456)
    t = 1000 * MS
    for d in (a, b):
        rx.handle(d.meta(t)[1], "h", t)
    outs = [
        rx.handle(d.frame(t + k * MS, n_faces=1 + (d is b))[1], "h", t + k * MS).frame
        for k in range(10)
        for d in (a, b)
    ]
    assert all(o is not None for o in outs)
    assert {o.frame.device_id for o in outs} == {"cam-a", "cam-b"}
    assert all(len(o.frame.faces) == (2 if o.frame.device_id == "cam-b" else 1) for o in outs)
    assert rx.table.devices["cam-a"].current.counters.lost == 0
    assert rx.table.devices["cam-b"].current.counters.lost == 0


def test_trust_rules_reject_and_count() -> None:
    key = b"secret"
    rx = MaixReceiver(
        ReceiverConfig(
            hmac_key=key,
            allowed_sources=frozenset({"10.0.0.5"}),
            allowed_devices=frozenset({"cam-1"}),
            max_age_ms=0,
        )
    )
    t = 1000 * MS
    good = Device(key=key)
    assert rx.handle(good.meta(t)[1], "10.0.0.5", t) == Verdict()  # accepted, nothing to publish
    accepted = rx.handle(good.frame(t)[1], "10.0.0.5", t)
    assert accepted.frame is not None and accepted.rejection is None
    refused = {
        "source_rejected": rx.handle(good.frame(t)[1], "10.0.0.6", t),  # other source address
        "device_rejected": rx.handle(Device("cam-2", key=key).frame(t)[1], "10.0.0.5", t),  # other device
        "auth_errors": rx.handle(Device(key=b"wrong").frame(t)[1], "10.0.0.5", t),  # wrong key
        "foreign_datagrams": rx.handle(b"\x00" * 80, "10.0.0.5", t),  # not ours
    }
    for reason, verdict in refused.items():
        assert verdict.frame is None and verdict.rejection[0] == reason and verdict.rejection[1], verdict
    assert rx.handle(Device().frame(t)[1], "10.0.0.5", t).rejection[0] == "auth_errors"  # unsigned
    r = rx.counters.by_reason
    assert (r["source_rejected"], r["device_rejected"], r["auth_errors"], r["foreign_datagrams"]) == (
        1,
        1,
        2,
        1,
    )
    assert rx.counters.rejected == 5 and rx.table.devices["cam-1"].current.counters.published == 1


def test_too_many_devices_are_refused() -> None:
    rx = MaixReceiver(ReceiverConfig(max_age_ms=0, max_devices=2))
    t = 1000 * MS
    for name in ("a", "b", "c"):
        rx.handle(Device(name).meta(t)[1], "h", t)
    assert set(rx.table.devices) == {"a", "b"} and rx.counters.by_reason["too_many_devices"] == 1


# -- hostile traffic (issue 17) ----------------------------------------------------------------------------


def live_share(rx: MaixReceiver, dev: Device, attack, frames: int = 200, per_frame: int = 10) -> float:
    """Share of ``dev``'s frames published while ``attack(t)`` sends ``per_frame`` datagrams per frame."""
    t = 10_000 * MS
    rx.handle(dev.meta(t)[1], "10.0.0.2", t, 5000)
    published = 0
    for k in range(frames):
        t += 40 * MS
        for j in range(per_frame):
            attack(t + j * MS, k * per_frame + j)
        if k % 25 == 0:
            rx.handle(dev.meta(t)[1], "10.0.0.2", t + 2 * MS, 5000)
        published += rx.handle(dev.frame(t)[1], "10.0.0.2", t + 2 * MS, 5000).frame is not None
    return published / frames


def test_a_spoofed_new_session_cannot_retire_a_live_camera_without_a_key() -> None:
    rx = MaixReceiver(ReceiverConfig(max_age_ms=0))
    spoof = Device(session=0xFFFFFFF0)
    share = live_share(rx, Device(session=5), lambda t, i: rx.handle(spoof.meta(t)[1], "10.0.0.66", t, 666))
    assert share == 1.0
    assert rx.counters.by_reason["session_conflict"] == 2000
    assert rx.table.devices["cam-1"].current.session_id == 5


def test_same_session_datagrams_from_another_address_are_refused_without_a_key() -> None:
    rx = MaixReceiver(ReceiverConfig(max_age_ms=0))
    live = Device(session=5)
    twin = Device(session=5)

    def jump(t, i):  # the live session's id with sequence numbers far ahead: would make the camera "late"
        twin.seq = live.seq + 5000 + i
        rx.handle(twin.frame(t)[1], "10.0.0.66", t, 666)

    assert live_share(rx, live, jump) == 1.0
    assert rx.counters.by_reason["source_mismatch"] == 2000


def test_replayed_older_session_is_refused_before_and_after_a_bridge_restart(tmp_path) -> None:
    key = b"k"
    state = str(tmp_path / "sessions.json")
    config = ReceiverConfig(hmac_key=key, max_age_ms=0, state_file=state)
    t = 1000 * MS
    old = Device(session=100, key=key)
    recorded = [old.meta(t)[1]] + [old.frame(t + k * 40 * MS)[1] for k in range(10)]
    rx = MaixReceiver(config)
    for d in recorded:
        rx.handle(d, "10.0.0.2", t, 5000)
    live = Device(session=101, key=key)  # the app restarted: a higher session id, accepted at once
    t += 500 * MS
    rx.handle(live.meta(t)[1], "10.0.0.2", t, 5001)
    assert rx.table.devices["cam-1"].current.session_id == 101
    share = live_share(rx, live, lambda tt, i: rx.handle(recorded[i % len(recorded)], "10.0.0.66", tt, 9))
    assert share == 1.0 and rx.counters.by_reason["retired_session"] == 2000
    # the bridge restarts: the replay is still older than the persisted high-water mark
    rx2 = MaixReceiver(config)
    for d in recorded:
        assert rx2.handle(d, "10.0.0.66", t, 9).frame is None
    assert rx2.counters.by_reason["old_session"] == len(recorded) and not rx2.table.devices
    live2 = Device(session=101, key=key)
    live2.seq = 10_000
    share = live_share(rx2, live2, lambda tt, i: rx2.handle(recorded[i % len(recorded)], "10.0.0.66", tt, 9))
    assert share == 1.0


def test_replayed_datagrams_do_not_move_the_clock() -> None:
    rx = MaixReceiver(ReceiverConfig(max_age_ms=0))
    dev = Device(session=3)
    t = 1000 * MS
    rx.handle(dev.meta(t)[1], "h", t)
    early = dev.frame(t)[1]
    for k in range(1, 5):
        rx.handle(dev.frame(t + k * 40 * MS)[1], "h", t + k * 40 * MS + 5 * MS)
    stream = rx.table.devices["cam-1"].current
    offset = stream.clock.offset_ns
    assert rx.handle(early, "h", t + 200 * MS).frame is None  # late: counted, not a clock sample
    assert stream.clock.offset_ns == offset and stream.counters.late == 1


def test_device_time_going_backwards_or_leaping_ahead_is_refused() -> None:
    rx = MaixReceiver(ReceiverConfig(max_age_ms=0))
    dev = Device(session=3)
    t = 1000 * MS
    rx.handle(dev.meta(t)[1], "h", t)
    assert rx.handle(dev.frame(t)[1], "h", t).frame is not None
    dev.offset_us -= 10_000_000  # device clock 10 s back
    assert rx.handle(dev.frame(t + 40 * MS)[1], "h", t + 40 * MS).frame is None
    dev.offset_us += 3600_000_000  # an hour ahead of the host
    assert rx.handle(dev.frame(t + 80 * MS)[1], "h", t + 80 * MS).frame is None
    assert rx.table.devices["cam-1"].current.counters.clock_errors == 2


def test_capture_long_before_send_is_stale_even_without_max_age() -> None:
    rx = MaixReceiver(ReceiverConfig(max_age_ms=0))
    dev = Device(session=3)
    t = 100_000 * MS
    rx.handle(dev.meta(t)[1], "h", t)
    assert rx.handle(dev.frame(t, latency_us=61_000_000)[1], "h", t).frame is None
    assert rx.table.devices["cam-1"].current.counters.stale == 1


def test_made_up_devices_are_bounded_per_source_and_evicted_when_idle() -> None:
    rx = MaixReceiver(
        ReceiverConfig(max_age_ms=0, max_devices=16, max_devices_per_source=4, device_idle_timeout_s=5.0)
    )
    t = 1000 * MS
    for i in range(20):
        rx.handle(Device(f"fake{i}").meta(t)[1], "10.0.0.66", t, 666)
    assert len(rx.table.devices) == 4 and rx.counters.by_reason["too_many_devices_from_source"] == 16
    real = Device("real")
    rx.handle(real.meta(t)[1], "10.0.0.2", t, 5000)
    assert rx.handle(real.frame(t)[1], "10.0.0.2", t, 5000).frame is not None
    # from many addresses: the table fills up, and idle entries make room again
    for i in range(20):
        rx.handle(Device(f"spread{i}").meta(t)[1], f"10.0.1.{i}", t, 666)
    assert len(rx.table.devices) == 16 and rx.counters.by_reason["too_many_devices"] == 9
    late = Device("late")
    assert rx.handle(late.meta(t + 1000 * MS)[1], "10.0.0.3", t + 1000 * MS).frame is None
    t += 6000 * MS  # the made-up devices went silent; "real" keeps streaming
    rx.handle(real.frame(t)[1], "10.0.0.2", t, 5000)
    rx.handle(late.meta(t)[1], "10.0.0.3", t)
    assert rx.handle(late.frame(t)[1], "10.0.0.3", t).frame is not None
    assert "real" in rx.table.devices and rx.table.evicted_devices == 1
