"""The two stage interfaces of the pipeline: a face detector, and a per-face model (no ROS import).

A new detector is one class with ``detect``; a new per-face model (an attribute head, valence/arousal, a second
expression protocol) is one class with ``task``, ``metadata`` and ``predict``, or just an ONNX file with
``fer_ros.*`` metadata for ``ExpressionClassifier`` (which serves any classification task). Pass them to
``ExpressionPipeline(detector=..., face_models=[...])``; each model's output comes back in
``FaceResult.outputs[task]`` (the expression model's in the expression fields).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from fer_ros.core.model_metadata import ModelMetadata
from fer_ros.core.types import Detection


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces: boxes, scores and (when it can) the 5 keypoints the aligner uses."""

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """The faces in an 8-bit BGR image, in its pixel coordinates."""
        ...


@runtime_checkable
class FaceModel(Protocol):
    """Predicts one task for every face of a frame at once, from crops aligned as its metadata says."""

    metadata: ModelMetadata

    @property
    def task(self) -> str:
        """What it predicts ("expression", "age_group", ...): the key of its output in a FaceResult."""
        ...

    @property
    def labels(self) -> tuple[str, ...]:
        """The names of its outputs, in order."""
        ...

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Scores ``(N, len(labels))`` for uint8 crops ``(N, H, W[, C])`` at the metadata's size and colour."""
        ...
