"""YuNet face detector: onnxruntime with the project's own decoder, or cv2.FaceDetectorYN (no ROS import).

Decoding (libfacedetection.train YuNet): input BGR float 0..255 NCHW, H and W multiples of 32. For each stride s in
(8, 16, 32) the outputs ``cls_s``, ``obj_s`` ``[1, HW/s^2, 1]``, ``bbox_s`` ``[.., 4]`` and ``kps_s`` ``[.., 10]``;
score = sqrt(cls * obj); cell (row, col): cx = (col + dx) s, cy = (row + dy) s, w = exp(dw) s, h = exp(dh) s,
keypoint k = ((col + kx) s, (row + ky) s). Then non-maximum suppression.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from fer_ros.core.errors import FerRosError
from fer_ros.core.onnx_session import create_session
from fer_ros.core.types import Detection

STRIDES = (8, 16, 32)
BACKENDS = ("onnxruntime", "opencv")


def nms(boxes_xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int) -> list[int]:
    """Greedy non-maximum suppression; returns the kept indices, best score first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes_xyxy.T
    areas = np.maximum(x2 - x1, 0.0) * np.maximum(y2 - y1, 0.0)
    keep: list[int] = []
    while order.size > 0 and len(keep) < max_keep:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0.0)
        h = np.maximum(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0.0)
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


