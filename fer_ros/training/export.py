"""Export a trained checkpoint to ONNX with the metadata fer_ros reads, and check it against PyTorch."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from fer_ros.training.train import Recipe, build_model, class_prior, load_sets

INPUT_SIZE = 48


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def model_metadata(
    recipe: Recipe,
    class_names: tuple[str, ...],
    template: list[list[float]],
    name: str,
    metrics: dict,
    tta_flip: bool = False,
) -> dict[str, str]:
    """The `fer_ros.*` metadata_props that make the model self-describing."""
    data = (
        "FER+ votes on FER2013 train (ferplus_train.npz)"
        if recipe.protocol == "ferplus"
        else "FER2013 train labels (fer2013_train.npz)"
    )
    return {
        "fer_ros.task": "expression",
        "fer_ros.name": name,
        "fer_ros.version": "1",
        "fer_ros.labels": json.dumps(list(class_names)),
        "fer_ros.input_size": json.dumps([INPUT_SIZE, INPUT_SIZE]),
        "fer_ros.layout": "NCHW",
        "fer_ros.color": "gray",
        "fer_ros.mean": json.dumps([recipe.mean]),
        "fer_ros.std": json.dumps([recipe.std]),
        "fer_ros.output": "logits",
        "fer_ros.align_template": json.dumps(template),
        "fer_ros.crop_scale": "1.0",
        "fer_ros.tta_flip": "1" if tta_flip else "0",
        "fer_ros.license": "Apache-2.0 weights; data: FER2013 images (research use), FER+ labels (MIT)",
        "fer_ros.training_data": data,
        "fer_ros.recipe": json.dumps({k: v for k, v in asdict(recipe).items() if k != "data_dir"}, default=str),
        "fer_ros.dev_metrics": json.dumps(metrics),
        "fer_ros.git_commit": git_commit(),
    }


def set_metadata_props(proto: onnx.ModelProto, props: dict[str, str]) -> None:
    """Replace the model's metadata_props with ``props``."""
    del proto.metadata_props[:]
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def export(
    checkpoint: Path, template_json: Path, out: Path, name: str, tta_flip: bool = False, prior_shift: float = 0.0
) -> dict:
    """Write the ONNX file and return a parity report (max abs difference of logits vs PyTorch).

    ``prior_shift`` s adds ``-s * log(prior)`` to the classifier bias (prior: the training set's class shares):
    s > 0 favours the rare classes, s < 0 undoes part of a logit-adjusted training (``logit_adjust_tau``),
    recorded as ``fer_ros.prior_shift``. ``checkpoint`` is a run's best.pt, or its last.pt (the EMA weights of
    the last epoch, with the run's recipe.json).
    """
    saved = torch.load(checkpoint, weights_only=False, map_location="cpu")
    if "ema" in saved:
        recipe = Recipe.from_json((checkpoint.parent / "recipe.json").read_text())
        saved = {
            "model": saved["ema"],
            "recipe": asdict(recipe),
            "metrics": saved["state"]["history"][-1],
            "class_names": load_sets(recipe)[0].class_names,
        }
    recipe = Recipe.from_json(json.dumps(saved["recipe"]))
    class_names = tuple(saved["class_names"])
    model = build_model(recipe, len(class_names))
    model.load_state_dict(saved["model"])
    model.eval()
    if prior_shift:
        train_set, _ = load_sets(recipe)
        with torch.no_grad():
            shift = -prior_shift * torch.from_numpy(np.log(class_prior(train_set))).float()
            model.head[-1].bias.add_(shift)
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        torch.zeros(1, 1, INPUT_SIZE, INPUT_SIZE),
        buf,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    proto = onnx.load_from_string(buf.getvalue())
    template = json.loads(template_json.read_text())["align_template"]
    props = model_metadata(recipe, class_names, template, name, saved["metrics"], tta_flip)
    if prior_shift:
        props["fer_ros.prior_shift"] = json.dumps(
            {"s": prior_shift, "bias": "-s * log(training class shares) added to the classifier bias"}
        )
    set_metadata_props(proto, props)
    proto.doc_string = f"fer_ros expression model {name}: {len(class_names)} classes, 48x48 gray."
    onnx.checker.check_model(proto)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, out)

    _, valid = load_sets(recipe)
    x = ((valid.images[:512].astype(np.float32) / 255.0 - recipe.mean) / recipe.std)[:, None]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, {"input": x})[0]
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(x)).numpy()
    report = {
        "model": str(out),
        "bytes": out.stat().st_size,
        "max_abs_diff": float(np.abs(onnx_logits - torch_logits).max()),
        "argmax_agreement": float((onnx_logits.argmax(1) == torch_logits.argmax(1)).mean()),
        "metrics": saved["metrics"],
    }
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--checkpoint", type=Path, required=True, help="best.pt of a training run, or last.pt (last epoch's EMA)"
    )
    parser.add_argument(
        "--template", type=Path, required=True, help="template JSON from fer_ros.training.template"
    )
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    parser.add_argument("--name", default="fer_ros_ferplus")
    parser.add_argument(
        "--tta-flip", action="store_true", help="mark the model to average each crop with its mirror image by default"
    )
    parser.add_argument(
        "--prior-shift",
        type=float,
        default=0.0,
        metavar="S",
        help="add -S*log(class prior) to the output bias (S<0 undoes part of a logit-adjusted training)",
    )
    args = parser.parse_args(argv)
    report = export(args.checkpoint, args.template, args.out, args.name, args.tta_flip, args.prior_shift)
    print(json.dumps(report, indent=2))
    return 0 if report["max_abs_diff"] < 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
