"""Similarity alignment of a face to a classifier's template from its 5 keypoints (no ROS import)."""

from __future__ import annotations

import cv2
import numpy as np

from fer_ros.core.model_metadata import ModelMetadata
from fer_ros.core.types import Detection

# Median YuNet keypoints in FER2013 / FER+ 48x48 training crops (unit coordinates), measured by
# fer_ros/training/template.py: aligning onto it frames live faces like those crops.
FER2013_TEMPLATE = np.array(
    [[0.315, 0.3814], [0.6744, 0.3796], [0.4883, 0.5933], [0.352, 0.7385], [0.645, 0.7375]], dtype=np.float32
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; no reflection) mapping src to dst.

    Closed form of Umeyama's method in 2-D: with centred points as complex numbers, the rotation-and-scale is
    ``c = sum(conj(x) y) / sum(|x|^2)``. Returns a 2x3 float64 matrix for cv2.warpAffine.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    xs, ys = src - src_mean, dst - dst_mean
    norm = float((xs**2).sum())
    if norm < 1e-12:
        raise ValueError("degenerate source points")
    a = float((xs[:, 0] * ys[:, 0] + xs[:, 1] * ys[:, 1]).sum()) / norm
    b = float((xs[:, 0] * ys[:, 1] - xs[:, 1] * ys[:, 0]).sum()) / norm
    t = dst_mean - np.array([a * src_mean[0] - b * src_mean[1], b * src_mean[0] + a * src_mean[1]])
    return np.array([[a, -b, t[0]], [b, a, t[1]]])


