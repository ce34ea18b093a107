"""One guard for every node callback: an unexpected exception is counted, logged (rate-limited) and reported
in ``/diagnostics``, and the node goes on.

rclpy re-raises an exception of a timer, subscription or service callback out of ``spin()``, which ends the
process (or, in ``fer-ros run``, the executor thread of every node). Each node wraps the callbacks it creates
with :meth:`CallbackGuard.wrap`; worker threads call :meth:`CallbackGuard.record` themselves.

:class:`CallbackErrors` is the ROS-free part (counting, rate-limited logging, diagnostics values and verdict);
:class:`CallbackGuard` adds the node: its logger, and for nodes without diagnostics of their own, a 1 Hz
``/diagnostics`` status published while errors occur.
"""

from __future__ import annotations

import functools
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from typing import Any

from fer_ros.core.health import ERROR, OK, HealthReport

LOG_INTERVAL_S = 10.0


class CallbackErrors:
    """Counts unexpected exceptions per callback; logs the first of each (callback, type) at once and then at
    most one summary line per callback every ``log_interval_s``."""

    def __init__(
        self,
        log: Callable[[str], None],
        log_interval_s: float = LOG_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self.log_interval_s = log_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self.total = 0
        self.by_callback: Counter[str] = Counter()
        self.by_type: Counter[str] = Counter()
        self.last_error = ""
        self._seen: set[tuple[str, str]] = set()
        self._last_log_s: dict[str, float] = {}
        self._unlogged: Counter[str] = Counter()
        self._reported_total = 0

    def record(self, where: str, error: BaseException) -> None:
        """Count ``error`` raised by callback ``where`` and log it when the rate limit allows."""
        kind = type(error).__name__
        now = self._clock()
        with self._lock:
            self.total += 1
            self.by_callback[where] += 1
            self.by_type[kind] += 1
            self.last_error = f"{where}: {kind}: {str(error)[:200]}"
            first = (where, kind) not in self._seen
            due = now - self._last_log_s.get(where, -1e18) >= self.log_interval_s
            if not (first or due):
                self._unlogged[where] += 1
                return
            self._seen.add((where, kind))
            self._last_log_s[where] = now
            skipped, self._unlogged[where] = self._unlogged[where], 0
        text = f"unexpected {kind} in {where}, the node goes on: {error!r}"
        if skipped:
            text += f" ({skipped} more errors in {where} were not logged)"
        frames = traceback.extract_tb(error.__traceback__)[-3:] if first else []
        if frames:
            text += "\n" + "".join(traceback.format_list(frames)).rstrip()
        self._log(text)

    def values(self) -> dict[str, str]:
        """Diagnostic key/values: the total, per callback, per exception type, and the last error."""
        with self._lock:
            values = {"callback_errors": str(self.total)}
            values.update({f"callback_errors.{k}": str(n) for k, n in sorted(self.by_callback.items())})
            values.update({f"callback_error_types.{k}": str(n) for k, n in sorted(self.by_type.items())})
            if self.last_error:
                values["last_callback_error"] = self.last_error
        return values

    def new_since_report(self) -> int:
        """Errors since the previous call (each diagnostics period calls it once)."""
        with self._lock:
            new, self._reported_total = self.total - self._reported_total, self.total
        return new

    def annotate(self, report: HealthReport) -> HealthReport:
        """``report`` with the error counters added, and ERROR when a callback failed in the period."""
        new = self.new_since_report()
        values = {**report.values, **self.values()}
        if new:
            return HealthReport(
                ERROR, f"{new} unexpected callback errors in the period ({self.last_error}); going on", values
            )
        return HealthReport(report.level, report.message, values)


class CallbackGuard(CallbackErrors):
    """:class:`CallbackErrors` for one rclpy node: logs with the node's logger.

    ``own_diagnostics=True`` (nodes that publish no ``/diagnostics`` of their own) creates a 1 Hz timer that
    publishes a ``<node>: callback errors`` status for each period in which errors occurred.
    """

    def __init__(self, node: Any, own_diagnostics: bool = False, log_interval_s: float = LOG_INTERVAL_S):
        super().__init__(node.get_logger().error, log_interval_s)
        self._node = node
        self._diagnostics = None
        if own_diagnostics:
            from diagnostic_msgs.msg import DiagnosticArray

            from fer_ros.ros.qos import results_qos

            self._diagnostics = node.create_publisher(DiagnosticArray, "/diagnostics", results_qos())
            self._timer = node.create_timer(1.0, self.wrap("callback_error_diagnostics", self._publish))

    def _shutting_down(self) -> bool:
        import rclpy

        try:
            return not rclpy.ok(context=self._node.context)
        except Exception:  # noqa: BLE001 - a node half destroyed: shutting down
            return True

    def wrap(self, where: str, callback: Callable[..., Any], fallback: Any = None) -> Callable[..., Any]:
        """``callback`` that never raises: an exception is recorded and ``fallback`` returned (or, when it is
        callable, ``fallback(error)``). Shutdown exceptions pass through."""
        from rclpy.executors import ExternalShutdownException

        @functools.wraps(callback)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return callback(*args, **kwargs)
            except ExternalShutdownException:
                raise
            except Exception as error:  # noqa: BLE001 - the point of the guard
                if not self._shutting_down():
                    self.record(where, error)
                return fallback(error) if callable(fallback) else fallback

        return guarded

    def _publish(self) -> None:
        if self._diagnostics is None or not self.new_since_report():
            return
        from diagnostic_msgs.msg import DiagnosticArray

        from fer_ros.ros.diagnostics import to_diagnostic_status

        report = HealthReport(ERROR, f"unexpected callback errors ({self.last_error}); going on", self.values())
        msg = DiagnosticArray()
        msg.header.stamp = self._node.get_clock().now().to_msg()
        name = f"{self._node.get_fully_qualified_name()}: callback errors"
        msg.status = [to_diagnostic_status(report, name)]
        self._diagnostics.publish(msg)


def parameters_refused(error: BaseException) -> Any:
    """Fallback of a guarded on-set-parameters callback: the change is refused with the error as reason."""
    from rcl_interfaces.msg import SetParametersResult

    return SetParametersResult(successful=False, reason=f"internal error: {type(error).__name__}: {error}")


__all__ = ["OK", "ERROR", "CallbackErrors", "CallbackGuard", "parameters_refused"]
