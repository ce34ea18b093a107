"""``fer-ros train``: train, measure the alignment template, export a model (needs the ``train`` extra)."""

from __future__ import annotations

import argparse
import importlib

STEPS = {
    "run": ("fer_ros.training.train", "train on ../shared/data (checkpoints, resume, recipe.json)"),
    "predict": ("fer_ros.training.predict", "cache a teacher's logits on the training set (plain and flipped)"),
    "distill": ("fer_ros.training.distill", "train a student on cached teacher predictions"),
    "recipe": ("fer_ros.training.recipe", "every step of the shipped model's recipe, resumable (make model)"),
    "template": ("fer_ros.training.template", "measure the keypoint template of the 48x48 training crops"),
    "export": ("fer_ros.training.export", "export best.pt to ONNX with fer_ros metadata, check parity"),
    "quantize": ("fer_ros.training.quantize", "int8 copy of an exported model, checked against it on dev data"),
    "calibrate": ("fer_ros.training.calibrate", "fit the score temperature on dev data, store it in the model"),
}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "train",
        help="train and export an expression model (pip install -e .[train])",
        description="Steps: "
        + "; ".join(f"{name}: {text}" for name, (_, text) in STEPS.items())
        + ". Each step's own options: fer-ros train STEP --help.",
    )
    parser.add_argument("step", choices=tuple(STEPS))
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options of the step")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module(STEPS[args.step][0])
    except ModuleNotFoundError as error:
        print(
            f"fer-ros train: {error.name} is missing: install the training extra, "
            "`.venv/bin/pip install -e .[train]` (or `make setup-train`)"
        )
        return 1
    return module.main(args.options)
