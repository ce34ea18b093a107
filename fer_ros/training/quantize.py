"""Quantize an exported expression model to int8 and check it against the float model on FER+ Valid.

Static quantization (onnxruntime, QDQ format): weights int8 per output channel, activations uint8, ranges
calibrated on crops from the *training* set. Weights use 7 bits (``reduce_range``): x86 CPUs without VNNI
(AVX2 only) compute uint8 x int8 products with saturating 16-bit sums, which loses accuracy at 8 bits.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from fer_ros.core.classifier import ExpressionClassifier
from fer_ros.core.labels import FERPLUS_LABELS
from fer_ros.evaluation.evaluate import evaluate_npz
from fer_ros.models.registry import sha256_of
from fer_ros.training.export import set_metadata_props
from fer_ros.training.train import DEFAULT_DATA_DIR, SPLITS

MAX_ACCURACY_DROP = 0.005


class _Crops(CalibrationDataReader):
    """Feeds calibration batches, normalised exactly as the classifier does at run time."""

    def __init__(self, classifier: ExpressionClassifier, images: np.ndarray, batch: int = 64) -> None:
        crops = classifier.to_model_crops(images)
        self._batches = [classifier.input_tensor(crops[i : i + batch]).copy() for i in range(0, len(crops), batch)]
        self._name = classifier.input_name

    def get_next(self) -> dict[str, np.ndarray] | None:
        return {self._name: self._batches.pop(0)} if self._batches else None


def calibration_images(train_npz: Path, samples: int, seed: int) -> np.ndarray:
    """``samples`` training crops drawn with a fixed seed (never validation or test images)."""
    images = np.load(train_npz)["images"]
    index = np.random.default_rng(seed).choice(len(images), min(samples, len(images)), replace=False)
    return images[np.sort(index)]


def quantize(model: Path, out: Path, train_npz: Path, samples: int = 1024, seed: int = 0) -> None:
    """Write the int8 model to ``out`` with the float model's metadata, marked as quantized."""
    classifier = ExpressionClassifier(model)
    images = calibration_images(train_npz, samples, seed)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(model), str(prepared))
        quantize_static(
            str(prepared),
            str(out),
            _Crops(classifier, images),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    source = onnx.load(str(model))
    quantized = onnx.load(str(out))
    props = {p.key: p.value for p in source.metadata_props}
    props["fer_ros.name"] = props.get("fer_ros.name", model.stem) + "_int8"
    props["fer_ros.quantization"] = json.dumps(
        {
            "scheme": "static QDQ: int8 per-channel weights (reduce_range), uint8 activations, MinMax",
            "calibration": f"{len(images)} crops of {train_npz.name}, seed {seed}",
            "source_sha256": sha256_of(model),
        }
    )
    set_metadata_props(quantized, props)
    quantized.doc_string = source.doc_string + " int8."
    onnx.save(quantized, str(out))


def compare(model: Path, quantized: Path, valid_npz: Path) -> dict:
    """Accuracy and macro recall of both models on ``valid_npz``, and how often they agree."""
    report: dict = {}
    predictions = []
    for key, path in (("float", model), ("int8", quantized)):
        result = evaluate_npz(ExpressionClassifier(path), valid_npz, progress=False, keep_predictions=True)
        report[key] = {k: round(result[k], 4) for k in ("accuracy", "macro_recall", "macro_f1")}
        predictions.append(np.asarray(result["predictions"]))
    report["argmax_agreement"] = round(float((predictions[0] == predictions[1]).mean()), 4)
    report["accuracy_drop"] = round(report["float"]["accuracy"] - report["int8"]["accuracy"], 4)
    report["bytes"] = {"float": model.stat().st_size, "int8": quantized.stat().st_size}
    return report


def record_comparison(quantized: Path, report: dict, valid_name: str) -> None:
    """Add the float-vs-int8 figures to the quantized model's ``fer_ros.quantization`` metadata."""
    proto = onnx.load(str(quantized))
    props = {p.key: p.value for p in proto.metadata_props}
    quantization = json.loads(props["fer_ros.quantization"])
    quantization["check"] = {"data": valid_name, **{k: report[k] for k in ("float", "int8", "argmax_agreement")}}
    props["fer_ros.quantization"] = json.dumps(quantization)
    set_metadata_props(proto, props)
    onnx.save(proto, str(quantized))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="float ONNX model written by `train export`")
    parser.add_argument("--out", type=Path, required=True, help="int8 ONNX file to write")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the FER npz files")
    parser.add_argument("--samples", type=int, default=1024, help="training crops used for calibration")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.model.is_file():
        print(f"fer-ros train quantize: model not found: {args.model}")
        return 2
    protocol = "ferplus" if ExpressionClassifier(args.model).labels == FERPLUS_LABELS else "fer2013"
    train_npz, valid_npz = (args.data_dir / name for name in SPLITS[protocol])
    missing = [str(path) for path in (train_npz, valid_npz) if not path.is_file()]
    if missing:
        print(f"fer-ros train quantize: data not found: {', '.join(missing)} (set --data-dir)")
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    quantize(args.model, args.out, train_npz, args.samples, args.seed)
    report = compare(args.model, args.out, valid_npz)
    record_comparison(args.out, report, valid_npz.name)
    print(json.dumps(report, indent=2))
    if report["accuracy_drop"] > MAX_ACCURACY_DROP:
        print(f"int8 loses {report['accuracy_drop']:.2%} accuracy on {valid_npz.name} (limit 0.5 point)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
