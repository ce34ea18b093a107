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
from fer_ros.core.pipeline import PipelineConfig
from fer_ros.models.build import build_pipeline
from fer_ros.msg import FaceExpressionArray
from fer_ros.ros.callback_guard import CallbackGuard, parameters_refused
from fer_ros.ros.diagnostics import to_diagnostic_status
from fer_ros.ros.frame_slot import LatestSlot
from fer_ros.ros.image_conversion import ImageConversionError, failure_kind, get_converter
from fer_ros.ros.messages import frame_result_to_msg, stamp_to_seconds
from fer_ros.ros.parameters import ParamSpec, check_changes, declare, knob_parameters, knob_values, spec_table
from fer_ros.ros.qos import results_qos, sensor_qos
from fer_ros.ros.spin import run_node

P = ParamSpec
PARAMETERS: tuple[ParamSpec, ...] = (
    P("compressed", False, "subscribe to image/compressed (sensor_msgs/CompressedImage) instead of image"),
    P("source", "camera", "value of the source field of published messages", runtime=True),
    *knob_parameters(PipelineConfig),  # the pipeline's knobs, declared on PipelineConfig
    P(
        "max_image_pixels",
        4096 * 4096,
        "images with more pixels (width x height; a compressed image's header is read before decoding) are "
        "refused and counted as image_too_large",
        range=(1, 2**31 - 1),
        runtime=True,
    ),
    *knob_parameters(HealthLimits),  # the diagnostics thresholds, declared on HealthLimits
)
SPECS = spec_table(PARAMETERS)



def pipeline_config(values: dict[str, Any]) -> PipelineConfig:
    """PipelineConfig from the node's parameter values."""
    return PipelineConfig.from_dict({**knob_values(PipelineConfig, values), "keep_crops": False})


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
        self.pipeline = build_pipeline(pipeline_config(self._values))
        self._monitor = ProcessingMonitor(
            HealthLimits(**knob_values(HealthLimits, self._values)), time.monotonic()
        )
        self._pending: dict[str, Any] = {}
        self._pending_lock = threading.Lock()
        self._logged_kinds: set[str] = set()
        self._slot: LatestSlot[_Frame] = LatestSlot()
        self._guard = CallbackGuard(self)
        guard = self._guard.wrap

        self._publisher = self.create_publisher(FaceExpressionArray, "faces", results_qos())
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", results_qos())
        kind, topic = (CompressedImage, "image/compressed") if self._values["compressed"] else (Image, "image")
        self._subscription = self.create_subscription(kind, topic, guard("image", self._on_image), sensor_qos())
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
        for name, value in knob_values(HealthLimits, changes).items():
            setattr(self._monitor.limits, name, value)
        with self._pending_lock:  # applied by the worker, between frames
            self._pending.update(knob_values(PipelineConfig, changes))
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
            self.pipeline.configure(changes)

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
        stamp_s = stamp_to_seconds(msg.header.stamp)  # unstamped images: the time of receipt
        try:  # the pipeline restarts its tracks when time goes back (a looping recording)
            result = self.pipeline.process(image, stamp_s if stamp_s > 0.0 else frame.received_s)
            self._publisher.publish(frame_result_to_msg(result, msg.header, self._values["source"]))
        except Exception as error:  # keep the node alive; the counters and the log say what happened
            known = isinstance(error, FerRosError)
            if not known and not rclpy.ok(context=self.context):
                return
            kind = type(error).__name__
            self._monitor.on_failure(kind)
            self._monitor.on_finished()
            self._log_once(kind, f"failed on a frame: {error}" if known else f"unexpected error on a frame: {error!r}")
            return
        done = time.monotonic()
        latency_ms, work_ms = (done - frame.received_s) * 1e3, (done - started) * 1e3
        self._monitor.on_processed(done, latency_ms, work_ms, len(result.faces), result.timings_ms.get("total"))

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
