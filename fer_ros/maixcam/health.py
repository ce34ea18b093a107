"""Diagnostics of the MaixCAM bridge, without ROS: one report for the receiver, one per device.

Rates are computed from the counters' change since the previous report. The bridge node turns each
:class:`~fer_ros.core.health.HealthReport` into a diagnostic_msgs/DiagnosticStatus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fer_ros.core.health import OK, WARN, HealthReport
from fer_ros.maixcam.receiver import MaixReceiver

_REJECT_KEYS = (
    "crc_errors",
    "format_errors",
    "auth_errors",
    "foreign_datagrams",
    "source_rejected",
    "device_rejected",
    "retired_session",
    "old_session",
    "session_conflict",
    "source_mismatch",
    "too_many_devices",
    "too_many_devices_from_source",
    "bad_stamp",
)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


@dataclass
class _Snapshot:
    time_ns: int
    datagrams: int = 0
    frames: int = 0
    published: int = 0
    lost: int = 0


class BridgeHealth:
    """Keeps the previous counters to report per-period rates; ``silence_timeout_s`` turns a device WARN."""

    def __init__(self, receiver: MaixReceiver, silence_timeout_s: float, start_ns: int, port: int = 0):
        self.receiver = receiver
        self.silence_timeout_s = silence_timeout_s
        self.port = port
        self._start_ns = start_ns
        self._previous: dict[str, _Snapshot] = {}
        self._latencies_ms: list[float] = []
        self.internal_errors = 0

    def on_published(self, latency_ms: float) -> None:
        """Arrival of the datagram to the return of publish(), ms."""
        self._latencies_ms.append(latency_ms)

    def _rate(self, key: str, now_ns: int, **counts: int) -> dict[str, float]:
        prev = self._previous.get(key)
        snap = _Snapshot(now_ns, **counts)
        self._previous[key] = snap
        if prev is None:
            prev = _Snapshot(self._start_ns)
        dt = max((now_ns - prev.time_ns) * 1e-9, 1e-6)
        return {name: (value - getattr(prev, name)) / dt for name, value in counts.items()} | {
            "_lost_delta": counts.get("lost", 0) - prev.lost,
            "_frames_delta": counts.get("frames", 0) - prev.frames,
        }

    def receiver_report(self, now_ns: int) -> HealthReport:
        rx = self.receiver
        c = rx.counters
        rates = self._rate("__receiver__", now_ns, datagrams=c.datagrams)
        latencies, self._latencies_ms = self._latencies_ms, []
        values = {
            "port": str(self.port),
            "datagram_rate_hz": _fmt(rates["datagrams"]),
            "datagrams": str(c.datagrams),
            "accepted": str(c.accepted),
            "rejected": str(c.rejected),
            **{key: str(c.by_reason.get(key, 0)) for key in _REJECT_KEYS},
            "internal_errors": str(self.internal_errors),
            "devices": str(len(rx.table.devices)),
            "evicted_devices": str(rx.table.evicted_devices),
            "bridge_latency_p50_ms": _fmt(float(np.percentile(latencies, 50)) if latencies else None, 3),
            "bridge_latency_max_ms": _fmt(max(latencies) if latencies else None, 3),
        }
        values.update({k: str(v) for k, v in sorted(c.by_reason.items()) if k.startswith("error:")})
        silent = now_ns - max(
            (e.current.last_arrival_ns for e in rx.table.devices.values()), default=self._start_ns
        )
        if not rx.table.devices:
            return HealthReport(
                WARN,
                f"no MaixCAM datagram yet on UDP port {self.port} ({(now_ns - self._start_ns) * 1e-9:.0f} s)",
                values,
            )
        if silent * 1e-9 > self.silence_timeout_s:
            return HealthReport(
                WARN, f"silent: no datagram from any device for {silent * 1e-9:.1f} s", values
            )
        if rates["datagrams"] > 0 and c.rejected and c.accepted == 0:
            return HealthReport(WARN, "every datagram rejected", values)
        return HealthReport(OK, "receiving", values)

    def device_reports(self, now_ns: int) -> list[tuple[str, HealthReport]]:
        reports = []
        for gone in set(self._previous) - set(self.receiver.table.devices) - {"__receiver__"}:
            del self._previous[gone]  # evicted devices: bounded like the table
        for device_id, entry in sorted(self.receiver.table.devices.items()):
            s = entry.current
            c = s.counters
            rates = self._rate(
                device_id, now_ns, datagrams=c.datagrams, frames=c.frames, published=c.published, lost=c.lost
            )
            meta = s.meta
            expected = rates["_frames_delta"] + max(rates["_lost_delta"], 0)
            loss_pct = 100.0 * max(rates["_lost_delta"], 0) / expected if expected > 0 else 0.0
            offset = s.clock.offset_ns
            silence_s = (now_ns - s.last_arrival_ns) * 1e-9
            values = {
                "session": f"{s.session_id:08x}",
                "datagram_rate_hz": _fmt(rates["datagrams"]),
                "frame_rate_hz": _fmt(rates["frames"]),
                "published_rate_hz": _fmt(rates["published"]),
                "loss_percent": _fmt(loss_pct),
                "lost": str(c.lost),
                "duplicates": str(c.duplicates),
                "late": str(c.late),
                "stale": str(c.stale),
                "no_labels": str(c.no_labels),
                "clock_errors": str(c.clock_errors),
                "resyncs": str(c.resyncs),
                "published": str(c.published),
                "restarts": str(entry.restarts),
                "clock_offset_ms": _fmt(None if offset is None else offset / 1e6, 3),
                "last_datagram_s_ago": _fmt(silence_s, 2),
                "device_fps": _fmt(_num(meta.get("fps"))),
                "temperature_c": _fmt(_num(meta.get("temperature_c"))),
                "device_send_errors": str(_int(meta.get("send_errors"))),
                "device_model": _text(meta.get("device_model")),
                "app_version": _text(meta.get("app_version")),
                "labels": ",".join(s.labels or ()),
                "frame_size": f"{s.width}x{s.height}",
            }
            timings = meta.get("timings_ms")
            if isinstance(timings, dict):
                for stage, ms in sorted(timings.items())[:12]:
                    values[f"device_{_text(stage)}_ms"] = _fmt(_num(ms), 2)
            if silence_s > self.silence_timeout_s:
                level, message = WARN, f"silent for {silence_s:.1f} s (link down, device stopped?)"
            elif s.labels is None:
                level, message = WARN, "frames arrive but no META (labels) yet"
            elif loss_pct > 20.0:
                level, message = WARN, f"{loss_pct:.0f} % of datagrams lost in the last period"
            else:
                level, message = OK, f"streaming {rates['published']:.1f} frames/s"
            reports.append((device_id, HealthReport(level, message, values)))
        return reports


_NUM_LIMIT = 1e15  # META numbers shown in diagnostics: beyond this they are not measurements


def _num(value) -> float | None:
    """A META number as a float, or None when it is not a finite number of sane size (the device is not
    trusted: the decoder bounds numbers, this does not rely on it)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, int) and not -_NUM_LIMIT < value < _NUM_LIMIT:  # float(10**400) raises
        return None
    number = float(value)
    return number if math.isfinite(number) and abs(number) < _NUM_LIMIT else None


def _int(value) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63 else 0


def _text(value) -> str:
    """A META string shown in diagnostics: bounded, printable, and encodable (the device is not trusted)."""
    if not isinstance(value, str):
        return ""
    return "".join(ch for ch in value[:64] if ch.isprintable()).encode("utf-8", "replace").decode("utf-8")
