"""camera_node: a video file, an image file, a folder of images or a webcam published as ``image``.

For machines without a camera driver (demos, tests, recorded footage). Frames are read and published on a
thread at ``rate_hz``, stamped with the node clock's time of capture and ``frame_id``; with
``publish_compressed`` also as JPEG on ``image/compressed``. At the end of a file it loops (``loop``) or
stops.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

import cv2
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from fer_ros.core.frame_source import FrameSource, open_frame_source
from fer_ros.ros.image_conversion import numpy_to_compressed, numpy_to_image
from fer_ros.ros.parameters import ParamSpec, declare
from fer_ros.ros.qos import image_publisher_qos
from fer_ros.ros.spin import run_node

DEFAULT_IMAGE_RATE_HZ = 10.0

P = ParamSpec
PARAMETERS: tuple[ParamSpec, ...] = (
    P("source", "", "video file, image file, folder of images, or webcam index (0, 1, ...)"),
    P(
        "rate_hz",
        0.0,
        "publication rate, Hz; 0: the source's own (a video's frame rate, a webcam's pace, "
        f"{DEFAULT_IMAGE_RATE_HZ:g} Hz for images)",
        range=(0.0, 1000.0),
    ),
    P("loop", False, "start again at the end of a video or image folder"),
    P("max_frames", 0, "stop after this many frames (0: no limit)", range=(0, 2**31 - 1)),
    P("frame_id", "camera", "header.frame_id of the images"),
    P("encoding", "bgr8", "encoding of the published sensor_msgs/Image", choices=("bgr8", "rgb8", "mono8")),
    P("width", 0, "resize frames to this width, px (0: as read; height follows when 0)", range=(0, 16384)),
    P("height", 0, "resize frames to this height, px (0: as read; width follows when 0)", range=(0, 16384)),
    P("publish_compressed", False, "also publish JPEG frames on image/compressed"),
    P("jpeg_quality", 90, "JPEG quality of image/compressed", range=(1, 100)),
    P("reliable", False, "publish with reliable QoS (default: best effort, like camera drivers)"),
    P(
        "wait_for_subscriber_s",
        0.0,
        "before the first frame, wait up to this long for a subscriber, s (0: start at once)",
        range=(0.0, 3600.0),
    ),
)


def resize(frame: Any, width: int, height: int) -> Any:
    """``frame`` at ``width`` x ``height``; a 0 side keeps the aspect ratio; both 0: unchanged."""
    if width <= 0 and height <= 0:
        return frame
    h, w = frame.shape[:2]
    if width <= 0:
        width = max(1, round(w * height / h))
    if height <= 0:
        height = max(1, round(h * width / w))
    if (width, height) == (w, h):
        return frame
    interpolation = cv2.INTER_AREA if width < w else cv2.INTER_LINEAR
    return cv2.resize(frame, (width, height), interpolation=interpolation)


def convert(frame: Any, encoding: str) -> Any:
    """A BGR frame in the layout of ``encoding``."""
    if encoding == "rgb8":
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    if encoding == "mono8":
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return frame


class CameraNode(Node):
    """Publishes frames of a FrameSource at a steady rate on its own thread."""

    def __init__(self, start: bool = True, **node_kwargs: Any) -> None:
        super().__init__("camera_node", **node_kwargs)
        self._values = values = declare(self, PARAMETERS)
        if not values["source"]:
            raise ValueError(
                "set the 'source' parameter (a video, an image, a folder of images or a webcam index)"
            )
        self._source: FrameSource = open_frame_source(values["source"])
        rate = values["rate_hz"] or self._source.fps or DEFAULT_IMAGE_RATE_HZ
        self.rate_hz = float(rate)
        self.published = 0
        self.finished = threading.Event()
        self._stop = threading.Event()
        qos = image_publisher_qos(reliable=values["reliable"])
        self._publisher = self.create_publisher(Image, "image", qos)
        self._compressed = (
            self.create_publisher(CompressedImage, "image/compressed", qos)
            if values["publish_compressed"]
            else None
        )
        self._thread = threading.Thread(target=self._run, name="camera_publisher", daemon=True)
        if start:
            self.start()
        self.get_logger().info(
            f"publishing {self._source.description} on {self._publisher.topic_name} at {self.rate_hz:g} Hz"
            + (" (looping)" if values["loop"] else "")
        )

    def start(self) -> None:
        """Start publishing (at construction unless ``start=False``)."""
        if not self._thread.is_alive() and not self.finished.is_set():
            self._thread.start()

    def subscription_count(self) -> int:
        """Subscriptions matched with the image publishers."""
        count = self._publisher.get_subscription_count()
        return count + (self._compressed.get_subscription_count() if self._compressed is not None else 0)

    def _next_frame(self) -> Any:
        frame = self._source.read()
        if frame is None and self._values["loop"] and self._source.can_rewind and self.published:
            self._source.rewind()
            frame = self._source.read()
        return frame

    def _publish(self, frame: Any) -> None:
        header_stamp = self.get_clock().now().to_msg()
        frame = resize(frame, self._values["width"], self._values["height"])
        msg = numpy_to_image(convert(frame, self._values["encoding"]), self._values["encoding"])
        msg.header.stamp, msg.header.frame_id = header_stamp, self._values["frame_id"]
        self._publisher.publish(msg)
        if self._compressed is not None:
            self._compressed.publish(
                numpy_to_compressed(frame, "jpeg", msg.header, self._values["jpeg_quality"])
            )
        self.published += 1

    def _run(self) -> None:
        wait_until = time.monotonic() + self._values["wait_for_subscriber_s"]
        while self.subscription_count() == 0 and time.monotonic() < wait_until:
            if self._stop.wait(0.02):
                return
        period = 1.0 / self.rate_hz
        deadline = time.monotonic()
        max_frames = self._values["max_frames"]
        try:
            while not self._stop.is_set():
                if max_frames and self.published >= max_frames:
                    self._finish(f"published max_frames={max_frames} frames")
                    return
                frame = self._next_frame()
                if frame is None:
                    self._finish(f"end of {self._source.description} after {self.published} frames")
                    return
                self._publish(frame)
                deadline += period
                delay = deadline - time.monotonic()
                if delay < -period:  # fell behind (slow source): do not try to catch up with a burst
                    deadline = time.monotonic()
                elif delay > 0 and self._stop.wait(delay):
                    return
        except Exception as error:  # the thread must not die silently
            if not self._stop.is_set():
                self.get_logger().error(f"camera thread stopped: {error!r}")
            self.finished.set()

    def _finish(self, why: str) -> None:
        self.get_logger().info(f"{why}; no more images")
        self.finished.set()

    def destroy_node(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)
        self._source.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run fer_ros camera_node --ros-args -p source:=video.mp4``: spin until SIGINT."""
    return run_node(CameraNode, "camera_node", args)


if __name__ == "__main__":
    sys.exit(main())