class YuNetDetector:
    """Detect faces and their 5 keypoints with YuNet.

    The frame is resized so that its long side is ``input_long_side`` px (aspect kept), padded at the bottom and
    right to multiples of 32, and results are mapped back to source pixels. ``backend="onnxruntime"`` (default,
    any model, dynamic ones included) uses the project's decoder; ``backend="opencv"`` uses cv2.FaceDetectorYN.
    """

    def __init__(
        self,
        model_path: str | Path,
        input_long_side: int = 320,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        max_faces: int = 20,
        min_face_size_px: float = 0.0,
        num_threads: int = 1,
        backend: str = "onnxruntime",
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown detector backend {backend!r}; expected one of {BACKENDS}")
        if input_long_side < 32:
            raise ValueError(f"input_long_side must be >= 32, got {input_long_side}")
        self.model_path = Path(model_path)
        self.input_long_side = int(input_long_side)
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_faces = int(max_faces)
        self.min_face_size_px = float(min_face_size_px)
        self.backend = backend
        self._input_buffers: dict[tuple[int, int], np.ndarray] = {}
        self._grids: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = {}
        if backend == "onnxruntime":
            self._session = create_session(self.model_path, num_threads)
            self._input_name = self._session.get_inputs()[0].name
            names = [o.name for o in self._session.get_outputs()]
            missing = [
                f"{kind}_{s}"
                for kind in ("cls", "obj", "bbox", "kps")
                for s in STRIDES
                if f"{kind}_{s}" not in names
            ]
            if missing:
                raise FerRosError(f"{self.model_path}: not a YuNet model (missing outputs {missing})")
            self._output_names = [f"{kind}_{s}" for s in STRIDES for kind in ("cls", "obj", "bbox", "kps")]
        else:
            cv2.setNumThreads(num_threads)
            self._cv = cv2.FaceDetectorYN.create(
                str(self.model_path), "", (320, 320), self.score_threshold, self.nms_threshold, 5000
            )
            self._cv_size: tuple[int, int] | None = None

    def input_size(self, width: int, height: int) -> tuple[int, int, float]:
        """Network input (width, height) before padding, and the source->input scale, for a frame size."""
        scale = self.input_long_side / max(width, height)
        return max(1, round(width * scale)), max(1, round(height * scale)), scale

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """Detect faces in an 8-bit BGR image; best score first, at most ``max_faces``."""
        height, width = image_bgr.shape[:2]
        in_w, in_h, scale = self.input_size(width, height)
        interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
        resized = (
            image_bgr
            if (in_w, in_h) == (width, height)
            else cv2.resize(image_bgr, (in_w, in_h), interpolation=interp)
        )
        if self.backend == "onnxruntime":
            boxes, scores, kps = self._detect_onnx(resized)
        else:
            boxes, scores, kps = self._detect_opencv(resized)
        if self.backend == "onnxruntime" and scores.size:
            # All survivors of NMS (not max_faces): the size filter below may still drop some.
            keep = nms(boxes, scores, self.nms_threshold, len(scores))
            boxes, scores, kps = boxes[keep], scores[keep], kps[keep]
        # After NMS, so a small face is not let through by a larger, lower-scoring duplicate box.
        if self.min_face_size_px > 0 and scores.size:
            sides = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / scale
            big = sides >= self.min_face_size_px
            boxes, scores, kps = boxes[big], scores[big], kps[big]
        if scores.size == 0:
            return []
        boxes, scores, kps = boxes[: self.max_faces], scores[: self.max_faces], kps[: self.max_faces]
        # Map back to source pixels (independent x and y factors because of rounding of the input size).
        sx, sy = width / in_w, height / in_h
        boxes = boxes * np.array([sx, sy, sx, sy], dtype=np.float32)
        kps = kps * np.array([sx, sy], dtype=np.float32)
        detections = []
        for box, score, points in zip(boxes, scores, kps, strict=True):
            x1, y1, x2, y2 = (float(v) for v in box)
            w, h = x2 - x1, y2 - y1
            if w <= 0 or h <= 0:
                continue
            detections.append(Detection(box=(x1, y1, w, h), score=float(score), keypoints=points.copy()))
        return detections

    # -- onnxruntime backend -------------------------------------------------------------------------------

    def _grid(self, pad_w: int, pad_h: int) -> list[tuple[np.ndarray, np.ndarray]]:
        key = (pad_w, pad_h)
        if key not in self._grids:
            grids = []
            for s in STRIDES:
                rows, cols = pad_h // s, pad_w // s
                r, c = np.divmod(np.arange(rows * cols, dtype=np.float32), np.float32(cols))
                grids.append((c, r))
            self._grids[key] = grids
        return self._grids[key]

    def _detect_onnx(self, resized: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        in_h, in_w = resized.shape[:2]
        pad_w, pad_h = math.ceil(in_w / 32) * 32, math.ceil(in_h / 32) * 32
        buf = self._input_buffers.get((pad_w, pad_h))
        if buf is None:
            buf = np.zeros((1, 3, pad_h, pad_w), dtype=np.float32)  # padding stays zero
            self._input_buffers = {(pad_w, pad_h): buf}
        for plane, channel in zip(buf[0, :, :in_h, :in_w], cv2.split(resized), strict=True):
            np.copyto(plane, channel, casting="unsafe")  # uint8 -> float32 per plane: 3x faster than a transpose
        outputs = self._session.run(self._output_names, {self._input_name: buf})
        all_boxes, all_scores, all_kps = [], [], []
        for i, (s, (col, row)) in enumerate(zip(STRIDES, self._grid(pad_w, pad_h), strict=True)):
            cls, obj, bbox, kps = (o[0] for o in outputs[4 * i : 4 * i + 4])
            # sqrt(cls * obj) >= t  <=>  cls * obj >= t^2: square root and clipping only for the candidates.
            idx = np.flatnonzero(cls[:, 0] * obj[:, 0] >= self.score_threshold**2)
            if idx.size == 0:
                continue
            score = np.sqrt(np.clip(cls[idx, 0], 0.0, 1.0) * np.clip(obj[idx, 0], 0.0, 1.0))
            keep = score >= self.score_threshold
            idx, score = idx[keep], score[keep]
            c, r, b, k = col[idx], row[idx], bbox[idx], kps[idx]
            cx, cy = (c + b[:, 0]) * s, (r + b[:, 1]) * s
            w, h = np.exp(b[:, 2]) * s, np.exp(b[:, 3]) * s
            all_boxes.append(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1))
            all_scores.append(score)
            pts = k.reshape(-1, 5, 2)
            all_kps.append(
                np.stack([(c[:, None] + pts[:, :, 0]) * s, (r[:, None] + pts[:, :, 1]) * s], axis=2)
            )
        if not all_scores:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        return np.concatenate(all_boxes), np.concatenate(all_scores), np.concatenate(all_kps)

    # -- OpenCV backend --------------------------------------------------------------------------------------

    def _detect_opencv(self, resized: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        in_h, in_w = resized.shape[:2]
        if self._cv_size != (in_w, in_h):
            self._cv.setInputSize((in_w, in_h))
            self._cv_size = (in_w, in_h)
        _, faces = self._cv.detect(resized)
        if faces is None or len(faces) == 0:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        faces = faces[np.argsort(-faces[:, 14], kind="stable")]
        boxes = np.concatenate([faces[:, 0:2], faces[:, 0:2] + faces[:, 2:4]], axis=1)
        return boxes, faces[:, 14], faces[:, 4:14].reshape(-1, 5, 2)
