"""overlay_node: camera images + ``faces`` in, annotated images and markers out (for rviz / rqt_image_view).

Each FaceExpressionArray is matched to the image with the same header stamp (a small stamp-keyed buffer) and
drawn with the core's renderer. Outputs, each published only while something subscribes to it (unless
``always_publish``):

- ``overlay/image`` (sensor_msgs/Image, bgr8) and, with ``publish_compressed``, ``overlay/image/compressed``;
- ``overlay/markers`` (visualization_msgs/MarkerArray): a box and a label per face in the image's frame, on a
  plane ``marker_depth_m`` in front of the camera, ``marker_scale_m_per_px`` metres per pixel;
- ``overlay/image_markers`` (visualization_msgs/ImageMarker): each face's box in pixels.
"""

from __future__ import annotations

import sys
from typing import Any

from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import ImageMarker, Marker, MarkerArray

from fer_ros.core.render import confidence_color, render
from fer_ros.msg import FaceExpressionArray
from fer_ros.ros.callback_guard import CallbackGuard
from fer_ros.ros.image_conversion import ImageConversionError, get_converter, numpy_to_compressed
from fer_ros.ros.messages import msg_to_frame_result, stamp_to_nanoseconds
from fer_ros.ros.parameters import ParamSpec, declare
from fer_ros.ros.qos import results_qos, sensor_qos
from fer_ros.ros.spin import run_node
from fer_ros.ros.stamp_matcher import StampMatcher

P = ParamSpec
PARAMETERS: tuple[ParamSpec, ...] = (
    P("compressed", False, "subscribe to image/compressed (sensor_msgs/CompressedImage) instead of image"),
    P("publish_compressed", False, "also publish overlay/image/compressed (JPEG)"),
    P("jpeg_quality", 85, "JPEG quality of overlay/image/compressed", range=(1, 100)),
    P("always_publish", False, "publish every output even when nothing subscribes to it"),
    P("markers", True, "publish overlay/markers (MarkerArray) and overlay/image_markers (ImageMarker)"),
    P("show_scores", True, "draw each face's score bars on the annotated image"),
    P("show_keypoints", True, "draw the five facial keypoints on the annotated image"),
    P("marker_depth_m", 1.0, "distance of the marker plane from the camera, m", range=(0.01, 100.0)),
    P("marker_scale_m_per_px", 0.002, "size of one image pixel on the marker plane, m", range=(1e-6, 1.0)),
    P("buffer_size", 30, "images kept while waiting for their results", range=(1, 1000)),
    P(
        "max_image_pixels",
        4096 * 4096,
        "images with more pixels (width x height; a compressed image's header is read before decoding) "
        "are refused",
        range=(1, 2**31 - 1),
    ),
)


def _color(confidence: float, alpha: float = 1.0) -> ColorRGBA:
    blue, green, red = confidence_color(confidence)
    return ColorRGBA(r=red / 255.0, g=green / 255.0, b=blue / 255.0, a=alpha)


def face_markers(
    faces_msg: Any, depth_m: float, scale_m_per_px: float, lifetime_s: float = 1.0
) -> MarkerArray:
    """A box (LINE_STRIP) and a label (TEXT_VIEW_FACING) per face, after a DELETEALL of the previous set.

    Pixel (u, v) maps to (x, y, z) = ((u - W/2) * scale, (v - H/2) * scale, depth) in the image's frame
    (optical convention: x right, y down, z forward).
    """
    half_w, half_h = faces_msg.image_width / 2.0, faces_msg.image_height / 2.0
    lifetime = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1.0) * 1e9))

    def point(u: float, v: float) -> Point:
        return Point(x=(u - half_w) * scale_m_per_px, y=(v - half_h) * scale_m_per_px, z=depth_m)

    markers = MarkerArray()
    clear = Marker(action=Marker.DELETEALL)
    clear.header = faces_msg.header
    clear.ns = "fer_ros_faces"
    markers.markers.append(clear)
    for index, face in enumerate(faces_msg.faces):
        x, y, w, h = face.x, face.y, face.width, face.height
        box = Marker(type=Marker.LINE_STRIP, action=Marker.ADD, id=2 * index, ns="fer_ros_faces")
        box.header = faces_msg.header
        box.pose.orientation.w = 1.0
        box.scale.x = max(2.0 * scale_m_per_px, 1e-4)
        box.color = _color(face.confidence)
        box.points = [point(x, y), point(x + w, y), point(x + w, y + h), point(x, y + h), point(x, y)]
        box.lifetime = lifetime
        label = Marker(type=Marker.TEXT_VIEW_FACING, action=Marker.ADD, id=2 * index + 1, ns="fer_ros_faces")
        label.header = faces_msg.header
        label.pose.position = point(x + w / 2.0, y - 12.0)
        label.pose.orientation.w = 1.0
        label.scale.z = max(20.0 * scale_m_per_px, 1e-3)
        label.color = _color(face.confidence)
        label.text = f"{face.expression} {face.confidence:.2f} ({face.face_id})"
        label.lifetime = lifetime
        markers.markers.extend([box, label])
    return markers


