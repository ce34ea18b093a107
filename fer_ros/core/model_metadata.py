"""Expression-model metadata: the ``fer_ros.*`` ONNX metadata_props contract, with a JSON sidecar fallback.

Keys (values are strings in ONNX metadata_props, JSON where structured; a sidecar may hold native JSON values):
``fer_ros.task`` (what the model predicts per face: "expression", or another task such as "age_group"),
``fer_ros.labels`` (canonical labels in output order), ``fer_ros.input_size``
([width, height]), ``fer_ros.layout`` ("NCHW" | "NHWC"), ``fer_ros.color`` ("gray" | "bgr" | "rgb"),
``fer_ros.mean`` / ``fer_ros.std`` (per channel, input = (pixel/255 - mean) / std), ``fer_ros.output``
("logits" | "probabilities"), ``fer_ros.align_template`` (5 keypoints in unit crop coordinates),
``fer_ros.crop_scale`` (default 1.0), ``fer_ros.tta_flip`` ("1" | "0"), ``fer_ros.temperature`` (default 1.0;
logits models only: probabilities are ``softmax(logits / temperature)``, the temperature fitted on a dev set so
that they are calibrated; ``fer_ros.calibration`` records how), and informational ``fer_ros.name``,
``version``, ``license``, ``training_data``, ``recipe``, ``git_commit``, ``calibration``.

A model without these keys gets them from ``<model path>.json`` next to it, else from
``fer_ros/models/sidecars/<model stem>.json`` shipped with the package.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fer_ros.core.errors import ModelMetadataError
from fer_ros.core.labels import canonical_label

PREFIX = "fer_ros."
SIDECAR_DIR = Path(__file__).resolve().parent.parent / "models" / "sidecars"
TASK_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Tasks whose labels have a canonical vocabulary: the label check of each; other tasks keep their labels as given.
TASK_LABELS: dict[str, Callable[[str], str]] = {"expression": canonical_label}
INFO_KEYS = ("name", "version", "license", "training_data", "recipe", "git_commit", "calibration")


@dataclass(frozen=True)
class ModelMetadata:
    """Everything needed to feed a per-face model (expression or another ``task``) and read its output."""

    labels: tuple[str, ...]
    input_size: tuple[int, int]  # (width, height)
    layout: str
    color: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    output: str
    align_template: np.ndarray  # (5, 2), unit crop coordinates
    crop_scale: float = 1.0
    tta_flip: bool = False
    temperature: float = 1.0  # logits are divided by it before the softmax
    info: dict[str, str] = field(default_factory=dict)
    source: str = "onnx"  # "onnx" or the sidecar path
    task: str = "expression"

    @property
    def channels(self) -> int:
        return 1 if self.color == "gray" else 3

    @classmethod
    def from_props(cls, props: dict[str, Any], source: str = "onnx") -> ModelMetadata:
        """Parse and validate a ``fer_ros.*`` mapping; raise ModelMetadataError naming the bad key."""

        def get(key: str, default: Any = None) -> Any:
            value = props.get(PREFIX + key, default)
            if value is None:
                raise ModelMetadataError(f"{source}: missing metadata key {PREFIX + key!r}")
            if isinstance(value, str) and key in ("labels", "input_size", "mean", "std", "align_template"):
                try:
                    return json.loads(value)
                except json.JSONDecodeError as exc:
                    raise ModelMetadataError(f"{source}: {PREFIX + key} is not valid JSON ({exc})") from None
            return value

        task = str(get("task"))
        if not TASK_PATTERN.fullmatch(task):
            raise ModelMetadataError(f"{source}: {PREFIX}task must be a lower-case name (a-z, 0-9, _), got {task!r}")
        label_of = TASK_LABELS.get(task, lambda name: name.strip())
        try:
            labels = tuple(label_of(str(name)) for name in get("labels"))
        except (ValueError, TypeError) as exc:
            raise ModelMetadataError(f"{source}: bad {PREFIX}labels: {exc}") from None
        if len(labels) < 2 or len(set(labels)) != len(labels) or not all(labels):
            raise ModelMetadataError(
                f"{source}: {PREFIX}labels must be at least 2 distinct labels, got {labels}"
            )
        try:
            width, height = (int(v) for v in get("input_size"))
        except (ValueError, TypeError):
            raise ModelMetadataError(f"{source}: {PREFIX}input_size must be [width, height]") from None
        if not (8 <= width <= 1024 and 8 <= height <= 1024):
            raise ModelMetadataError(f"{source}: {PREFIX}input_size {width}x{height} out of range 8..1024")
        layout = str(get("layout")).upper()
        if layout not in ("NCHW", "NHWC"):
            raise ModelMetadataError(f"{source}: {PREFIX}layout must be NCHW or NHWC, got {layout!r}")
        color = str(get("color")).lower()
        if color not in ("gray", "bgr", "rgb"):
            raise ModelMetadataError(f"{source}: {PREFIX}color must be gray, bgr or rgb, got {color!r}")
        channels = 1 if color == "gray" else 3
        try:
            mean = tuple(float(v) for v in get("mean", "[0.0]"))
            std = tuple(float(v) for v in get("std", "[1.0]"))
        except (ValueError, TypeError):
            raise ModelMetadataError(f"{source}: {PREFIX}mean/std must be lists of numbers") from None
        if len(mean) == 1:
            mean = mean * channels
        if len(std) == 1:
            std = std * channels
        if len(mean) != channels or len(std) != channels or min(std) <= 0:
            raise ModelMetadataError(f"{source}: {PREFIX}mean/std need 1 or {channels} values, std > 0")
        output = str(get("output")).lower()
        if output not in ("logits", "probabilities"):
            raise ModelMetadataError(
                f"{source}: {PREFIX}output must be logits or probabilities, got {output!r}"
            )
        try:
            template = np.asarray(get("align_template"), dtype=np.float32)
        except (ValueError, TypeError):
            raise ModelMetadataError(f"{source}: {PREFIX}align_template must be [[x, y] * 5]") from None
        if template.shape != (5, 2) or not np.all(np.isfinite(template)):
            raise ModelMetadataError(
                f"{source}: {PREFIX}align_template must be 5 [x, y] pairs in unit coordinates"
            )
        try:
            crop_scale = float(get("crop_scale", "1.0"))
        except (ValueError, TypeError):
            raise ModelMetadataError(f"{source}: {PREFIX}crop_scale must be a number") from None
        if not 0.25 <= crop_scale <= 4.0:
            raise ModelMetadataError(f"{source}: {PREFIX}crop_scale {crop_scale} out of range 0.25..4")
        tta_flip = str(get("tta_flip", "0")).strip().lower() in ("1", "true", "yes")
        try:
            temperature = float(get("temperature", "1.0"))
        except (ValueError, TypeError):
            raise ModelMetadataError(f"{source}: {PREFIX}temperature must be a number") from None
        if not 0.05 <= temperature <= 20.0:
            raise ModelMetadataError(f"{source}: {PREFIX}temperature {temperature} out of range 0.05..20")
        if temperature != 1.0 and output != "logits":
            raise ModelMetadataError(f"{source}: {PREFIX}temperature needs {PREFIX}output 'logits'")
        info = {key: str(props[PREFIX + key]) for key in INFO_KEYS if PREFIX + key in props}
        return cls(
            labels,
            (width, height),
            layout,
            color,
            mean,
            std,
            output,
            template,
            crop_scale,
            tta_flip,
            temperature,
            info,
            source,
            task,
        )

    def to_props(self) -> dict[str, str]:
        """The ONNX metadata_props form (all values strings)."""
        props = {
            "task": self.task,
            "labels": json.dumps(list(self.labels)),
            "input_size": json.dumps(list(self.input_size)),
            "layout": self.layout,
            "color": self.color,
            "mean": json.dumps(list(self.mean)),
            "std": json.dumps(list(self.std)),
            "output": self.output,
            "align_template": json.dumps(np.round(self.align_template, 4).tolist()),
            "crop_scale": repr(float(self.crop_scale)),
            "tta_flip": "1" if self.tta_flip else "0",
            "temperature": repr(float(self.temperature)),
        }
        props.update(self.info)
        return {PREFIX + k: v for k, v in props.items()}


def sidecar_paths(model_path: str | Path) -> list[Path]:
    """Where a sidecar for ``model_path`` is looked for, in order."""
    model_path = Path(model_path)
    return [model_path.with_name(model_path.name + ".json"), SIDECAR_DIR / f"{model_path.stem}.json"]


def load_model_metadata(model_path: str | Path, onnx_props: dict[str, str] | None = None) -> ModelMetadata:
    """Metadata of an expression model: its own ``fer_ros.*`` metadata_props, else a sidecar JSON.

    ``onnx_props`` is the model's metadata map (``session.get_modelmeta().custom_metadata_map``); when None it
    is read with onnxruntime. Raises ModelMetadataError when neither is present or valid.
    """
    model_path = Path(model_path)
    if onnx_props is None:
        from fer_ros.core.onnx_session import create_session

        onnx_props = create_session(model_path).get_modelmeta().custom_metadata_map
    if any(key.startswith(PREFIX) for key in onnx_props):
        return ModelMetadata.from_props(onnx_props, source=f"{model_path} (ONNX metadata)")
    for sidecar in sidecar_paths(model_path):
        if sidecar.is_file():
            try:
                props = json.loads(sidecar.read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ModelMetadataError(f"{sidecar}: cannot read sidecar metadata ({exc})") from None
            if not isinstance(props, dict):
                raise ModelMetadataError(f"{sidecar}: sidecar metadata must be a JSON object")
            return ModelMetadata.from_props(props, source=str(sidecar))
    tried = ", ".join(str(p) for p in sidecar_paths(model_path))
    raise ModelMetadataError(
        f"{model_path}: no fer_ros.* metadata in the ONNX file and no sidecar JSON (looked for {tried}); "
        "add the metadata (see fer_ros/core/model_metadata.py) or write a sidecar"
    )
