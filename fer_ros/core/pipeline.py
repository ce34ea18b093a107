"""ExpressionPipeline: detect -> align -> classify -> track -> smooth, one call per frame (no ROS import)."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from fer_ros.core.aligner import SimilarityAligner
from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.detector import YuNetDetector
from fer_ros.core.image_io import to_bgr8
from fer_ros.core.smoothing import ExpressionSmoother
from fer_ros.core.tracker import FaceTracker
from fer_ros.core.types import FaceResult, FrameResult

SHIPPED_FLOAT_MODEL = Path(__file__).resolve().parent.parent / "models" / "fer_ros_ferplus.onnx"
SHIPPED_MODEL = SHIPPED_FLOAT_MODEL.with_name("fer_ros_ferplus_int8.onnx")  # the default: int8 copy of the above
PEER_MODEL_NAME = "fer_mini_xception_64"
DEFAULT_DETECTOR = "yunet_s_dynamic"


def default_classifier_model() -> str:
    """The shipped FER+ model (int8) when present, else the peer model's registry name."""
    return str(SHIPPED_MODEL) if SHIPPED_MODEL.is_file() else PEER_MODEL_NAME


def resolve_model(name_or_path: str | Path) -> Path:
    """A model argument as a file path: an existing path, else a registry name looked up in the model cache."""
    from fer_ros.models.registry import resolve_model as registry_resolve

    return Path(registry_resolve(str(name_or_path)))


@dataclass
class PipelineConfig:
    """Every knob of the pipeline, with defaults for a 640x480 camera on a CPU."""

    detector_model: str = DEFAULT_DETECTOR
    detector_backend: str = "onnxruntime"  # or "opencv" (cv2.FaceDetectorYN)
    detector_input_long_side: int = 320
    detection_score_threshold: float = 0.6
    nms_iou_threshold: float = 0.3
    max_faces: int = 10
    min_face_size_px: float = 12.0
    classifier_model: str | None = None  # None: shipped FER+ model, else the peer from the model cache
    tta_flip: bool | None = None  # None: as the model's metadata says
    crop_scale: float | None = None  # None: as the model's metadata says
    num_threads: int = 1
    track_confirm_hits: int = 2
    track_max_misses: int = 5
    track_min_iou: float = 0.1
    track_max_centre_distance: float = 1.0
    smoothing_time_constant_s: float = 0.3
    hysteresis_margin: float = 0.1
    keep_crops: bool = True
    min_image_side_px: int = 16  # smaller frames give an empty result

    @classmethod
    def from_dict(cls, values: dict) -> PipelineConfig:
        """Build from a dict (e.g. ROS parameters); unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown pipeline settings: {', '.join(unknown)}")
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)


class ExpressionPipeline:
    """The whole per-frame engine. Models are resolved and loaded at construction.

    ``process`` is guarded by a lock, so one worker thread (or a few, serialised) may call it.
    """

    def __init__(
        self,
        config: PipelineConfig | None = None,
        *,
        detector: YuNetDetector | None = None,
        classifier: ExpressionClassifier | None = None,
    ) -> None:
        self.config = config = config or PipelineConfig()
        self.detector = detector or YuNetDetector(
            resolve_model(config.detector_model),
            input_long_side=config.detector_input_long_side,
            score_threshold=config.detection_score_threshold,
            nms_threshold=config.nms_iou_threshold,
            max_faces=config.max_faces,
            min_face_size_px=config.min_face_size_px,
            num_threads=config.num_threads,
            backend=config.detector_backend,
        )
        self.classifier = classifier or ExpressionClassifier(
            resolve_model(config.classifier_model or default_classifier_model()),
            num_threads=config.num_threads,
            tta_flip=config.tta_flip,
        )
        meta = self.classifier.metadata
        self.aligner = SimilarityAligner(
            meta.align_template,
            meta.input_size,
            meta.crop_scale if config.crop_scale is None else config.crop_scale,
            meta.color,
        )
        self.tracker = FaceTracker(
            confirm_hits=config.track_confirm_hits,
            max_misses=config.track_max_misses,
            min_iou=config.track_min_iou,
            max_centre_distance=config.track_max_centre_distance,
        )
        self.smoother = ExpressionSmoother(config.smoothing_time_constant_s, config.hysteresis_margin)
        self._lock = threading.Lock()

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels

    def reset(self, restart_ids: bool = False) -> None:
        """Forget tracks and smoothing state (e.g. between unrelated images); optionally restart face ids."""
        with self._lock:
            self.tracker.reset(restart_ids)
            self.smoother.reset()

    def process(self, frame: np.ndarray, timestamp_s: float | None = None) -> FrameResult:
        """Run every stage on one frame (8-bit BGR preferred; gray, BGRA, 16-bit and float are converted).

        Raises InvalidImageError for an empty or malformed array; frames smaller than ``min_image_side_px``
        give an empty result.
        """
        t0 = time.perf_counter()
        if timestamp_s is None:
            timestamp_s = time.monotonic()
        image = to_bgr8(frame)
        height, width = image.shape[:2]
        timings = {"detect": 0.0, "align": 0.0, "classify": 0.0, "track": 0.0}
        if min(height, width) < self.config.min_image_side_px:
            timings["total"] = (time.perf_counter() - t0) * 1e3
            return FrameResult([], self.labels, (width, height), timestamp_s, timings)
        with self._lock:
            detections = self.detector.detect(image)
            t1 = time.perf_counter()
            crops, used_keypoints = self.aligner.align_many(image, detections)
            t2 = time.perf_counter()
            probabilities = self.classifier.predict(crops)
            t3 = time.perf_counter()
            tracks = self.tracker.update([d.box for d in detections], timestamp_s)
            faces = []
            for i, (detection, track) in enumerate(zip(detections, tracks, strict=True)):
                scores, top, confidence = self.smoother.update(track.track_id, probabilities[i], timestamp_s)
                faces.append(
                    FaceResult(
                        face_id=track.track_id,
                        box=detection.box,
                        detection_score=detection.score,
                        keypoints=detection.keypoints,
                        expression=self.labels[top],
                        confidence=confidence,
                        scores=scores,
                        raw_scores=probabilities[i].copy(),
                        aligned_crop=crops[i].copy() if self.config.keep_crops else None,
                        track_confirmed=track.confirmed,
                        aligned_with_keypoints=used_keypoints[i],
                    )
                )
            self.smoother.prune(self.tracker.track_ids)
            t4 = time.perf_counter()
        timings.update(
            detect=(t1 - t0) * 1e3,
            align=(t2 - t1) * 1e3,
            classify=(t3 - t2) * 1e3,
            track=(t4 - t3) * 1e3,
            total=(t4 - t0) * 1e3,
        )
        return FrameResult(faces, self.labels, (width, height), timestamp_s, timings)
