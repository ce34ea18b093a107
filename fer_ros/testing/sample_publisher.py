"""Test node: publishes sample_face_expression_array() on a topic at a fixed rate.

``python -m fer_ros.testing.sample_publisher --ros-args -p topic:=/faces -p rate_hz:=10.0 -p faces:=2``
"""

from __future__ import annotations

import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from fer_ros.msg import FaceExpressionArray
from fer_ros.testing.sample_messages import sample_face_expression_array


class SamplePublisher(Node):
    """Publishes the same fully populated FaceExpressionArray, counting up the header stamp's seconds."""

    def __init__(self) -> None:
        super().__init__("sample_publisher")
        topic = self.declare_parameter("topic", "face_expressions").value
        rate_hz = float(self.declare_parameter("rate_hz", 10.0).value)
        self._faces = int(self.declare_parameter("faces", 2).value)
        self._sent = 0
        self._publisher = self.create_publisher(FaceExpressionArray, topic, 10)
        self._timer = self.create_timer(1.0 / rate_hz, self._publish)
        self.get_logger().info(f"publishing on {self._publisher.topic_name}")

    def _publish(self) -> None:
        self._publisher.publish(sample_face_expression_array(self._faces))
        self._sent += 1


def main(args: list[str] | None = None) -> int:
    """Spin until SIGINT."""
    rclpy.init(args=args)
    node = SamplePublisher()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