class SimilarityAligner:
    """Warp faces to a model's input: keypoints onto ``template`` (unit coordinates) at ``output_size``.

    ``crop_scale`` > 1 shrinks the template about the crop centre (more context). Faces without valid keypoints
    get a square crop around their box. Crops come out in the model's colour (``gray``, ``bgr`` or ``rgb``).
    """

    def __init__(
        self,
        template: np.ndarray,
        output_size: tuple[int, int],
        crop_scale: float = 1.0,
        color: str = "gray",
    ) -> None:
        if color not in ("gray", "bgr", "rgb"):
            raise ValueError(f"color must be gray, bgr or rgb, got {color!r}")
        self.output_size = (int(output_size[0]), int(output_size[1]))
        self.crop_scale = float(crop_scale)
        self.color = color
        width, height = self.output_size
        unit = (np.asarray(template, dtype=np.float64) - 0.5) / self.crop_scale + 0.5
        self.template_px = unit * np.array([width, height])
        spread = self.template_px - self.template_px.mean(axis=0)
        self._template_rms = float(np.sqrt((spread**2).sum(axis=1).mean()))
        self._batch: np.ndarray | None = None

    @classmethod
    def from_metadata(cls, metadata: ModelMetadata) -> SimilarityAligner:
        return cls(metadata.align_template, metadata.input_size, metadata.crop_scale, metadata.color)

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    def keypoints_valid(self, detection: Detection) -> bool:
        """True when the 5 keypoints are finite, not collapsed and roughly inside the face box."""
        return bool(self.transforms([detection])[1][0])

    def transforms(self, detections: list[Detection]) -> tuple[np.ndarray, np.ndarray]:
        """Source->crop matrices ``(N, 2, 3)`` of all detections, and which came from keypoints (else the box).

        Keypoints are used when finite, not collapsed, roughly inside the box and not mirrored; the matrix is then
        the least-squares similarity of ``similarity_transform``, else a square crop around the box. One numpy
        pass for all faces.
        """
        n = len(detections)
        boxes = np.array([d.box for d in detections], dtype=np.float64).reshape(n, 4)
        kps = np.full((n, 5, 2), np.nan)
        for i, d in enumerate(detections):
            if d.keypoints is not None and np.shape(d.keypoints) == (5, 2):
                kps[i] = d.keypoints
        x, y, w, h = boxes.T
        with np.errstate(invalid="ignore"):
            mean = kps.mean(axis=1)
            xs = kps - mean[:, None, :]
            rms = np.sqrt((xs**2).sum(axis=2).mean(axis=1))
            inside = (
                (kps[:, :, 0] >= (x - 0.25 * w)[:, None])
                & (kps[:, :, 0] <= (x + 1.25 * w)[:, None])
                & (kps[:, :, 1] >= (y - 0.25 * h)[:, None])
                & (kps[:, :, 1] <= (y + 1.25 * h)[:, None])
            ).all(axis=1)
            valid = (
                np.isfinite(kps).all(axis=(1, 2)) & (w > 1) & (h > 1) & inside
                & (rms >= 0.05 * np.maximum(w, h)) & (kps[:, 1, 0] > kps[:, 0, 0])
            )
        matrices = np.empty((n, 2, 3))
        # Box fallback: a square of side max(w, h) * crop_scale around the box centre.
        width, height = self.output_size
        scale = min(width, height) / (np.maximum(np.maximum(w, h), 1.0) * self.crop_scale)
        cx, cy = x + w / 2.0, y + h / 2.0
        matrices[:, 0, 0] = matrices[:, 1, 1] = scale
        matrices[:, 0, 1] = matrices[:, 1, 0] = 0.0
        matrices[:, 0, 2] = width / 2.0 - scale * cx
        matrices[:, 1, 2] = height / 2.0 - scale * cy
        if valid.any():
            # Closed-form least-squares similarity (Umeyama in 2-D), as ``similarity_transform``.
            xs, m = xs[valid], mean[valid]
            dst_mean = self.template_px.mean(axis=0)
            ys = self.template_px - dst_mean
            norm = (xs**2).sum(axis=(1, 2))
            a = (xs[:, :, 0] * ys[:, 0] + xs[:, :, 1] * ys[:, 1]).sum(axis=1) / norm
            b = (xs[:, :, 0] * ys[:, 1] - xs[:, :, 1] * ys[:, 0]).sum(axis=1) / norm
            matrices[valid] = np.stack(
                [
                    np.stack([a, -b, dst_mean[0] - (a * m[:, 0] - b * m[:, 1])], axis=1),
                    np.stack([b, a, dst_mean[1] - (b * m[:, 0] + a * m[:, 1])], axis=1),
                ],
                axis=1,
            )
        return matrices, valid

    def transform(self, detection: Detection) -> tuple[np.ndarray, bool]:
        """The 2x3 source->crop matrix and whether it came from the keypoints (else from the box)."""
        matrices, valid = self.transforms([detection])
        return matrices[0], bool(valid[0])

    def _warp(self, image: np.ndarray, matrix: np.ndarray, out: np.ndarray | None) -> np.ndarray:
        """Warp ``image`` (gray already for gray models) to one crop in the model's colour."""
        width, height = self.output_size
        # Source pixels per crop pixel; when shrinking a lot, warp at k x size then area-resize (no aliasing).
        shrink = 1.0 / max(float(np.hypot(matrix[0, 0], matrix[1, 0])), 1e-9)
        k = int(min(4, shrink // 1))
        if k >= 2:
            big = cv2.warpAffine(
                image, matrix * k, (width * k, height * k), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            crop = cv2.resize(big, (width, height), interpolation=cv2.INTER_AREA)
        else:
            crop = cv2.warpAffine(
                image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        if self.color == "rgb":
            return cv2.cvtColor(crop, cv2.COLOR_BGR2RGB, dst=out)
        if out is not None:
            out[...] = crop
            return out
        return crop

    def _source(self, image_bgr: np.ndarray) -> np.ndarray:
        # Gray models: convert the frame once, then warp one channel (cheaper than warping BGR per face).
        if self.color == "gray" and image_bgr.ndim == 3:
            return cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        return image_bgr

    def align(
        self, image_bgr: np.ndarray, detection: Detection, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, bool]:
        """One aligned crop (uint8, HxW for gray, HxWx3 otherwise) and whether keypoints were used."""
        matrix, used_keypoints = self.transform(detection)
        return self._warp(self._source(image_bgr), matrix, out), used_keypoints

    def align_many(self, image_bgr: np.ndarray, detections: list[Detection]) -> tuple[np.ndarray, list[bool]]:
        """Aligned crops of all detections as one batch ``(N, H, W[, 3])`` (a view of a reused buffer)."""
        width, height = self.output_size
        n = len(detections)
        shape = (height, width) if self.channels == 1 else (height, width, 3)
        if self._batch is None or self._batch.shape[0] < n:
            self._batch = np.empty((max(n, 16),) + shape, dtype=np.uint8)
        if n == 0:
            return self._batch[:0], []
        matrices, valid = self.transforms(detections)
        source = self._source(image_bgr)
        for i in range(n):
            self._warp(source, matrices[i], self._batch[i])
        return self._batch[:n], valid.tolist()
