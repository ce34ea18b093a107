"""A node that records the live graph's results into an MCAP bag (``fer-ros run --record-bag DIR``): ``faces``,
``expression_command`` and, when asked, the camera topic. Messages are taken serialized (no deserialization)
and written with their receive time; the fer_ros message definitions go into the bag."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from fer_ros.bag.source import BagError
from fer_ros.bag.types import COMPRESSED_IMAGE, EXPRESSION_COMMAND, FACE_EXPRESSION_ARRAY, IMAGE, typestore
from fer_ros.msg import ExpressionCommand, FaceExpressionArray
from fer_ros.ros.qos import results_qos, sensor_qos


class BagRecorder(Node):
    """Writes every message of its topics to a new MCAP bag at ``bag_dir`` until :meth:`close`."""

    def __init__(
        self,
        bag_dir: str | Path,
        camera_topic: str | None = None,
        compressed: bool = False,
        **node_kwargs: Any,
    ) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

        super().__init__("fer_ros_bag_recorder", **node_kwargs)
        self.bag_dir = Path(bag_dir)
        self._writer = Writer(self.bag_dir, version=8, storage_plugin=StoragePlugin.MCAP)
        try:
            self._writer.open()
        except (WriterError, OSError) as error:
            raise BagError(f"cannot create the bag {self.bag_dir}: {error}") from None
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        self._subscribe(FaceExpressionArray, FACE_EXPRESSION_ARRAY, "faces", results_qos(50))
        self._subscribe(ExpressionCommand, EXPRESSION_COMMAND, "expression_command", results_qos(50))
        if camera_topic:
            if compressed:
                self._subscribe(CompressedImage, COMPRESSED_IMAGE, f"{camera_topic}/compressed", sensor_qos(5))
            else:
                self._subscribe(Image, IMAGE, camera_topic, sensor_qos(5))

    def _subscribe(self, msg_class: type, typename: str, topic: str, qos: Any) -> None:
        subscription = self.create_subscription(msg_class, topic, lambda raw: None, qos, raw=True)
        name = subscription.topic_name
        connection = self._writer.add_connection(name, typename, typestore=typestore())
        self.counts[name] = 0

        def record(raw: bytes) -> None:
            with self._lock:
                if self._writer is None:
                    return
                self._writer.write(connection, self.get_clock().now().nanoseconds, raw)
                self.counts[name] += 1

        subscription.callback = record

    def close(self, complete: bool = True) -> dict:
        """Close the bag (metadata.yaml, MCAP summary); returns the message counts per topic."""
        with self._lock:
            writer, self._writer = self._writer, None
            if writer is not None:
                writer.set_custom_data("fer_ros.recorded_by", "fer-ros run --record-bag")
                writer.set_custom_data("fer_ros.complete", "true" if complete else "false")
                writer.close()
        return {"bag": str(self.bag_dir), "messages": dict(self.counts)}

    def destroy_node(self) -> None:
        self.close()
        super().destroy_node()
