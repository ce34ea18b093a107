"""ExpressionPipeline: detect -> align -> classify -> track -> smooth, one call per frame (no ROS import)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from fer_ros.core.aligner import SimilarityAligner
from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.detector import YuNetDetector
from fer_ros.core.errors import ModelNotFoundError
from fer_ros.core.image_io import to_bgr8
from fer_ros.core.knobs import knob, knobs
from fer_ros.core.model_metadata import ModelMetadata
from fer_ros.core.smoothing import ExpressionSmoother
from fer_ros.core.stages import FaceDetector, FaceModel
from fer_ros.core.tracker import FaceTracker
from fer_ros.core.types import FaceResult, FrameResult

SHIPPED_FLOAT_MODEL = Path(__file__).resolve().parent.parent / "models" / "fer_ros_ferplus.onnx"
SHIPPED_MODEL = SHIPPED_FLOAT_MODEL.with_name("fer_ros_ferplus_int8.onnx")  # the default: int8 copy of the above
PEER_MODEL_NAME = "fer_mini_xception_64"
DEFAULT_DETECTOR = "yunet_s_dynamic"


def default_classifier_model() -> str:
    """The shipped FER+ model (int8) when present, else the peer model's registry name."""
    return str(SHIPPED_MODEL) if SHIPPED_MODEL.is_file() else PEER_MODEL_NAME


def model_file(name_or_path: str | Path) -> Path:
    """A model argument that must be a file here (registry names are resolved at the edges:
    ``fer_ros.models.build.build_pipeline`` or ``resolve=`` of ExpressionPipeline)."""
    path = Path(name_or_path)
    if not path.is_file():
        raise ModelNotFoundError(
            f"{name_or_path}: no such model file (registry names: build the pipeline with "
            "fer_ros.models.build.build_pipeline, or pass resolve=fer_ros.models.registry.resolve_model)"
        )
    return path


_TTA = (("auto", None), ("on", True), ("off", False))


@dataclass
class PipelineConfig:
    """Every knob of the pipeline, with defaults for a 640x480 camera on a CPU (the one declaration of each)."""

    detector_model: str = knob(
        DEFAULT_DETECTOR, "YuNet face detector: registry name or .onnx path", cli="--detector"
    )
    detector_backend: str = knob(
        "onnxruntime", "detector runtime", choices=("onnxruntime", "opencv"), cli="--detector-backend"
    )
    detector_input_long_side: int = knob(
        320,
        "long side, px, of the image given to the detector (smaller is faster, finds fewer small faces)",
        range=(32, 2048),
        runtime=True,
        target=("detector", "input_long_side"),
        cli="--input-long-side",
        metavar="PX",
    )
    detection_score_threshold: float = knob(
        0.6,
        "minimum face detection score",
        range=(0.0, 1.0),
        runtime=True,
        target=("detector", "score_threshold"),
        cli="--score-threshold",
    )
    nms_iou_threshold: float = knob(
        0.3,
        "overlap above which the weaker of two detections is dropped",
        range=(0.0, 1.0),
        runtime=True,
        target=("detector", "nms_threshold"),
    )
    max_faces: int = knob(
        10,
        "most faces reported per image (largest scores first)",
        range=(1, 256),
        runtime=True,
        target=("detector", "max_faces"),
        cli="--max-faces",
    )
    min_face_size_px: float = knob(
        12.0,
        "smaller faces (shorter box side, source px) are ignored",
        range=(0.0, 4096.0),
        runtime=True,
        target=("detector", "min_face_size_px"),
    )
    classifier_model: str | None = knob(
        None,
        "expression model: registry name or .onnx path; empty: the shipped FER+ model "
        f"(the peer {PEER_MODEL_NAME} when it is not installed)",
        param_values=(("", None),),
        cli="--model",
    )
    tta_flip: bool | None = knob(
        None,
        "average each prediction with the mirrored crop's (auto: as the model's metadata says)",
        choices=tuple(name for name, _ in _TTA),
        runtime=True,
        param_values=_TTA,
    )
    crop_scale: float | None = knob(
        None,
        "face crop context (>1 = more context); 0: as the model's metadata says",
        range=(0.0, 4.0),
        param_values=((0.0, None),),
    )
    num_threads: int = knob(1, "onnxruntime threads per model", range=(1, 64), cli="--threads")
    track_confirm_hits: int = knob(
        2,
        "detections before a new face's track is confirmed",
        range=(1, 100),
        runtime=True,
        target=("tracker", "confirm_hits"),
    )
    track_max_misses: int = knob(
        5,
        "frames a confirmed track survives without a detection",
        range=(0, 1000),
        runtime=True,
        target=("tracker", "max_misses"),
    )
    track_min_iou: float = knob(
        0.1,
        "least box overlap for a detection to continue a track",
        range=(0.0, 1.0),
        runtime=True,
        target=("tracker", "min_iou"),
    )
    track_max_centre_distance: float = knob(
        1.0,
        "or: largest centre distance, in face sizes, to continue a track",
        range=(0.0, 20.0),
        runtime=True,
        target=("tracker", "max_centre_distance"),
    )
    smoothing_time_constant_s: float = knob(
        0.3,
        "time constant of the per-face moving average of the scores, s (0: no smoothing)",
        range=(0.0, 30.0),
        runtime=True,
        target=("smoother", "time_constant_s"),
    )
    hysteresis_margin: float = knob(
        0.1,
        "the reported expression changes when another one's smoothed score is higher by this margin",
        range=(0.0, 1.0),
        runtime=True,
        target=("smoother", "hysteresis_margin"),
    )
    keep_crops: bool = True  # not a knob: set by the caller that reads the crops
    min_image_side_px: int = knob(
        16, "images with a shorter side give an empty result", range=(1, 4096), runtime=True
    )

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


