"""mirror_node: ``faces`` in, a steady ``expression_command`` (fer_ros/ExpressionCommand) out at a fixed rate.

The decision (target face, hysteresis, dwell time, decay to neutral, mapping onto the robot's expressions) is
fer_ros.core.mirroring.MirrorPolicy; this node feeds it and publishes its command every ``1 / rate_hz`` s.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from dataclasses import fields
from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node

from fer_ros.core.mirroring import (
    TARGET_MODES,
    ExpressionMapping,
    FaceObservation,
    MirrorConfig,
    MirrorPolicy,
)
from fer_ros.msg import ExpressionCommand, FaceExpressionArray
from fer_ros.ros.callback_guard import CallbackGuard, parameters_refused
from fer_ros.ros.config_files import find_config_file
from fer_ros.ros.parameters import ParamSpec, check_changes, declare, spec_table
from fer_ros.ros.qos import results_qos
from fer_ros.ros.spin import run_node

P = ParamSpec
PARAMETERS: tuple[ParamSpec, ...] = (
    P("rate_hz", 10.0, "rate of the published commands, Hz", range=(0.1, 1000.0)),
    P(
        "mapping_file",
        "mirror_mapping.yaml",
        "YAML mapping of recognised labels onto the robot's expressions "
        "(a path, or a name looked up in share/fer_ros/config); empty: every label as itself",
    ),
    P("target", "largest", "which face to mirror", choices=TARGET_MODES, runtime=True),
    P("locked_face_id", "", "face_id followed when target is 'locked'", runtime=True),
    P(
        "target_switch_ratio",
        1.5,
        "another face takes over only when its size (largest) or centrality "
        "(central) is this many times the current target's",
        range=(1.0, 100.0),
        runtime=True,
    ),
    P("min_confidence", 0.5, "least score of an expression to be shown", range=(0.0, 1.0), runtime=True),
    P(
        "hysteresis_margin",
        0.3,
        "a new expression must beat the shown one's score by this margin",
        range=(0.0, 1.0),
        runtime=True,
    ),
    P("min_dwell_s", 1.0, "an expression is shown at least this long, s", range=(0.0, 600.0), runtime=True),
    P(
        "lost_timeout_s",
        0.5,
        "the target counts as lost after this long unseen, s",
        range=(0.0, 600.0),
        runtime=True,
    ),
    P(
        "intensity_time_constant_s",
        0.2,
        "time constant of the intensity following the score, s",
        range=(0.0, 60.0),
        runtime=True,
    ),
    P(
        "decay_time_constant_s",
        0.5,
        "time constant of the intensity's decay once the target is lost, s",
        range=(0.0, 600.0),
        runtime=True,
    ),
    P(
        "release_intensity",
        0.05,
        "below this intensity a lost target's expression returns to neutral",
        range=(0.0, 1.0),
        runtime=True,
    ),
)
SPECS = spec_table(PARAMETERS)
_POLICY_FIELDS = tuple(f.name for f in fields(MirrorConfig))


def load_mapping(mapping_file: str) -> ExpressionMapping:
    """The mapping named by the ``mapping_file`` parameter (empty: identity)."""
    if not mapping_file:
        return ExpressionMapping.identity()
    return ExpressionMapping.from_yaml(find_config_file(mapping_file))


def observations(msg: Any) -> list[FaceObservation]:
    """The faces of a FaceExpressionArray as policy observations (smoothed scores).

    A message is not trusted: a face with a non-finite box is left out; scores that are not one number per
    label (unclassified faces carry none) count as all 0, and each score is clipped to 0..1 (NaN: 0), so
    that no message can poison the policy's state.
    """
    count = len(msg.labels)
    faces = []
    for face in msg.faces:
        box = (face.x, face.y, face.width, face.height)
        if not all(math.isfinite(v) for v in box):
            continue
        scores = [0.0] * count
        if len(face.scores) == count:
            scores = [min(max(float(s), 0.0), 1.0) if math.isfinite(s) else 0.0 for s in face.scores]
        faces.append(FaceObservation(face.face_id, box, scores))
    return faces


class MirrorNode(Node):
    """Publishes the robot expression to show, at a fixed rate."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("mirror_node", **node_kwargs)
        values = declare(self, PARAMETERS)
        try:
            mapping = load_mapping(values["mapping_file"])
        except FileNotFoundError as error:
            raise ValueError(str(error)) from None
        config = MirrorConfig(**{name: values[name] for name in _POLICY_FIELDS})
        self.policy = MirrorPolicy(config, mapping)
        self._lock = threading.Lock()
        self._warned_labels: set[str] = set()
        self._guard = CallbackGuard(self, own_diagnostics=True)
        guard = self._guard.wrap
        self._publisher = self.create_publisher(ExpressionCommand, "expression_command", results_qos())
        self._subscription = self.create_subscription(
            FaceExpressionArray, "faces", guard("faces", self._on_faces), results_qos()
        )
        self.add_on_set_parameters_callback(
            guard("set_parameters", self._on_set_parameters, parameters_refused)
        )
        self._timer = self.create_timer(1.0 / values["rate_hz"], guard("tick", self._tick))
        self.get_logger().info(
            f"mirroring {self._subscription.topic_name} onto {self._publisher.topic_name} "
            f"at {values['rate_hz']} Hz"
            f" (target {config.target}, robot expressions: {', '.join(mapping.robot_expressions)})"
        )

    def _on_faces(self, msg: Any) -> None:
        unknown = [
            label
            for label in msg.labels
            if label not in self.policy.mapping.mapping and label not in self._warned_labels
        ]
        if unknown:
            self._warned_labels.update(unknown)
            self.get_logger().warning(f"labels {unknown} are not in the mirror mapping: ignored")
        with self._lock:
            self.policy.observe(
                observations(msg), msg.labels, (msg.image_width, msg.image_height), time.monotonic()
            )

    def _tick(self) -> None:
        with self._lock:
            command = self.policy.step(time.monotonic())
        msg = ExpressionCommand()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.expression = command.expression
        msg.intensity = float(command.intensity)
        msg.face_id = command.face_id
        msg.source_confidence = float(command.source_confidence)
        self._publisher.publish(msg)
        if command.changed:
            self.get_logger().info(
                f"now showing {command.expression}"
                + (f" (face {command.face_id})" if command.face_id else "")
            )

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        changes, problem = check_changes(SPECS, parameters)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        with self._lock:
            for name, value in changes.items():
                setattr(self.policy.config, name, value)
            if changes.get("target") == "locked" or "locked_face_id" in changes:
                if self.policy.config.target == "locked":
                    self.policy.lock(self.policy.config.locked_face_id)
        return SetParametersResult(successful=True)


def main(args: list[str] | None = None) -> int:
    """``ros2 run fer_ros mirror_node``: spin until SIGINT."""
    return run_node(MirrorNode, "mirror_node", args)


if __name__ == "__main__":
    sys.exit(main())
