"""Run ROS 2 processes in tests: DDS isolation, process control, waiting for messages, cleanup.

The process runner, domain lease and isolated environment live in fer_ros/app/processes.py (the benchmarks use
them at run time); this module re-exports them for the tests and adds :class:`TopicProbe`.

Nothing here imports pytest; test/conftest.py wraps it in fixtures. rclpy is imported only by TopicProbe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from fer_ros.app.processes import (  # noqa: F401 (re-exported for the tests)
    DOMAIN_IDS,
    SHM_DIR,
    DomainLease,
    ProcessGroup,
    RosProcess,
    fastdds_shm_files,
    isolated_ros_env,
    parameter_text,
    remove_orphan_fastdds_files,
    shm_files_in_use,
    wait_for,
)


class TopicProbe:
    """An rclpy node in the test process that records what arrives on topics (spun in a background thread).

    Usage: ``probe.subscribe("/faces", FaceExpressionArray)``, then ``probe.wait_for_message("/faces")``.
    """

    def __init__(self, name: str = "fer_ros_test_probe") -> None:
        import rclpy
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor

        self._rclpy = rclpy
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._lock = threading.Lock()
        self._messages: dict[str, list[Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=f"{name}-spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def subscribe(self, topic: str, msg_type: type, qos: Any = 10) -> None:
        """Record every message on ``topic``."""
        with self._lock:
            self._messages.setdefault(topic, [])

        def record(msg: Any) -> None:
            with self._lock:
                self._messages[topic].append(msg)

        self.node.create_subscription(msg_type, topic, record, qos)

    def publisher(self, topic: str, msg_type: type, qos: Any = 10):
        """A publisher on the probe's node."""
        return self.node.create_publisher(msg_type, topic, qos)

    def messages(self, topic: str) -> list[Any]:
        """What arrived on ``topic`` so far (a copy)."""
        with self._lock:
            return list(self._messages.get(topic, []))

    def wait_for_message(
        self, topic: str, timeout_s: float = 20.0, predicate: Callable[[Any], bool] | None = None
    ) -> Any:
        """The first message on ``topic`` (satisfying ``predicate``), waiting up to ``timeout_s``."""

        def first() -> Any:
            return next((m for m in self.messages(topic) if predicate is None or predicate(m)), None)

        return wait_for(first, timeout_s, what=f"a message on {topic}")

    def wait_for_messages(self, topic: str, count: int, timeout_s: float = 20.0) -> list[Any]:
        """At least ``count`` messages on ``topic``."""
        wait_for(lambda: len(self.messages(topic)) >= count, timeout_s, what=f"{count} messages on {topic}")
        return self.messages(topic)

    def wait_for_subscribers(self, publisher: Any, count: int = 1, timeout_s: float = 20.0) -> None:
        """Until ``publisher`` is matched with ``count`` subscriptions (discovery finished)."""
        wait_for(
            lambda: publisher.get_subscription_count() >= count,
            timeout_s,
            what=f"{count} subscriber(s) of {publisher.topic_name}",
        )

    def close(self) -> None:
        """Stop spinning and shut the probe's context down."""
        self._stop.set()
        self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()
        if self.context.ok():
            self._rclpy.shutdown(context=self.context)
