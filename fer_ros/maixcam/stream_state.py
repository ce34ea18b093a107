"""Per-(device, session) bookkeeping of MaixCAM streams: order, loss, duplicates, labels and clock offset;
the device table with its session rules, eviction and bounds.

ROS-free and I/O-free (but for :class:`SessionStore`'s small state file): every method takes the host
arrival time as an argument, so the logic is tested with simulated loss, reordering, duplication and delay.
The bridge node feeds it decoded datagrams.
"""

from __future__ import annotations

import enum
import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
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
    clock_errors: int = 0  # newer datagrams whose device time went backwards or leapt ahead of the host's


class DeviceStream:
    """State of one session of one device (a session id is drawn at random each time the app starts)."""

    MAX_GAP = 10_000  # a larger forward jump is a resync, not ten thousand lost datagrams
    HISTORY = 1024  # sequence numbers remembered for duplicate / late detection

    def __init__(
        self,
        device_id: str,
        session_id: int,
        clock_window_s: float,
        host_ns: int,
        source: str = "",
        ordered: bool = False,
    ):
        self.device_id = device_id
        self.session_id = session_id
        self.source = source  # "ip:port" the session's datagrams come from (the app uses one socket)
        self.ordered = ordered  # protocol >= 1.1: session ids move forward
        self.last_send_us: int | None = None  # device send time of the newest datagram
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
        self.last_arrival_ns = host_ns
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
    def on_meta(self, labels: tuple[str, ...], labels_crc: int, info: dict[str, Any]) -> None:
        self.labels = labels
        self.labels_crc = labels_crc
        self.meta = info

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
    source_ip: str = ""
    retired_sessions: deque[int] = field(default_factory=lambda: deque(maxlen=64))
    restarts: int = 0
    retired_datagrams: int = 0


class SessionStore:
    """The highest authenticated session id (protocol >= 1.1) of each device, optionally kept in a JSON file so
    that a replay of an older session is still refused after the bridge restarts. Bounded to ``MAX_DEVICES``
    devices (the least recently advanced are forgotten)."""

    MAX_DEVICES = 4096

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.highest: dict[str, int] = {}
        self.load_error = ""
        if self.path is not None and self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self.highest = {
                    str(k): int(v)
                    for k, v in data.get("highest_session", {}).items()
                    if isinstance(v, int) and 0 <= v <= 0xFFFFFFFF
                }
            except (OSError, ValueError, AttributeError, TypeError) as error:
                self.load_error = f"{self.path}: {error}"

    def is_forward(self, device_id: str, session_id: int, or_equal: bool = False) -> bool:
        """True when ``session_id`` is newer than every session of the device seen so far (``or_equal``: or
        the newest one itself, which a bridge that restarts meets again)."""
        highest = self.highest.get(device_id, 0)
        return session_id > highest or (or_equal and session_id == highest)

    def advance(self, device_id: str, session_id: int) -> None:
        self.highest.pop(device_id, None)
        self.highest[device_id] = session_id  # newest last: the dict order is the eviction order
        while len(self.highest) > self.MAX_DEVICES:
            del self.highest[next(iter(self.highest))]
        if self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(self.path.name + ".tmp")
                tmp.write_text(json.dumps({"highest_session": self.highest}) + "\n", encoding="utf-8")
                os.replace(tmp, self.path)
            except OSError as error:
                self.load_error = f"cannot write {self.path}: {error}"


@dataclass(frozen=True)
class TableLimits:
    """Bounds of the device table and the session-takeover rule (the bridge's parameters)."""

    max_devices: int = 64
    max_devices_per_source: int = 0  # devices from one source IP address; 0 = no limit
    device_idle_timeout_s: float = 5.0  # a device silent this long may be evicted to make room
    session_takeover_s: float = 1.0  # silence of the current session before another one may replace it


