"""The QoS profiles of fer_ros topics."""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def sensor_qos(depth: int = 1) -> QoSProfile:
    """Camera images: best effort, keep the newest ``depth`` (matches best-effort and reliable publishers)."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


def results_qos(depth: int = 10) -> QoSProfile:
    """Results (faces, commands, markers): reliable, volatile."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )


def image_publisher_qos(reliable: bool = False, depth: int = 1) -> QoSProfile:
    """Published images: best effort by default (like camera drivers' sensor-data QoS)."""
    return results_qos(depth) if reliable else sensor_qos(depth)