KNOBS = {f.name: (f.default, k) for f, k in knobs(PipelineConfig)}  # name -> (default, Knob)
TIME_JUMP_S = 1.0  # a frame this much older than the previous one restarts tracking and smoothing


def _aligner(meta: ModelMetadata, crop_scale: float | None = None) -> SimilarityAligner:
    """The aligner that cuts crops as a model's metadata says."""
    scale = meta.crop_scale if crop_scale is None else crop_scale
    return SimilarityAligner(meta.align_template, meta.input_size, scale, meta.color)


class ExpressionPipeline:
    """The whole per-frame engine, built from a ``FaceDetector``, the expression ``FaceModel`` and any further
    per-face models (``face_models``: one per task, each output in ``FaceResult.outputs[task]``). Those not
    given are built from the config's model files (``resolve`` maps a name to a file) at construction.

    ``process`` is guarded by a lock, so one worker thread (or a few, serialised) may call it.
    """

    def __init__(
        self,
        config: PipelineConfig | None = None,
        *,
        detector: FaceDetector | None = None,
        classifier: FaceModel | None = None,
        face_models: Sequence[FaceModel] = (),
        resolve: Callable[[str], Path] = model_file,
    ) -> None:
        self.config = config = config or PipelineConfig()
        self.detector = detector or YuNetDetector(
            resolve(config.detector_model),
            input_long_side=config.detector_input_long_side,
            score_threshold=config.detection_score_threshold,
            nms_threshold=config.nms_iou_threshold,
            max_faces=config.max_faces,
            min_face_size_px=config.min_face_size_px,
            num_threads=config.num_threads,
            backend=config.detector_backend,
        )
        self.classifier = classifier or ExpressionClassifier(
            resolve(config.classifier_model or default_classifier_model()),
            num_threads=config.num_threads,
            tta_flip=config.tta_flip,
        )
        if self.classifier.task != "expression":
            raise ValueError(f"the classifier's task is {self.classifier.task!r}; pass it in face_models")
        tasks = [self.classifier.task, *(model.task for model in face_models)]
        if len(set(tasks)) != len(tasks):
            raise ValueError(f"two per-face models of the same task: {', '.join(tasks)}")
        # Further per-face models, each fed crops aligned as its own metadata says.
        self.face_models = list(face_models)
        self._model_aligners = [_aligner(model.metadata) for model in face_models]
        self.task_labels = {model.task: model.labels for model in face_models}
        meta = self.classifier.metadata
        self.aligner = _aligner(meta, config.crop_scale)
        self.tracker = FaceTracker(
            confirm_hits=config.track_confirm_hits,
            max_misses=config.track_max_misses,
            min_iou=config.track_min_iou,
            max_centre_distance=config.track_max_centre_distance,
        )
        self.smoother = ExpressionSmoother(config.smoothing_time_constant_s, config.hysteresis_margin)
        self._lock = threading.Lock()
        self._last_timestamp_s: float | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        return self.classifier.labels

    def reset(self, restart_ids: bool = False) -> None:
        """Forget tracks and smoothing state (e.g. between unrelated images); optionally restart face ids."""
        with self._lock:
            self.tracker.reset(restart_ids)
            self.smoother.reset()
            self._last_timestamp_s = None

    def configure(self, changes: dict[str, Any]) -> None:
        """Apply run-time changes (config values by PipelineConfig field name) to the live pipeline.

        All are checked first (known, changeable at run time, type, range); ValueError names the first bad one
        and nothing is changed.
        """
        for name, value in changes.items():
            default, spec = KNOBS.get(name, (None, None))
            if spec is None:
                raise ValueError(f"unknown pipeline setting: {name}")
            if not spec.runtime:
                raise ValueError(f"{name} is read only at run time; build a new pipeline to change it")
            problem = spec.check(name, default, spec.to_param(value))
            if problem:
                raise ValueError(problem)
        with self._lock:
            for name, value in changes.items():
                spec = KNOBS[name][1]
                if isinstance(KNOBS[name][0], float) and not isinstance(value, bool):
                    value = float(value)
                setattr(self.config, name, value)
                if spec.target is not None:
                    stage, attribute = spec.target
                    setattr(getattr(self, stage), attribute, value)
            if "tta_flip" in changes:
                tta = self.config.tta_flip
                self.classifier.tta_flip = self.classifier.metadata.tta_flip if tta is None else tta

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
            if self._last_timestamp_s is not None and timestamp_s < self._last_timestamp_s - TIME_JUMP_S:
                self.tracker.reset()  # time went back (a looping recording): start the tracks afresh
                self.smoother.reset()
            self._last_timestamp_s = timestamp_s
            detections = self.detector.detect(image)
            t1 = time.perf_counter()
            crops, used_keypoints = self.aligner.align_many(image, detections)
            t2 = time.perf_counter()
            probabilities = self.classifier.predict(crops)
            outputs = [
                (model.task, model.predict(aligner.align_many(image, detections)[0]))
                for model, aligner in zip(self.face_models, self._model_aligners, strict=True)
            ]
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
                        outputs={task: scores[i] for task, scores in outputs} if outputs else {},
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
        return FrameResult(faces, self.labels, (width, height), timestamp_s, timings, self.task_labels)
