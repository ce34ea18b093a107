"""Fit the calibration temperature of exported expression models and store it in their metadata.

Usage: fer-ros train calibrate --model fer_ros/models/fer_ros_ferplus.onnx fer_ros/models/fer_ros_ferplus_int8.onnx

For each model: its logits on the protocol's dev set (FER+ Valid, majority labels; FER2013 PublicTest for a
FER2013-protocol model), computed as the classifier does (mirror averaging included when the model asks for it);
the temperature T that minimises the negative log-likelihood of ``softmax(logits / T)``; then
``fer_ros.temperature`` and ``fer_ros.calibration`` (data, n, NLL and 15-bin ECE before and after) are written
into the model's metadata. The graph and weights are not touched (checked). When an int8 model in the same
call records one of the float models as its quantization source, the recorded sha256 follows the new file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx

from fer_ros.core.classifier import ExpressionClassifier, softmax
from fer_ros.core.labels import FERPLUS_LABELS
from fer_ros.evaluation.datasets import load_npz
from fer_ros.evaluation.metrics import calibration_report, negative_log_likelihood
from fer_ros.models.registry import sha256_of
from fer_ros.training.export import set_metadata_props
from fer_ros.training.train import DEFAULT_DATA_DIR, SPLITS

TEMPERATURES = np.exp(np.linspace(np.log(0.1), np.log(10.0), 2001))


def dev_logits(model: Path, dev_npz: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """The model's logits on the dev crops (one array per pass: plain, and mirrored with tta_flip) and labels."""
    classifier = ExpressionClassifier(model)
    import onnxruntime as ort

    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    data = load_npz(dev_npz)
    keep = [i for i, label in enumerate(data.labels) if label in classifier.labels]
    crops = classifier.to_model_crops(data.images[keep])
    labels = np.array([classifier.labels.index(data.labels[i]) for i in keep])
    passes = [crops, crops[:, :, ::-1]] if classifier.tta_flip else [crops]
    logits = []
    for view in passes:
        view = np.ascontiguousarray(view)
        out = [
            session.run(None, {classifier.input_name: classifier.input_tensor(view[s : s + 512]).copy()})[0]
            for s in range(0, len(view), 512)
        ]
        logits.append(np.concatenate(out).astype(np.float64))
    return logits, labels


def probabilities(logits: list[np.ndarray], temperature: float) -> np.ndarray:
    return np.mean([softmax(z / temperature) for z in logits], axis=0)


def fit_temperature(logits: list[np.ndarray], labels: np.ndarray) -> float:
    """The grid temperature (0.1..10, log-spaced) with the least negative log-likelihood."""
    losses = [negative_log_likelihood(probabilities(logits, t), labels) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def _summary(logits: list[np.ndarray], labels: np.ndarray, temperature: float) -> dict:
    probs = probabilities(logits, temperature)
    cal = calibration_report(probs.max(axis=1), probs.argmax(axis=1) == labels)
    return {
        "nll": round(negative_log_likelihood(probs, labels), 4),
        "ece": round(cal["ece"], 4),
        "mean_confidence": round(cal["mean_confidence"], 4),
    }


def calibrate(model: Path, dev_npz: Path) -> dict:
    """Fit and write the temperature of ``model``; returns the report stored as ``fer_ros.calibration``."""
    logits, labels = dev_logits(model, dev_npz)
    temperature = fit_temperature(logits, labels)
    report = {
        "temperature": round(temperature, 4),
        "data": f"{dev_npz.name} ({'majority labels' if 'ferplus' in dev_npz.name else 'labels'}), n {len(labels)}",
        "objective": "negative log-likelihood of the top-1 labels",
        "tta_flip": len(logits) == 2,
        "uncalibrated": _summary(logits, labels, 1.0),
        "calibrated": _summary(logits, labels, round(temperature, 4)),
        "ece_bins": 15,
    }
    proto = onnx.load(str(model))
    graph = proto.graph.SerializeToString()
    props = {p.key: p.value for p in proto.metadata_props}
    props["fer_ros.temperature"] = repr(round(temperature, 4))
    props["fer_ros.calibration"] = json.dumps(report)
    set_metadata_props(proto, props)
    onnx.save(proto, str(model))
    if onnx.load(str(model)).graph.SerializeToString() != graph:
        raise RuntimeError(f"{model}: the graph changed while writing metadata")
    return report


def update_quantization_source(model: Path, old_sha: str, new_sha: str) -> bool:
    """Point an int8 model's recorded source sha256 at its recalibrated source (metadata-only change)."""
    proto = onnx.load(str(model))
    props = {p.key: p.value for p in proto.metadata_props}
    if "fer_ros.quantization" not in props:
        return False
    quantization = json.loads(props["fer_ros.quantization"])
    if quantization.get("source_sha256") != old_sha:
        return False
    quantization["source_sha256"] = new_sha
    quantization["source_metadata_updated"] = "calibration temperature written after quantization (weights unchanged)"
    props["fer_ros.quantization"] = json.dumps(quantization)
    set_metadata_props(proto, props)
    onnx.save(proto, str(model))
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, nargs="+", required=True, help="exported ONNX models (float first)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the FER npz files")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.model if not p.is_file()]
    if missing:
        print(f"fer-ros train calibrate: model not found: {', '.join(missing)}")
        return 2
    reports, renamed = {}, {}
    for model in args.model:
        protocol = "ferplus" if ExpressionClassifier(model).labels == FERPLUS_LABELS else "fer2013"
        dev_npz = args.data_dir / SPLITS[protocol][1]
        if not dev_npz.is_file():
            print(f"fer-ros train calibrate: data not found: {dev_npz} (set --data-dir)")
            return 2
        old_sha = sha256_of(model)
        for earlier_old, earlier_new in renamed.items():
            update_quantization_source(model, earlier_old, earlier_new)
        reports[str(model)] = calibrate(model, dev_npz)
        renamed[old_sha] = sha256_of(model)
    print(json.dumps(reports, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
