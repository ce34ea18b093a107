"""What the MaixCAM bridge does with one datagram, without ROS: trust checks, decoding, stream state, verdict.

``MaixReceiver.handle(data, source_ip, host_ns, source_port)`` returns a :class:`Verdict`: the
:class:`PublishableFrame` of the newest valid frame of a stream, or the reason a datagram was refused, or
neither (accepted but nothing to publish), counting why. It never raises on any
datagram content. Session, source and device-table rules: :class:`~fer_ros.maixcam.stream_state.StreamTable`.

Time rules: only the newest datagram of a stream feeds the clock-offset estimate, and only when its device
time did not go back and is not ahead of the current mapping by more than ``CLOCK_SLACK_NS``; a capture time is
never after its datagram's send time (the decoder checks) nor more than ``MAX_CAPTURE_LAG_US`` before it, so
a stamp is never in the future of the arrival and never wildly in the past.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from fer_ros.maixcam.stream_state import DeviceStream, SeqVerdict, SessionStore, StreamTable, TableLimits
from maixcam_bridge import fer_maix_protocol as proto

# ProtocolError subclass -> the diagnostics bucket it is counted in
_ERROR_BUCKET = {
    proto.ChecksumError: "crc_errors",
    proto.AuthenticationError: "auth_errors",
    proto.BadMagicError: "foreign_datagrams",
}


@dataclass(frozen=True)
class ReceiverConfig:
    """Trust and freshness settings (the node's parameters)."""

    hmac_key: bytes | None = None  # when set, only datagrams with a valid HMAC-SHA256 tag are accepted
    allowed_sources: frozenset[str] = frozenset()  # source IP addresses; empty = any
    allowed_devices: frozenset[str] = frozenset()  # device ids; empty = any
    max_age_ms: float = 500.0  # drop frames captured longer ago than this (0 = never)
    clock_window_s: float = 10.0
    max_devices: int = 64
    max_devices_per_source: int = 0  # 0 = no limit
    device_idle_timeout_s: float = 5.0
    session_takeover_s: float = 1.0
    state_file: str = ""  # highest authenticated session per device, kept across restarts; "" = memory only


CLOCK_SLACK_NS = 2_000_000_000  # device time may run ahead of the mapping by this much (a faster path)
MAX_CAPTURE_LAG_US = 60_000_000  # a frame captured longer than this before it was sent is stale


@dataclass
class PublishableFrame:
    frame: proto.FrameMessage
    labels: tuple[str, ...]
    stamp_ns: int  # capture time on the host clock
    stream: DeviceStream
    arrival_ns: int


@dataclass(frozen=True)
class Verdict:
    """What :meth:`MaixReceiver.handle` made of one datagram."""

    frame: PublishableFrame | None = None  # the newest valid frame of its stream: publish it
    rejection: tuple[str, str] | None = None  # (reason, detail): refused, and counted under reason


NOT_PUBLISHED = Verdict()  # accepted, nothing to publish (a META, a duplicate, a late or stale frame...)


@dataclass
class ReceiverCounters:
    datagrams: int = 0
    accepted: int = 0  # decoded and attributed to a stream
    rejected: int = 0  # every datagram that was refused, whatever the reason
    by_reason: Counter = field(default_factory=Counter)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        self.by_reason[reason] += 1


class MaixReceiver:
    def __init__(self, config: ReceiverConfig):
        self.config = config
        limits = TableLimits(
            config.max_devices,
            config.max_devices_per_source,
            config.device_idle_timeout_s,
            config.session_takeover_s,
        )
        self.table = StreamTable(config.clock_window_s, limits=limits, store=SessionStore(config.state_file or None))
        self.counters = ReceiverCounters()

    def handle(self, data: bytes, source_ip: str, host_ns: int, source_port: int = 0) -> Verdict:
        """Process one datagram that arrived at ``host_ns`` (host monotonic clock, ns) from
        ``source_ip:source_port``: a frame to publish, a rejection with its reason, or neither."""
        cfg = self.config
        c = self.counters
        c.datagrams += 1
        if cfg.allowed_sources and source_ip not in cfg.allowed_sources:
            return self._reject("source_rejected", f"source {source_ip} not in allowed_sources")
        try:
            msg = proto.decode(data, cfg.hmac_key)
        except proto.ProtocolError as exc:
            bucket = _ERROR_BUCKET.get(type(exc), "format_errors")
            c.by_reason["error:" + type(exc).__name__] += 1
            return self._reject(bucket, f"{type(exc).__name__}: {exc}")
        if cfg.allowed_devices and msg.device_id not in cfg.allowed_devices:
            return self._reject("device_rejected", f"device {msg.device_id!r} not in allowed_devices")
        stream, refusal = self.table.admit(
            msg.device_id,
            msg.session_id,
            host_ns,
            source_ip,
            source_port,
            ordered=msg.version_minor >= 1,
            authenticated=msg.authenticated,
        )
        if stream is None:
            detail = f"{msg.device_id} session {msg.session_id:08x}: {_REFUSALS.get(refusal, refusal)}"
            return self._reject(refusal, detail)
        c.accepted += 1
        sc = stream.counters
        sc.datagrams += 1
        verdict = stream.classify_seq(msg.seq)
        if verdict is SeqVerdict.DUPLICATE:
            return NOT_PUBLISHED
        stream.last_arrival_ns = host_ns
        if verdict is SeqVerdict.NEWEST:
            if not self._clock_moves_forward(stream, msg.send_time_us, host_ns):
                sc.clock_errors += 1
                return NOT_PUBLISHED
            stream.clock.add(msg.send_time_us, host_ns)  # only forward-moving datagrams re-estimate the offset
        if msg.msg_type == proto.MSG_META:
            sc.metas += 1
            if verdict is SeqVerdict.NEWEST or stream.labels is None:
                stream.on_meta(msg.labels, msg.labels_crc, msg.info)
            return NOT_PUBLISHED
        sc.frames += 1
        if verdict is not SeqVerdict.NEWEST:
            return NOT_PUBLISHED
        stream.width, stream.height = msg.width, msg.height
        labels = stream.labels_for(msg.labels_crc, msg.class_count)
        if labels is None:
            sc.no_labels += 1
            return NOT_PUBLISHED
        stamp_ns = stream.clock.to_host_ns(msg.capture_time_us)
        if stamp_ns is None:  # cannot happen after clock.add, kept for type safety
            return NOT_PUBLISHED
        if stamp_ns > host_ns:  # cannot happen either (capture <= send, offset = min over the window)
            sc.clock_errors += 1
            return NOT_PUBLISHED
        too_old = cfg.max_age_ms > 0 and host_ns - stamp_ns > cfg.max_age_ms * 1e6
        if too_old or msg.send_time_us - msg.capture_time_us > MAX_CAPTURE_LAG_US:
            sc.stale += 1
            return NOT_PUBLISHED
        sc.published += 1
        return Verdict(frame=PublishableFrame(msg, labels, stamp_ns, stream, host_ns))

    def _reject(self, reason: str, detail: str = "") -> Verdict:
        self.counters.reject(reason)
        return Verdict(rejection=(reason, detail or reason))

    @staticmethod
    def _clock_moves_forward(stream: DeviceStream, send_us: int, host_ns: int) -> bool:
        """The newest datagram's device time is not before the previous one's, and does not leap ahead of
        the current device-to-host mapping (arrival - send would undercut the least delay seen by more than
        CLOCK_SLACK_NS); records it when so. Queueing delays only make datagrams look later: never refused."""
        if stream.last_send_us is not None and send_us < stream.last_send_us:
            return False
        offset = stream.clock.offset_ns
        if offset is not None and host_ns - send_us * 1000 < offset - CLOCK_SLACK_NS:
            return False
        stream.last_send_us = send_us
        return True


_REFUSALS = {
    "old_session": "an authenticated session older than one already seen (a replay?)",
    "session_conflict": "a new session while the current one is live (a spoofer?); accepted once it is silent",
    "source_mismatch": "datagrams of the current session from another address",
    "retired_session": "datagram of a session that has ended",
    "too_many_devices": "the device table is full of live devices",
    "too_many_devices_from_source": "too many live devices from this source address",
}
