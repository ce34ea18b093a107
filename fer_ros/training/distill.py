"""Distil a shipped-size student from cached teacher predictions (``fer-ros train predict``).

Usage: fer-ros train distill --teachers runs/teachers/*.npz --out runs/student [--init-from model.onnx] [--resume]

The targets are ``teacher_weight`` x the teachers' mean probabilities (the flipped-image predictions for
flipped crops) + the rest x the FER+ votes; by default with camera degradations, class-balanced sampling
(power 0.3) and a logit-adjusted loss (tau 0.5) for the rare classes. Every recipe option of ``train run``
applies; the recipe (teachers included) is written to OUT/recipe.json and into the exported model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fer_ros.evaluation.perturbations import DegradeConfig
from fer_ros.training.train import add_recipe_options, recipe_from_args, train


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_recipe_options(parser)
    parser.add_argument("--teachers", type=Path, nargs="+", required=True, help="teacher prediction caches")
    parser.add_argument(
        "--teacher-weight", type=float, help="share of the target from the teachers (default: the recipe's, 0.7)"
    )
    parser.add_argument("--teacher-temperature", type=float, help="softmax temperature of the teachers' logits")
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.teachers if not p.is_file()]
    if missing:
        print(f"fer-ros train distill: teacher predictions not found: {', '.join(missing)}")
        return 2
    recipe = recipe_from_args(args)
    recipe.teachers = tuple(str(p) for p in args.teachers)
    if args.teacher_weight is not None:
        recipe.teacher_weight = args.teacher_weight
    if args.teacher_temperature is not None:
        recipe.teacher_temperature = args.teacher_temperature
    if args.config is None:  # distillation defaults, each overridable by its option
        recipe.degrade = DegradeConfig()
        recipe.balance_power = 0.3 if args.balance_power is None else args.balance_power
        recipe.logit_adjust_tau = 0.5 if args.logit_adjust is None else args.logit_adjust
    train(recipe, args.out, args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
