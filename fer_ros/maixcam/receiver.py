"""What the MaixCAM bridge does with one datagram, without ROS: trust checks, decoding, stream state, verdict.

``MaixReceiver.handle(data, source_ip, host_ns)`` returns a :class:`PublishableFrame` for the newest valid
frame of a stream and ``None`` for everything else, counting why. It never raises on any datagram content.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from fer_ros.maixcam.stream_state import DeviceStream, SeqVerdict, StreamTable
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


@dataclass
class PublishableFrame:
    frame: proto.FrameMessage
    labels: tuple[str, ...]
    stamp_ns: int  # capture time on the host clock
    stream: DeviceStream
    arrival_ns: int


@dataclass
class ReceiverCounters:
    datagrams: int = 0
    accepted: int = 0  # decoded and attributed to a stream
    rejected: int = 0  # every datagram that was refused, whatever the reason
    by_reason: Counter = field(default_factory=Counter)
    last_rejection: tuple[str, str] | None = None  # (reason, detail) of the latest refused datagram

    def reject(self, reason: str, detail: str = "") -> None:
        self.rejected += 1
        self.by_reason[reason] += 1
        self.last_rejection = (reason, detail or reason)


class MaixReceiver:
    def __init__(self, config: ReceiverConfig):
        self.config = config
        self.table = StreamTable(config.clock_window_s, config.max_devices)
        self.counters = ReceiverCounters()

    def handle(self, data: bytes, source_ip: str, host_ns: int) -> PublishableFrame | None:
        """Process one datagram that arrived at ``host_ns`` (host monotonic-or-ROS clock, ns)."""
        cfg = self.config
        c = self.counters
        c.datagrams += 1
        if cfg.allowed_sources and source_ip not in cfg.allowed_sources:
            c.reject("source_rejected", f"source {source_ip} not in allowed_sources")
            return None
        try:
            msg = proto.decode(data, cfg.hmac_key)
        except proto.ProtocolError as exc:
            bucket = _ERROR_BUCKET.get(type(exc), "format_errors")
            c.reject(bucket, f"{type(exc).__name__}: {exc}")
            c.by_reason["error:" + type(exc).__name__] += 1
            return None
        if cfg.allowed_devices and msg.device_id not in cfg.allowed_devices:
            c.reject("device_rejected", f"device {msg.device_id!r} not in allowed_devices")
            return None
        stream = self.table.stream_for(msg.device_id, msg.session_id, host_ns)
        if stream is None:
            if msg.device_id in self.table.devices:
                c.reject("retired_session", f"{msg.device_id}: datagram of a session that has ended")
            else:
                c.reject("too_many_devices", f"{msg.device_id}: more than {cfg.max_devices} devices")
            return None
        c.accepted += 1
        sc = stream.counters
        sc.datagrams += 1
        stream.last_arrival_ns = host_ns
        verdict = stream.classify_seq(msg.seq)
        if verdict is SeqVerdict.DUPLICATE:
            return None
        stream.clock.add(msg.send_time_us, host_ns)  # late datagrams still say something about the offset
        if msg.msg_type == proto.MSG_META:
            sc.metas += 1
            if verdict is SeqVerdict.NEWEST or stream.labels is None:
                stream.on_meta(msg.labels, msg.labels_crc, msg.info, host_ns)
            return None
        sc.frames += 1
        if verdict is not SeqVerdict.NEWEST:
            return None
        stream.width, stream.height = msg.width, msg.height
        labels = stream.labels_for(msg.labels_crc, msg.class_count)
        if labels is None:
            sc.no_labels += 1
            return None
        stamp_ns = stream.clock.to_host_ns(msg.capture_time_us)
        if stamp_ns is None:  # cannot happen after clock.add, kept for type safety
            return None
        if cfg.max_age_ms > 0 and host_ns - stamp_ns > cfg.max_age_ms * 1e6:
            sc.stale += 1
            return None
        sc.published += 1
        return PublishableFrame(msg, labels, stamp_ns, stream, host_ns)
