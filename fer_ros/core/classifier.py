"""ONNX expression classifier driven by the model's metadata (no ROS import)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fer_ros.core.errors import ModelMetadataError
from fer_ros.core.model_metadata import ModelMetadata, load_model_metadata
from fer_ros.core.onnx_session import create_session


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z


class ExpressionClassifier:
    """Expression probabilities for batches of aligned face crops; everything model-specific is metadata.

    ``predict`` takes uint8 crops already at the model's input size and colour (``SimilarityAligner`` output) and
    runs the model once for the whole batch (twice the batch with ``tta_flip``: crops and their mirror images).
    The probabilities are ``softmax(logits / temperature)`` with the model's calibration temperature
    (``fer_ros.temperature``, 1.0 when absent), so that a score of 0.8 is right about 80 % of the time.
    """

    def __init__(self, model_path: str | Path, num_threads: int = 1, tta_flip: bool | None = None) -> None:
        self.model_path = Path(model_path)
        self._session = create_session(self.model_path, num_threads)
        props = self._session.get_modelmeta().custom_metadata_map
        self.metadata: ModelMetadata = load_model_metadata(self.model_path, props)
        self.tta_flip = self.metadata.tta_flip if tta_flip is None else bool(tta_flip)
        model_input = self._session.get_inputs()[0]
        self.input_name: str = model_input.name
        self._check_shapes(model_input.shape, self._session.get_outputs()[0].shape)
        channels = self.metadata.channels
        std = np.asarray(self.metadata.std, dtype=np.float32)
        mean = np.asarray(self.metadata.mean, dtype=np.float32)
        self._scale = (1.0 / (255.0 * std)).reshape(1, 1, 1, channels)
        self._offset = (mean / std).reshape(1, 1, 1, channels)
        self._buffer = np.empty((0,), dtype=np.float32)

    def _check_shapes(self, input_shape: list, output_shape: list) -> None:
        meta = self.metadata
        width, height = meta.input_size
        expected = [meta.channels, height, width] if meta.layout == "NCHW" else [height, width, meta.channels]
        actual = list(input_shape[1:])
        if len(actual) != 3 or any(isinstance(a, int) and a != e for a, e in zip(actual, expected, strict=True)):
            raise ModelMetadataError(
                f"{self.model_path}: metadata says input {meta.layout} {expected}, model input is {input_shape}"
            )
        if len(output_shape) != 2 or (
            isinstance(output_shape[1], int) and output_shape[1] != len(meta.labels)
        ):
            raise ModelMetadataError(
                f"{self.model_path}: metadata has {len(meta.labels)} labels, model output is {output_shape}"
            )

    @property
    def task(self) -> str:
        """The model's task (``fer_ros.task``): "expression", or another per-face classification."""
        return self.metadata.task

    @property
    def labels(self) -> tuple[str, ...]:
        return self.metadata.labels

    @property
    def input_size(self) -> tuple[int, int]:
        return self.metadata.input_size

    def to_model_crops(self, images: np.ndarray) -> np.ndarray:
        """Resize arbitrary uint8 crops (N, h, w) gray or (N, h, w, 3) BGR to the model's size and colour."""
        width, height = self.metadata.input_size
        color = self.metadata.color
        out = []
        for image in images:
            if image.shape[:2] != (height, width):
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
            if image.ndim == 2 and color != "gray":
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            elif image.ndim == 3 and color == "gray":
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            if image.ndim == 3 and color == "rgb":
                image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
            out.append(image)
        return (
            np.stack(out)
            if out
            else np.empty((0, height, width) + ((3,) if color != "gray" else ()), np.uint8)
        )

    def input_tensor(self, crops: np.ndarray) -> np.ndarray:
        """The normalised model input for uint8 crops; a view of a buffer reused by the next call."""
        n = crops.shape[0]
        width, height = self.metadata.input_size
        channels = self.metadata.channels
        total = n * height * width * channels
        if self._buffer.size < total:
            self._buffer = np.empty(total * 2, dtype=np.float32)
        nhwc = self._buffer[:total].reshape(n, height, width, channels)
        np.multiply(crops.reshape(n, height, width, channels), self._scale, out=nhwc, casting="unsafe")
        nhwc -= self._offset
        if self.metadata.layout == "NHWC":
            return nhwc
        if channels == 1:
            return nhwc.reshape(n, 1, height, width)
        return np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2))

    def predict(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, len(labels))`` for uint8 crops ``(N, H, W[, C])`` at the model's size and colour."""
        n = crops.shape[0]
        if n == 0:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        width, height = self.metadata.input_size
        if crops.shape[1:3] != (height, width):
            raise ValueError(f"crops are {crops.shape[2]}x{crops.shape[1]}, the model needs {width}x{height}")
        if self.tta_flip:
            crops = np.concatenate([crops, crops[:, :, ::-1]])
        output = self._session.run(None, {self.input_name: self.input_tensor(crops)})[0]
        output = np.asarray(output, dtype=np.float32).reshape(crops.shape[0], -1)
        if self.metadata.output == "logits":
            if self.metadata.temperature != 1.0:
                output *= np.float32(1.0 / self.metadata.temperature)
            probs = softmax(output)
        else:
            probs = output
        if self.tta_flip:
            probs = 0.5 * (probs[:n] + probs[n:])
        return probs
