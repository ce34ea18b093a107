"""A node that records what the graph produced: the annotated video and a per-face summary (``fer-ros run
--record DIR``, ``make demo``)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image

from fer_ros.app.face_summary import FaceSummary, summary_table  # noqa: F401 (summary_table: re-exported)
from fer_ros.msg import ExpressionCommand, FaceExpressionArray
from fer_ros.ros.callback_guard import CallbackGuard
from fer_ros.ros.image_conversion import ImageConversionError, to_bgr8
from fer_ros.ros.messages import stamp_to_seconds
from fer_ros.ros.qos import results_qos

MAX_GAP_FILL_S = 2.0


class RunRecorder(Node):
    """Subscribes to the annotated image, the faces and the mirror's commands; writes the video as frames
    arrive (each held until the next one's stamp, so the video plays in real time) and summarises at the
    end."""

    def __init__(
        self, out_dir: str | Path, fps: float = 30.0, record_video: bool = True, **node_kwargs: Any
    ) -> None:
        super().__init__("fer_ros_recorder", **node_kwargs)
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.video_path = self.out_dir / "annotated.mp4"
        self.summary_path = self.out_dir / "summary.json"
        self.fps = float(fps)
        self._lock = threading.Lock()
        self._writer: cv2.VideoWriter | None = None
        self._frame_size: tuple[int, int] | None = None
        self._first_stamp_s: float | None = None
        self._written = 0
        self._last_frame: np.ndarray | None = None
        self.annotated_frames = 0
        self.faces_messages = 0
        self.labels: list[str] = []
        self.source = ""
        self.faces: dict[str, FaceSummary] = {}
        self.commands = 0
        self.command_changes: list[dict] = []
        self._last_command: str | None = None
        self._start_stamp_s: float | None = None
        self._command_text = ""
        self._guard = CallbackGuard(self)
        guard = self._guard.wrap
        if record_video:
            self.create_subscription(Image, "overlay/image", guard("image", self._on_image), results_qos(10))
        self.create_subscription(FaceExpressionArray, "faces", guard("faces", self._on_faces), results_qos(50))
        self.create_subscription(
            ExpressionCommand, "expression_command", guard("command", self._on_command), results_qos(50)
        )

    def _t(self, stamp_s: float) -> float:
        if self._start_stamp_s is None:
            self._start_stamp_s = stamp_s
        return stamp_s - self._start_stamp_s

    def _on_faces(self, msg: Any) -> None:
        with self._lock:
            self.faces_messages += 1
            self.labels, self.source = list(msg.labels), msg.source
            time_s = self._t(stamp_to_seconds(msg.header.stamp))
            for face in msg.faces:
                self.faces.setdefault(face.face_id, FaceSummary(face.face_id)).add(time_s, face)

    def _on_command(self, msg: Any) -> None:
        with self._lock:
            self.commands += 1
            self._command_text = f"robot: {msg.expression} {msg.intensity:.2f}" + (
                f" ({msg.face_id})" if msg.face_id else ""
            )
            if msg.expression != self._last_command:
                self._last_command = msg.expression
                self.command_changes.append(
                    {
                        "time_s": round(self._t(stamp_to_seconds(msg.header.stamp)), 3),
                        "expression": msg.expression,
                        "face_id": msg.face_id,
                        "intensity": round(float(msg.intensity), 3),
                    }
                )

    def _on_image(self, msg: Any) -> None:
        try:
            frame = to_bgr8(msg)
        except ImageConversionError:
            return
        with self._lock:
            self.annotated_frames += 1
            stamp_s = stamp_to_seconds(msg.header.stamp)
            if self._writer is None:
                self._frame_size = (frame.shape[1], frame.shape[0])
                self._writer = cv2.VideoWriter(
                    str(self.video_path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._frame_size
                )
                if not self._writer.isOpened():
                    self.get_logger().error(f"cannot write {self.video_path}")
                    return
                self._first_stamp_s = stamp_s
            if (frame.shape[1], frame.shape[0]) != self._frame_size:
                frame = cv2.resize(frame, self._frame_size)
            if self._command_text:
                _draw_banner(frame, self._command_text)
            # Hold the previous frame until this one's time: skipped camera frames keep the video real-time.
            index = int(round((stamp_s - self._first_stamp_s) * self.fps))
            if self._last_frame is not None:
                gap = min(index - self._written, int(MAX_GAP_FILL_S * self.fps))
                for _ in range(max(0, gap)):
                    self._writer.write(self._last_frame)
                    self._written += 1
            self._writer.write(frame)
            self._written = max(self._written + 1, index + 1)
            self._last_frame = frame

    def finish(self, extra: dict | None = None) -> dict:
        """Close the video, write summary.json; returns the summary."""
        with self._lock:
            if self._writer is not None:
                self._writer.release()
                self._writer = None
            faces = sorted(self.faces.values(), key=lambda f: (-f.frames, f.face_id))
            summary = {
                "source": self.source,
                "labels": self.labels,
                "faces_messages": self.faces_messages,
                "annotated_frames": self.annotated_frames,
                "video": str(self.video_path) if self.annotated_frames else None,
                "faces": [face.to_dict(self.labels) for face in faces],
                "mirror": {"commands": self.commands, "changes": self.command_changes},
                **(extra or {}),
            }
        self.summary_path.write_text(json.dumps(summary, indent=2) + "\n")
        return summary


def _draw_banner(frame: np.ndarray, text: str) -> None:
    """The mirror's current command in the bottom-left corner."""
    scale = max(0.5, frame.shape[0] / 720.0)
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    bottom = frame.shape[0] - 6
    cv2.rectangle(frame, (4, bottom - height - baseline - 4), (12 + width, bottom), (0, 0, 0), cv2.FILLED)
    cv2.putText(
        frame,
        text,
        (8, bottom - baseline - 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        1,
        cv2.LINE_AA,
    )
