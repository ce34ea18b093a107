"""The whole model recipe, step by step, each step skipped when its output exists (``make model``).

Usage: fer-ros train recipe [--device cuda] [--teachers wide:1,wide:2,large:3] [--only-teachers]

1. **base**: the shipped-size network with the v1 recipe (``train run``), unless ``--student-init`` names an
   exported float model to start the student from instead (the quick CPU path);
2. **teachers**: each ``ARCH:SEED`` of ``--teachers`` trained with camera degradations and mixup (``train run
   --arch ARCH --seed SEED --robust --mixup 0.2``), then its logits on the training set cached with and without
   flipping (``train predict``); the base model (or ``--student-init``) is a teacher too. With
   ``--only-teachers`` the recipe stops here: copy ``OUT/teachers/*.npz`` to the machine that distils;
3. **student**: ``train distill`` from all teacher caches, starting from the base weights, with the recipe in
   ``fer_ros/training/recipes/student_ferplus.json`` (camera degradations, teacher weight 0.6, 6 epochs at
   peak lr 7e-4; ``logit_adjust_tau`` / ``balance_power`` there for the rare classes);
4. **export**: alignment template, ONNX export, calibration temperature, int8 copy, its temperature.

The recipe runs on the CPU as is (about an hour per small-network run on 2 cores, several per teacher of
``wide``/``large`` size); ``--device cuda`` trains every step on a GPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RECIPES = Path(__file__).resolve().parent / "recipes"
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data"
DEFAULT_DETECTOR = DEFAULT_DATA_DIR.parent / "models" / "yunet" / "yunet_s_640_640.onnx"
DEFAULT_TEACHERS = "wide:1,wide:2,large:3"


def _run(step: str, argv: list[str]) -> None:
    import importlib

    modules = {
        "run": "fer_ros.training.train",
        "predict": "fer_ros.training.predict",
        "distill": "fer_ros.training.distill",
        "template": "fer_ros.training.template",
        "export": "fer_ros.training.export",
        "calibrate": "fer_ros.training.calibrate",
        "quantize": "fer_ros.training.quantize",
    }
    print(f"\n== fer-ros train {step} {' '.join(argv)}", flush=True)
    code = importlib.import_module(modules[step]).main(argv)
    if code:
        raise SystemExit(f"fer-ros train {step} failed (exit {code})")


def _done(run: Path) -> bool:
    """A run is done when its summary exists (train writes it after the last epoch)."""
    return (run / "summary.json").is_file()


def parse_teachers(text: str) -> list[tuple[str, int]]:
    from fer_ros.training.train import ARCHITECTURES

    teachers = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        arch, _, seed = item.partition(":")
        if arch not in ARCHITECTURES or not seed.isdigit():
            raise ValueError(f"bad teacher {item!r}: expected ARCH:SEED with ARCH one of {', '.join(ARCHITECTURES)}")
        teachers.append((arch, int(seed)))
    return teachers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("build/train"), help="folder of every run and cache")
    parser.add_argument("--models", type=Path, default=Path("fer_ros/models"), help="where the ONNX files go")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--teachers", default=DEFAULT_TEACHERS, help=f"ARCH:SEED list (default {DEFAULT_TEACHERS})")
    parser.add_argument("--teacher-epochs", type=int, default=40)
    parser.add_argument("--student-init", type=Path, help="exported float model to start the student from")
    parser.add_argument("--only-teachers", action="store_true", help="stop after caching the teachers' logits")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="folder of the FER npz files")
    parser.add_argument("--detector", type=Path, default=DEFAULT_DETECTOR, help="YuNet for the template step")
    parser.add_argument("--student-epochs", type=int, help="override the student recipe's epochs")
    parser.add_argument("--prior-shift", type=float, default=0.0, help="export's --prior-shift (see train export)")
    args = parser.parse_args(argv)
    try:
        teachers = parse_teachers(args.teachers)
    except ValueError as error:
        print(f"fer-ros train recipe: {error}")
        return 2
    out, device, data = args.out, ["--device", args.device], ["--data-dir", str(args.data_dir)]
    caches: list[Path] = []

    if args.student_init is None:
        base = out / "ferplus"
        if not _done(base):
            _run("run", ["--out", str(base), "--resume", *device, *data])
        student_init = base / "best.pt"
    else:
        student_init = args.student_init
    base_cache = out / "teachers" / "base.npz"
    if not base_cache.is_file():
        _run("predict", ["--teacher", str(student_init), "--out", str(base_cache), *device, *data])
    caches.append(base_cache)

    for arch, seed in teachers:
        run = out / "teachers" / f"{arch}_s{seed}"
        cache = run.with_suffix(".npz")
        if not cache.is_file():
            if not _done(run):
                _run(
                    "run",
                    [
                        "--out", str(run), "--resume", "--arch", arch, "--seed", str(seed), "--robust",
                        "--mixup", "0.2", "--epochs", str(args.teacher_epochs), *device, *data,
                    ],
                )
            _run("predict", ["--teacher", str(run / "best.pt"), "--out", str(cache), *device, *data])
        caches.append(cache)
    if args.only_teachers:
        print(f"teacher caches: {', '.join(map(str, caches))}")
        return 0

    student = out / "student"
    if not _done(student):
        _run(
            "distill",
            [
                "--config", str(RECIPES / "student_ferplus.json"), "--out", str(student), "--resume",
                "--init-from", str(student_init), "--teachers", *map(str, caches), *device, *data,
                *(["--epochs", str(args.student_epochs)] if args.student_epochs else []),
            ],
        )
    template = out / "ferplus" / "template.json"  # beside the base run, where `make model-fer2013` reads it
    if not template.is_file():
        template.parent.mkdir(parents=True, exist_ok=True)
        _run(
            "template",
            [
                "--data", str(args.data_dir / "ferplus_train.npz"),
                "--detector", str(args.detector),
                "--out", str(template),
            ],
        )
    float_model, int8_model = args.models / "fer_ros_ferplus.onnx", args.models / "fer_ros_ferplus_int8.onnx"
    _run(
        "export",
        [
            "--checkpoint", str(student / "best.pt"), "--template", str(template), "--out", str(float_model),
            "--prior-shift", str(args.prior_shift),
        ],
    )
    _run("calibrate", ["--model", str(float_model), *data])
    _run("quantize", ["--model", str(float_model), "--out", str(int8_model), *data])
    _run("calibrate", ["--model", str(int8_model), *data])
    return 0


if __name__ == "__main__":
    sys.exit(main())