class StreamTable:
    """All devices seen, each with its current session.

    Session rules (a datagram has already passed the HMAC check when a key is set):

    - an authenticated protocol >= 1.1 session replaces the current one only when its id is higher than any
      seen for the device (:class:`SessionStore`, persisted): a replayed older session is refused
      (``old_session``), before and after a bridge restart;
    - any other new session (no key, or a 1.0 device with random ids) replaces the current one only after the
      current session has been silent for ``session_takeover_s``; until then it is refused
      (``session_conflict``), so a spoofer cannot retire a live camera;
    - a session is bound to its source address (ip:port); datagrams of it from elsewhere are refused
      (``source_mismatch``) unless authenticated or the session is silent;
    - datagrams of a retired session are refused (``retired_session``).

    Room: when full (``max_devices``, or ``max_devices_per_source`` for one source IP) the least recently seen
    device is evicted if it has been silent for ``device_idle_timeout_s``; else the new device is refused.
    """

    def __init__(
        self,
        clock_window_s: float = 10.0,
        max_devices: int = 64,
        limits: TableLimits | None = None,
        store: SessionStore | None = None,
    ):
        self.clock_window_s = clock_window_s
        self.limits = limits or TableLimits(max_devices=max_devices)
        self.max_devices = self.limits.max_devices
        self.store = store or SessionStore()
        self.devices: dict[str, DeviceEntry] = {}
        self.evicted_devices = 0

    def stream_for(self, device_id: str, session_id: int, host_ns: int) -> DeviceStream | None:
        """:meth:`admit` for an unauthenticated 1.0 datagram from an unknown source; the stream or None."""
        return self.admit(device_id, session_id, host_ns)[0]

    def admit(
        self,
        device_id: str,
        session_id: int,
        host_ns: int,
        source_ip: str = "",
        source_port: int = 0,
        ordered: bool = False,
        authenticated: bool = False,
    ) -> tuple[DeviceStream | None, str]:
        """The stream a datagram belongs to, or (None, the reason it is refused)."""
        source = f"{source_ip}:{source_port}"
        trusted_order = ordered and authenticated
        entry = self.devices.get(device_id)
        if entry is None:
            if trusted_order and not self.store.is_forward(device_id, session_id, or_equal=True):
                return None, "old_session"
            refusal = self._make_room(source_ip, host_ns)
            if refusal:
                return None, refusal
            stream = self._new_stream(device_id, session_id, host_ns, source, ordered, trusted_order)
            self.devices[device_id] = DeviceEntry(device_id, stream, source_ip)
            return stream, ""
        current = entry.current
        silent = host_ns - current.last_arrival_ns >= self.limits.session_takeover_s * 1e9
        if current.session_id == session_id:
            if source != current.source:
                if not (authenticated or silent):
                    return None, "source_mismatch"
                current.source, entry.source_ip = source, source_ip
            return current, ""
        if session_id in entry.retired_sessions:
            entry.retired_datagrams += 1
            return None, "retired_session"
        if trusted_order:
            if not self.store.is_forward(device_id, session_id):
                return None, "old_session"
        elif not silent:
            return None, "session_conflict"
        entry.retired_sessions.append(current.session_id)
        entry.restarts += 1
        entry.source_ip = source_ip
        entry.current = self._new_stream(device_id, session_id, host_ns, source, ordered, trusted_order)
        return entry.current, ""

    def _new_stream(
        self, device_id: str, session_id: int, host_ns: int, source: str, ordered: bool, remember: bool
    ) -> DeviceStream:
        if remember:
            self.store.advance(device_id, session_id)
        return DeviceStream(device_id, session_id, self.clock_window_s, host_ns, source, ordered)

    def _make_room(self, source_ip: str, host_ns: int) -> str:
        """Evict an idle device when a bound is reached; the refusal reason when none can go."""
        limits = self.limits
        idle_ns = limits.device_idle_timeout_s * 1e9
        checks = [(lambda e: True, limits.max_devices, "too_many_devices")]
        if limits.max_devices_per_source and source_ip:
            checks.insert(
                0, (lambda e: e.source_ip == source_ip, limits.max_devices_per_source, "too_many_devices_from_source")
            )
        for belongs, bound, reason in checks:
            entries = [e for e in self.devices.values() if belongs(e)]
            if len(entries) < bound:
                continue
            victim = min(entries, key=lambda e: e.current.last_arrival_ns)
            if host_ns - victim.current.last_arrival_ns < idle_ns:
                return reason
            del self.devices[victim.device_id]
            self.evicted_devices += 1
        return ""
