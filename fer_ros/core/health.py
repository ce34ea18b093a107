"""Health of a frame-processing component: counters, rates and latencies per period, and the verdict (no ROS
import; fer_ros/ros/diagnostics.py turns a :class:`HealthReport` into a diagnostic_msgs/DiagnosticStatus).

:class:`ProcessingMonitor` is thread-safe and unit-testable with explicit times.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from fer_ros.core.knobs import knob

OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = {OK: "OK", WARN: "WARN", ERROR: "ERROR", STALE: "STALE"}


@dataclass
class HealthLimits:
    """When the verdict turns WARN: no image for ``input_timeout_s``; more than ``max_skipped_ratio`` of the
    period's frames skipped; median latency above ``max_latency_ms``."""

    input_timeout_s: float = knob(
        2.0, "diagnostics WARN when no image arrived for this long, s", range=(0.1, 3600.0), runtime=True
    )
    max_latency_ms: float = knob(
        200.0,
        "diagnostics WARN when the median receipt-to-publication latency exceeds this, ms",
        range=(1.0, 60000.0),
        runtime=True,
    )
    max_skipped_ratio: float = knob(
        0.5,
        "diagnostics WARN when a larger share of the received images is skipped (worker busy)",
        range=(0.0, 1.0),
        runtime=True,
    )


@dataclass
class HealthReport:
    """One period's verdict and figures."""

    level: int
    message: str
    values: dict[str, str] = field(default_factory=dict)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"  # NaN check without math import


class ProcessingMonitor:
    """Counts what happens to frames; :meth:`report` summarises the period since the previous report.

    Times are monotonic seconds passed by the caller (the node uses ``time.monotonic()``).
    """

    def __init__(self, limits: HealthLimits, start_time_s: float) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self.received = 0
        self.processed = 0
        self.skipped = 0
        self.faces = 0
        self.last_faces = 0
        self.bad: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._start_s = start_time_s
        self._last_input_s: float | None = None
        self._period_start_s = start_time_s
        self._period_counts = (0, 0, 0, 0, 0)
        self._latencies_ms: list[float] = []
        self._processing_ms: list[float] = []
        self._pipeline_ms: list[float] = []
        self._busy_since_s: float | None = None

    def on_received(self, now_s: float) -> None:
        with self._lock:
            self.received += 1
            self._last_input_s = now_s

    def on_skipped(self) -> None:
        with self._lock:
            self.skipped += 1

    def on_bad_frame(self, kind: str) -> None:
        """An input that could not be used (undecodable, wrong size...): counted by kind."""
        with self._lock:
            self.bad[kind] += 1

    def on_failure(self, kind: str) -> None:
        """A frame the pipeline failed on (an error of ours, not of the input)."""
        with self._lock:
            self.failed[kind] += 1

    def on_started(self, now_s: float) -> None:
        with self._lock:
            self._busy_since_s = now_s

    def on_processed(
        self,
        now_s: float,
        latency_ms: float,
        processing_ms: float,
        faces: int,
        pipeline_ms: float | None = None,
    ) -> None:
        """A frame went all the way to a published message; ``latency_ms`` from receipt to publication."""
        with self._lock:
            self.processed += 1
            self.faces += faces
            self.last_faces = faces
            self._busy_since_s = None
            self._latencies_ms.append(latency_ms)
            self._processing_ms.append(processing_ms)
            if pipeline_ms is not None:
                self._pipeline_ms.append(pipeline_ms)

    def on_finished(self) -> None:
        """The worker is done with a frame it could not publish."""
        with self._lock:
            self._busy_since_s = None

    def totals(self) -> dict:
        """Counters since start."""
        with self._lock:
            return {
                "frames_received": self.received,
                "frames_processed": self.processed,
                "frames_skipped": self.skipped,
                "frames_bad": dict(self.bad),
                "frames_failed": dict(self.failed),
                "faces_total": self.faces,
            }

    def report(self, now_s: float, extra: dict[str, str] | None = None) -> HealthReport:
        """Figures of the period since the last report, and the verdict (OK, WARN or ERROR)."""
        with self._lock:
            bad_total, failed_total = sum(self.bad.values()), sum(self.failed.values())
            counts = (self.received, self.processed, self.skipped, bad_total, failed_total)
            d_received, d_processed, d_skipped, d_bad, d_failed = (
                now - before for now, before in zip(counts, self._period_counts, strict=True)
            )
            period_s = max(now_s - self._period_start_s, 1e-6)
            latencies, processing, pipeline = self._latencies_ms, self._processing_ms, self._pipeline_ms
            self._latencies_ms, self._processing_ms, self._pipeline_ms = [], [], []
            self._period_counts, self._period_start_s = counts, now_s
            last_input_s, busy_since_s = self._last_input_s, self._busy_since_s
            bad, failed = dict(self.bad), dict(self.failed)
            totals = dict(
                received=self.received,
                processed=self.processed,
                skipped=self.skipped,
                faces=self.faces,
                last_faces=self.last_faces,
            )
        values = {
            "input_rate_hz": _fmt(d_received / period_s),
            "processed_rate_hz": _fmt(d_processed / period_s),
            "frames_received": str(totals["received"]),
            "frames_processed": str(totals["processed"]),
            "frames_skipped": str(totals["skipped"]),
            "frames_bad": str(bad_total),
            "frames_failed": str(failed_total),
            "latency_p50_ms": _fmt(_percentile(latencies, 50)),
            "latency_max_ms": _fmt(max(latencies) if latencies else float("nan")),
            "processing_p50_ms": _fmt(_percentile(processing, 50)),
            "pipeline_p50_ms": _fmt(_percentile(pipeline, 50)),
            "faces": str(totals["last_faces"]),
            "faces_total": str(totals["faces"]),
        }
        values.update({f"bad_frames.{kind}": str(n) for kind, n in sorted(bad.items())})
        values.update({f"failed_frames.{kind}": str(n) for kind, n in sorted(failed.items())})
        values.update(extra or {})
        level, message = self._verdict(
            now_s, last_input_s, busy_since_s, d_received, d_processed, d_skipped, d_bad, d_failed, latencies
        )
        return HealthReport(level, message, values)

    def _verdict(
        self, now_s, last_input_s, busy_since_s, received, processed, skipped, bad, failed, latencies
    ) -> tuple[int, str]:
        limits = self.limits
        if busy_since_s is not None and now_s - busy_since_s > max(5.0, 10 * limits.input_timeout_s):
            return ERROR, f"stalled: one frame has been processing for {now_s - busy_since_s:.0f} s"
        if received and failed >= received:
            return ERROR, f"processing failed on every frame in the last {received} received"
        if last_input_s is None:
            return WARN, f"no image received yet ({now_s - self._start_s:.0f} s since start)"
        silence = now_s - last_input_s
        if silence > limits.input_timeout_s:
            return WARN, f"input stopped: no image for {silence:.1f} s"
        if received and bad >= received:
            return WARN, f"every image in the period was unusable ({bad} bad frames)"
        if received and skipped / received > limits.max_skipped_ratio:
            return WARN, f"falling behind: {skipped} of {received} frames skipped, {processed} processed"
        p50 = _percentile(latencies, 50)
        if latencies and p50 > limits.max_latency_ms:
            return WARN, f"slow: median latency {p50:.0f} ms > {limits.max_latency_ms:.0f} ms"
        if bad:
            return OK, f"running ({bad} bad frames skipped in the period)"
        return OK, "running"
