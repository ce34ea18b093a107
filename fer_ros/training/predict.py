"""Cache a teacher's logits on the training images, without and with horizontal flipping.

Usage: fer-ros train predict --teacher runs/wide_s1/best.pt --out runs/teachers/wide_s1.npz
       fer-ros train predict --teacher fer_ros/models/fer_ros_ferplus.onnx --out runs/teachers/shipped.npz

A teacher is a training checkpoint (``best.pt``) or an exported float ONNX model. The cache holds ``logits`` and
``logits_flip`` (N, C) in the order of the training set the recipe loads, the sha256 of those images (checked
when distilling), and the teacher's dev figures; the student is distilled from caches, so teachers trained
elsewhere (e.g. on a GPU) only need to send these files back.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from fer_ros.training.data import TrainingSet
from fer_ros.training.train import DEFAULT_DATA_DIR, Recipe, build_model, evaluate, load_sets, resolve_device


def images_sha256(images: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()


def _onnx_logits(path: Path, images: np.ndarray, flip: bool, threads: int) -> np.ndarray:
    import onnxruntime as ort

    from fer_ros.core.classifier import ExpressionClassifier

    classifier = ExpressionClassifier(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    out = []
    for start in range(0, len(images), 512):
        crops = images[start : start + 512]
        if flip:
            crops = crops[:, :, ::-1]
        out.append(session.run(None, {classifier.input_name: classifier.input_tensor(np.ascontiguousarray(crops))})[0])
    return np.concatenate(out).astype(np.float32)


@torch.no_grad()
def _checkpoint_logits(model: torch.nn.Module, images: np.ndarray, recipe: Recipe, flip: bool) -> np.ndarray:
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), 512):
        x = torch.from_numpy(images[start : start + 512]).float().div_(255.0).unsqueeze(1)
        x = ((x - recipe.mean) / recipe.std).to(device)
        if flip:
            x = torch.flip(x, dims=[3])
        out.append(model(x).float().cpu().numpy())
    return np.concatenate(out)


def predict_teacher(teacher: Path, protocol: str, data_dir: Path, device: str = "auto", threads: int = 2) -> dict:
    """Logits (plain and flipped) of ``teacher`` on the protocol's training set, and its dev figures."""
    torch.set_num_threads(threads)
    recipe = Recipe(protocol=protocol, data_dir=str(data_dir))
    train_set, valid_set = load_sets(recipe)
    if teacher.suffix == ".onnx":
        logits = _onnx_logits(teacher, train_set.images, False, threads)
        logits_flip = _onnx_logits(teacher, train_set.images, True, threads)
        valid = _onnx_logits(teacher, valid_set.images, False, threads)
        mask = valid_set.labels >= 0
        dev = {"accuracy": float((valid.argmax(1)[mask] == valid_set.labels[mask]).mean())}
    else:
        saved = torch.load(teacher, weights_only=False, map_location="cpu")
        recipe = Recipe.from_json(json.dumps(saved["recipe"]))
        recipe.data_dir = str(data_dir)
        model = build_model(recipe, len(saved["class_names"]))
        model.load_state_dict(saved["model"])
        model = model.to(resolve_device(device)).eval()
        logits = _checkpoint_logits(model, train_set.images, recipe, False)
        logits_flip = _checkpoint_logits(model, train_set.images, recipe, True)
        dev = evaluate(model, valid_set, recipe)
    if logits.shape[1] != len(train_set.class_names):
        raise ValueError(f"{teacher}: {logits.shape[1]} outputs, the {protocol} set has {len(train_set.class_names)}")
    return {
        "logits": logits,
        "logits_flip": logits_flip,
        "images_sha256": images_sha256(train_set.images),
        "teacher": str(teacher),
        "protocol": protocol,
        "dev": dev,
    }


def save_predictions(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({k: result[k] for k in ("images_sha256", "teacher", "protocol", "dev")})
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, logits=result["logits"], logits_flip=result["logits_flip"], meta=np.array(meta))
    tmp.replace(out)


def load_predictions(path: Path, train_set: TrainingSet) -> tuple[np.ndarray, np.ndarray]:
    """(logits, logits_flip) of a cache, checked to belong to exactly these training images."""
    if not path.is_file():
        raise FileNotFoundError(f"teacher predictions not found: {path} (run `fer-ros train predict`)")
    data = np.load(path)
    meta = json.loads(str(data["meta"]))
    if meta["images_sha256"] != images_sha256(train_set.images):
        raise ValueError(f"{path}: predictions were made on other training images ({meta['protocol']} set)")
    logits, logits_flip = data["logits"], data["logits_flip"]
    if logits.shape != train_set.targets.shape or logits_flip.shape != logits.shape:
        raise ValueError(f"{path}: logits {logits.shape}, training targets {train_set.targets.shape}")
    return logits, logits_flip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teacher", type=Path, required=True, help="best.pt of a run, or a float .onnx model")
    parser.add_argument("--out", type=Path, required=True, help="npz cache to write")
    parser.add_argument("--protocol", choices=("ferplus", "fer2013"), default="ferplus")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if not args.teacher.is_file():
        print(f"fer-ros train predict: teacher not found: {args.teacher}")
        return 2
    result = predict_teacher(args.teacher, args.protocol, args.data_dir, args.device, args.threads)
    save_predictions(result, args.out)
    print(json.dumps({"out": str(args.out), "n": len(result["logits"]), "teacher_dev": result["dev"]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
