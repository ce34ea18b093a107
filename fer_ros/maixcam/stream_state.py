"""Per-(device, session) bookkeeping of MaixCAM streams: order, loss, duplicates, labels and clock offset.

ROS-free and I/O-free: every method takes the host arrival time as an argument, so the logic is tested with
simulated loss, reordering, duplication and delay. The bridge node feeds it decoded datagrams.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field
from typing import Any

_SEQ_MOD = 1 << 32
_SEQ_HALF = 1 << 31


def seq_delta(seq: int, ref: int) -> int:
    """Signed distance seq - ref in 32-bit serial-number arithmetic (wraps at 2**32)."""
    d = (seq - ref) % _SEQ_MOD
    return d - _SEQ_MOD if d >= _SEQ_HALF else d


class ClockOffsetEstimator:
    """Maps device-monotonic microseconds to host nanoseconds.

    Each datagram gives ``arrival_host - send_device = offset + network_delay`` with delay >= 0, so the
    smallest value over a sliding window (of host time) is the offset plus the smallest delay: the
    least-delayed datagram defines the mapping. A monotonic deque keeps the running minimum in O(1) amortised
    time per sample. The window bounds how long one fast outlier is trusted and how much clock drift can
    accumulate.
    """

    def __init__(self, window_s: float = 10.0):
        self.window_ns = int(window_s * 1e9)
        self._samples: deque[tuple[int, int]] = deque()  # (host_ns, candidate_ns), candidates increasing

    def add(self, device_us: int, host_ns: int) -> None:
        candidate = host_ns - device_us * 1000
        samples = self._samples
        while samples and samples[-1][1] >= candidate:
            samples.pop()
        samples.append((host_ns, candidate))
        horizon = host_ns - self.window_ns
        while len(samples) > 1 and samples[0][0] < horizon:
            samples.popleft()

    @property
    def offset_ns(self) -> int | None:
        """host_ns - device_ns of the least-delayed datagram in the window, None before the first sample."""
        return self._samples[0][1] if self._samples else None

    def to_host_ns(self, device_us: int) -> int | None:
        offset = self.offset_ns
        return None if offset is None else device_us * 1000 + offset


class SeqVerdict(enum.Enum):
    NEWEST = "newest"  # newer than anything seen: the only kind that may be published
    DUPLICATE = "duplicate"  # seen before
    LATE = "late"  # older than the newest seen (reordered or delayed): counted, not published


@dataclass
class StreamCounters:
    datagrams: int = 0
    frames: int = 0
    metas: int = 0
    lost: int = 0  # sequence numbers skipped and not (yet) filled by a late datagram
    duplicates: int = 0
    late: int = 0
    resyncs: int = 0  # forward jumps too large to be loss
    published: int = 0
    stale: int = 0
    no_labels: int = 0  # frames before any META, or whose label checksum differs from the META's


class DeviceStream:
    """State of one session of one device (a session id is drawn at random each time the app starts)."""

    MAX_GAP = 10_000  # a larger forward jump is a resync, not ten thousand lost datagrams
    HISTORY = 1024  # sequence numbers remembered for duplicate / late detection

    def __init__(self, device_id: str, session_id: int, clock_window_s: float, host_ns: int):
        self.device_id = device_id
        self.session_id = session_id
        self.clock = ClockOffsetEstimator(clock_window_s)
        self.counters = StreamCounters()
        self.highest_seq: int | None = None
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._missing: set[int] = set()
        self._missing_order: deque[int] = deque()
        self.labels: tuple[str, ...] | None = None
        self.labels_crc: int | None = None
        self.meta: dict[str, Any] = {}
        self.started_ns = host_ns
        self.last_arrival_ns = host_ns
        self.last_meta_ns: int | None = None
        self.width = 0
        self.height = 0

    # -- sequence numbers
    def _remember(self, seq: int) -> None:
        self._seen.add(seq)
        self._seen_order.append(seq)
        if len(self._seen_order) > self.HISTORY:
            self._seen.discard(self._seen_order.popleft())

    def _mark_missing(self, seq: int) -> None:
        self._missing.add(seq)
        self._missing_order.append(seq)
        if len(self._missing_order) > self.HISTORY:
            self._missing.discard(self._missing_order.popleft())

    def classify_seq(self, seq: int) -> SeqVerdict:
        """Update loss / duplicate / late counters for ``seq`` and say where it stands."""
        c = self.counters
        if self.highest_seq is None:
            self.highest_seq = seq
            self._remember(seq)
            return SeqVerdict.NEWEST
        if seq in self._seen:
            c.duplicates += 1
            return SeqVerdict.DUPLICATE
        d = seq_delta(seq, self.highest_seq)
        if d > 0:
            if d > self.MAX_GAP:
                c.resyncs += 1
                self._missing.clear()
                self._missing_order.clear()
            else:
                for k in range(1, d):  # at most MAX_GAP
                    self._mark_missing((self.highest_seq + k) % _SEQ_MOD)
                c.lost += d - 1
            self.highest_seq = seq
            self._remember(seq)
            return SeqVerdict.NEWEST
        # older than the newest: either fills a gap counted as lost, or is too old to tell
        if seq in self._missing:
            self._missing.discard(seq)
            c.lost -= 1
        c.late += 1
        self._remember(seq)
        return SeqVerdict.LATE

    # -- messages
    def on_meta(self, labels: tuple[str, ...], labels_crc: int, info: dict[str, Any], host_ns: int) -> None:
        self.labels = labels
        self.labels_crc = labels_crc
        self.meta = info
        self.last_meta_ns = host_ns

    def labels_for(self, labels_crc: int, class_count: int) -> tuple[str, ...] | None:
        """The META labels if they match a frame's checksum and class count, else None."""
        if self.labels is None or labels_crc != self.labels_crc or len(self.labels) != class_count:
            return None
        return self.labels


@dataclass
class DeviceEntry:
    """A device and the session it currently streams; sessions it has left behind are refused."""

    device_id: str
    current: DeviceStream
    retired_sessions: deque[int] = field(default_factory=lambda: deque(maxlen=8))
    restarts: int = 0
    retired_datagrams: int = 0


class StreamTable:
    """All devices seen, each with its current session. A datagram from a new session id starts a new
    stream (the app restarted); datagrams still in flight from a retired session are counted and dropped."""

    def __init__(self, clock_window_s: float = 10.0, max_devices: int = 64):
        self.clock_window_s = clock_window_s
        self.max_devices = max_devices
        self.devices: dict[str, DeviceEntry] = {}
        self.refused_new_devices = 0

    def stream_for(self, device_id: str, session_id: int, host_ns: int) -> DeviceStream | None:
        entry = self.devices.get(device_id)
        if entry is None:
            if len(self.devices) >= self.max_devices:
                self.refused_new_devices += 1
                return None
            stream = DeviceStream(device_id, session_id, self.clock_window_s, host_ns)
            self.devices[device_id] = DeviceEntry(device_id, stream)
            return stream
        if entry.current.session_id == session_id:
            return entry.current
        if session_id in entry.retired_sessions:
            entry.retired_datagrams += 1
            return None
        entry.retired_sessions.append(entry.current.session_id)
        entry.restarts += 1
        entry.current = DeviceStream(device_id, session_id, self.clock_window_s, host_ns)
        return entry.current
