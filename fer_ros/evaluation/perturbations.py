"""Camera-like degradations of face crops: sensor noise, JPEG, blur, down-scaling, brightness.

One implementation serves both sides: ``fer-ros eval --perturb`` measures the accuracy under each named
perturbation at a fixed strength and seed, and the training augmentation (``fer_ros.training.augment``) draws
random strengths of the same operations. Crops are uint8 ``(N, H, W)`` gray or ``(N, H, W, 3)`` BGR.

Names (``--perturb noise10,jpeg20,blur1,down24,bright1.6``):

- ``noiseS``: additive Gaussian noise, sigma ``S`` grey levels;
- ``jpegQ``: JPEG encode and decode at quality ``Q`` (OpenCV's encoder);
- ``blurS``: Gaussian blur, sigma ``S`` pixels;
- ``downP``: down-scale to ``P`` pixels on the long side (area averaging) and back up (bilinear);
- ``brightF``: multiply the intensities by ``F`` (``F`` < 1: low light), clipped to 0..255.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

KINDS = ("noise", "jpeg", "blur", "down", "bright")
DEFAULT_PERTURBATIONS = "noise10,jpeg20,blur1,down24,bright1.6"
_NAME = re.compile(r"^(noise|jpeg|blur|down|bright)(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class Perturbation:
    """One degradation at a fixed strength (see the module docstring for the meaning of ``value``)."""

    kind: str
    value: float

    @property
    def name(self) -> str:
        return f"{self.kind}{self.value:g}"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown perturbation {self.kind!r}; expected one of {', '.join(KINDS)}")
        low, high = {"noise": (0, 255), "jpeg": (1, 100), "blur": (0, 20), "down": (2, 4096), "bright": (0, 10)}[
            self.kind
        ]
        if not low <= self.value <= high:
            raise ValueError(f"perturbation {self.name}: strength out of range {low}..{high}")

    def apply(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A degraded copy of ``images`` (uint8); only ``noise`` draws from ``rng``."""
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim not in (3, 4):
            raise ValueError(f"crops must be uint8 (N, H, W[, 3]), got {images.dtype} {images.shape}")
        if self.kind == "noise":
            noisy = images.astype(np.float32) + rng.normal(0.0, self.value, images.shape).astype(np.float32)
            return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
        if self.kind == "bright":
            return np.clip(np.rint(images.astype(np.float32) * self.value), 0, 255).astype(np.uint8)
        return np.stack([self._apply_one(image) for image in images]) if len(images) else images.copy()

    def _apply_one(self, image: np.ndarray) -> np.ndarray:
        if self.kind == "jpeg":
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(self.value)])
            if not ok:
                raise ValueError(f"JPEG encoding failed for a {image.shape} crop")
            flag = cv2.IMREAD_GRAYSCALE if image.ndim == 2 else cv2.IMREAD_COLOR
            return cv2.imdecode(encoded, flag)
        if self.kind == "blur":
            return cv2.GaussianBlur(image, (0, 0), self.value) if self.value > 0 else image.copy()
        height, width = image.shape[:2]
        scale = self.value / max(height, width)
        if scale >= 1:
            return image.copy()
        small = cv2.resize(
            image, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def parse_perturbations(text: str) -> list[Perturbation]:
    """``"noise10,jpeg20"`` -> perturbations, in the given order; raises ValueError naming a bad item."""
    result = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        match = _NAME.match(item)
        if not match:
            raise ValueError(
                f"bad perturbation {item!r}: expected KIND+STRENGTH with KIND one of {', '.join(KINDS)} "
                f"(e.g. {DEFAULT_PERTURBATIONS})"
            )
        result.append(Perturbation(match.group(1), float(match.group(2))))
    if not result:
        raise ValueError("no perturbation given")
    return result


@dataclass(frozen=True)
class DegradeConfig:
    """Random camera degradations for training: each crop gets each kind with its probability, at a random strength.

    The ranges cover (and go beyond) the strengths ``fer-ros eval --perturb`` measures.
    """

    noise_prob: float = 0.3
    max_noise_sigma: float = 15.0
    jpeg_prob: float = 0.25
    min_jpeg_quality: int = 10
    blur_prob: float = 0.2
    max_blur_sigma: float = 1.6
    down_prob: float = 0.2
    min_down_size: int = 16
    light_prob: float = 0.25
    light_range: tuple[float, float] = (0.3, 1.7)

    @property
    def enabled(self) -> bool:
        return max(self.noise_prob, self.jpeg_prob, self.blur_prob, self.down_prob, self.light_prob) > 0


def random_degrade(images: np.ndarray, cfg: DegradeConfig, rng: np.random.Generator) -> np.ndarray:
    """Degraded copy of uint8 crops: per crop, in camera order, down-scale, blur, light, noise, then JPEG."""
    out = np.array(images, copy=True)
    n = len(out)
    if n == 0 or not cfg.enabled:
        return out
    size = max(out.shape[1:3])

    def chosen(prob: float) -> np.ndarray:
        return np.flatnonzero(rng.random(n) < prob)

    for i in chosen(cfg.down_prob):
        target = int(rng.integers(cfg.min_down_size, max(cfg.min_down_size + 1, size)))
        out[i] = Perturbation("down", target).apply(out[i : i + 1], rng)[0]
    for i in chosen(cfg.blur_prob):
        out[i] = Perturbation("blur", float(rng.uniform(0.3, cfg.max_blur_sigma))).apply(out[i : i + 1], rng)[0]
    for i in chosen(cfg.light_prob):
        factor = float(np.exp(rng.uniform(np.log(cfg.light_range[0]), np.log(cfg.light_range[1]))))
        out[i] = Perturbation("bright", factor).apply(out[i : i + 1], rng)[0]
    noisy = chosen(cfg.noise_prob)
    if len(noisy):
        sigma = rng.uniform(1.0, cfg.max_noise_sigma, len(noisy)).astype(np.float32)
        sigma = sigma.reshape((-1,) + (1,) * (out.ndim - 1))
        values = out[noisy].astype(np.float32) + rng.standard_normal(out[noisy].shape).astype(np.float32) * sigma
        out[noisy] = np.clip(np.rint(values), 0, 255).astype(np.uint8)
    for i in chosen(cfg.jpeg_prob):
        quality = int(rng.integers(cfg.min_jpeg_quality, 96))
        out[i] = Perturbation("jpeg", quality).apply(out[i : i + 1], rng)[0]
    return out


def perturbed_sets(
    images: np.ndarray, perturbations: Sequence[Perturbation], seed: int = 0
) -> list[tuple[Perturbation, np.ndarray]]:
    """Each perturbation applied to the same crops, with its own generator seeded from ``seed`` and its name."""
    result = []
    for p in perturbations:
        rng = np.random.default_rng([seed, *p.name.encode()])
        result.append((p, p.apply(images, rng)))
    return result
