"""The callback guard: an exception in a node callback is counted, logged (rate-limited), reported, survived."""

from __future__ import annotations

import time

import pytest

from fer_ros.core.health import ERROR, OK, HealthReport
from fer_ros.ros.callback_guard import CallbackErrors


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_errors_are_counted_and_logged_rate_limited() -> None:
    lines: list[str] = []
    clock = FakeClock()
    errors = CallbackErrors(lines.append, log_interval_s=10.0, clock=clock)
    for i in range(100):
        clock.now = i * 0.1  # 10 s in all
        errors.record("timer", OverflowError("int too large to convert to float"))
    errors.record("timer", KeyError("x"))  # a new kind is logged at once
    clock.now = 15.0
    errors.record("timer", OverflowError("again"))  # not 10 s since the last line yet
    clock.now = 20.0
    errors.record("timer", OverflowError("and again"))
    assert errors.total == 103 and errors.by_callback["timer"] == 103
    assert errors.by_type == {"OverflowError": 102, "KeyError": 1}
    assert len(lines) == 3, lines
    assert "OverflowError in timer" in lines[0] and "KeyError" in lines[1]
    assert "(99 more errors in timer were not logged)" in lines[1]
    assert "(1 more errors in timer were not logged)" in lines[2]
    values = errors.values()
    assert values["callback_errors"] == "103" and values["callback_errors.timer"] == "103"
    assert values["last_callback_error"].startswith("timer: OverflowError")


def test_a_period_with_errors_turns_the_report_to_error() -> None:
    errors = CallbackErrors(lambda _: None)
    report = HealthReport(OK, "running", {"a": "1"})
    assert errors.annotate(report).level == OK
    errors.record("diagnostics", ValueError("bad"))
    marked = errors.annotate(report)
    assert marked.level == ERROR and "1 unexpected callback errors" in marked.message
    assert marked.values["a"] == "1" and marked.values["callback_errors"] == "1"
    assert errors.annotate(report).level == OK  # the next period is clean again


@pytest.mark.ros
def test_a_failing_timer_does_not_stop_the_node() -> None:
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from fer_ros.ros.callback_guard import CallbackGuard
    from fer_ros.ros.qos import results_qos

    context = Context()
    rclpy.init(context=context)
    try:
        node = Node("guarded", context=context)
        guard = CallbackGuard(node, own_diagnostics=True)
        ticks: list[int] = []

        def tick() -> None:
            ticks.append(1)
            raise OverflowError("int too large to convert to float")

        node.create_timer(0.02, guard.wrap("tick", tick))
        statuses = []
        node.create_subscription(DiagnosticArray, "/diagnostics", statuses.append, results_qos(10))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline and not (len(ticks) >= 20 and statuses):
            executor.spin_once(timeout_sec=0.05)  # would raise OverflowError without the guard
        assert len(ticks) >= 20 and guard.total == len(ticks)
        status = statuses[-1].status[0]
        assert status.level == bytes([ERROR]) and status.name.endswith("guarded: callback errors")
        assert {kv.key: kv.value for kv in status.values}["callback_errors.tick"] != "0"
        executor.shutdown()
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