def face_image_markers(faces_msg: Any, lifetime_s: float = 1.0) -> list[ImageMarker]:
    """One POLYGON ImageMarker per face (pixel coordinates), coloured by confidence."""
    result = []
    for index, face in enumerate(faces_msg.faces):
        marker = ImageMarker(type=ImageMarker.POLYGON, action=ImageMarker.ADD, id=index, ns="fer_ros_faces")
        marker.header = faces_msg.header
        marker.scale = 2.0
        marker.outline_color = _color(face.confidence)
        marker.filled = 0
        marker.lifetime = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s % 1.0) * 1e9))
        x, y, w, h = face.x, face.y, face.width, face.height
        marker.points = [
            Point(x=float(px), y=float(py), z=0.0)
            for px, py in ((x, y), (x + w, y), (x + w, y + h), (x, y + h))
        ]
        result.append(marker)
    return result


class OverlayNode(Node):
    """Draws the faces on the images they were computed from."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("overlay_node", **node_kwargs)
        self._values = values = declare(self, PARAMETERS)
        self._converter = get_converter(max_pixels=values["max_image_pixels"])
        self._matcher: StampMatcher[Any, Any] = StampMatcher(values["buffer_size"])
        self._logged: set[str] = set()
        self.published = 0
        self._guard = CallbackGuard(self, own_diagnostics=True)
        guard = self._guard.wrap
        self._image_pub = self.create_publisher(Image, "overlay/image", results_qos(1))
        self._compressed_pub = (
            self.create_publisher(CompressedImage, "overlay/image/compressed", results_qos(1))
            if values["publish_compressed"]
            else None
        )
        self._markers_pub = self._image_markers_pub = None
        if values["markers"]:
            self._markers_pub = self.create_publisher(MarkerArray, "overlay/markers", results_qos())
            self._image_markers_pub = self.create_publisher(
                ImageMarker, "overlay/image_markers", results_qos()
            )
        if values["compressed"]:
            self._image_sub = self.create_subscription(
                CompressedImage, "image/compressed", guard("image", self._on_image), sensor_qos(5)
            )
        else:
            self._image_sub = self.create_subscription(
                Image, "image", guard("image", self._on_image), sensor_qos(5)
            )
        self._faces_sub = self.create_subscription(
            FaceExpressionArray, "faces", guard("faces", self._on_faces), results_qos()
        )
        self.get_logger().info(
            f"drawing {self._faces_sub.topic_name} on {self._image_sub.topic_name} "
            f"-> {self._image_pub.topic_name}"
        )

    def _wanted(self, publisher: Any) -> bool:
        return publisher is not None and (
            self._values["always_publish"] or publisher.get_subscription_count() > 0
        )

    def _on_image(self, msg: Any) -> None:
        pair = self._matcher.add_left(stamp_to_nanoseconds(msg.header.stamp), msg)
        if pair is not None:
            self._draw(*pair)

    def _on_faces(self, msg: Any) -> None:
        if self._wanted(self._markers_pub):
            self._markers_pub.publish(
                face_markers(msg, self._values["marker_depth_m"], self._values["marker_scale_m_per_px"])
            )
        if self._wanted(self._image_markers_pub):
            for marker in face_image_markers(msg):
                self._image_markers_pub.publish(marker)
        pair = self._matcher.add_right(stamp_to_nanoseconds(msg.header.stamp), msg)
        if pair is not None:
            self._draw(*pair)

    def _draw(self, image_msg: Any, faces_msg: Any) -> None:
        want_raw, want_compressed = self._wanted(self._image_pub), self._wanted(self._compressed_pub)
        if not (want_raw or want_compressed):
            return
        try:
            image = self._converter.to_bgr8(image_msg)
        except ImageConversionError as error:
            if "image" not in self._logged:
                self._logged.add("image")
                self.get_logger().warning(f"cannot draw on an unusable image: {error} (logged once)")
            return
        annotated = render(
            image,
            msg_to_frame_result(faces_msg),
            show_bars=self._values["show_scores"],
            show_thumbnails=False,
            show_keypoints=self._values["show_keypoints"],
        )
        if want_raw:
            self._image_pub.publish(self._converter.to_image(annotated, "bgr8", image_msg.header))
        if want_compressed:
            self._compressed_pub.publish(
                numpy_to_compressed(annotated, "jpeg", image_msg.header, self._values["jpeg_quality"])
            )
        self.published += 1


def main(args: list[str] | None = None) -> int:
    """``ros2 run fer_ros overlay_node``: spin until SIGINT."""
    return run_node(OverlayNode, "overlay_node", args)


if __name__ == "__main__":
    sys.exit(main())
