"""Test node: writes the first N messages of a topic to a JSON file (as message_to_data) and exits.

``python -m fer_ros.testing.message_recorder --ros-args -p topic:=/faces
-p type:=fer_ros/msg/FaceExpressionArray -p output:=/tmp/out.json -p count:=1``
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from fer_ros.testing.sample_messages import message_to_data


def import_message_type(name: str) -> type:
    """``pkg/msg/Type`` (or ``pkg/Type``) -> the message class."""
    parts = name.split("/")
    package, type_name = parts[0], parts[-1]
    return getattr(importlib.import_module(f"{package}.msg"), type_name)


class MessageRecorder(Node):
    """Subscribes, keeps ``count`` messages, writes them atomically, then asks to stop."""

    def __init__(self) -> None:
        super().__init__("message_recorder")
        topic = self.declare_parameter("topic", "face_expressions").value
        msg_type = import_message_type(
            self.declare_parameter("type", "fer_ros/msg/FaceExpressionArray").value
        )
        self._output = self.declare_parameter("output", "messages.json").value
        self._count = int(self.declare_parameter("count", 1).value)
        self._received: list = []
        self.done = False
        self._subscription = self.create_subscription(msg_type, topic, self._on_message, 10)
        self.get_logger().info(f"recording {self._count} message(s) from {self._subscription.topic_name}")

    def _on_message(self, msg) -> None:
        if self.done:
            return
        self._received.append(message_to_data(msg))
        if len(self._received) >= self._count:
            tmp = f"{self._output}.part"
            with open(tmp, "w", encoding="utf-8") as stream:
                json.dump(self._received, stream)
            os.replace(tmp, self._output)
            self.get_logger().info(f"wrote {len(self._received)} message(s) to {self._output}")
            self.done = True


def main(args: list[str] | None = None) -> int:
    """Spin until the messages are written or SIGINT."""
    rclpy.init(args=args)
    node = MessageRecorder()
    try:
        while rclpy.ok() and not node.done:
            rclpy.spin_once(node, timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0 if node.done else 1


if __name__ == "__main__":
    sys.exit(main())
