"""``fer-ros eval --data PATH [--model M] [--json OUT]``: accuracy figures of an expression model."""

from __future__ import annotations

import argparse
from pathlib import Path

from fer_ros.cli.pipeline_options import (
    add_json_option,
    add_pipeline_options,
    pipeline_config,
    quiet_opencv,
    write_json,
)
from fer_ros.evaluation.perturbations import DEFAULT_PERTURBATIONS, parse_perturbations


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "eval",
        help="accuracy of an expression model on a data set",
        description="PATH is an npz like shared/data (48x48 crops, classified directly; FER+ votes use the FER+ "
        "majority protocol, FER2013 labels map to canonical classes) or a folder with one sub-folder per class "
        "(full images: detection + alignment; images with no face are counted and left out).",
    )
    parser.add_argument("--data", required=True, type=Path, metavar="PATH", help="npz file or image folder")
    parser.add_argument(
        "--png",
        type=Path,
        metavar="FILE",
        help="confusion-matrix PNG (default: beside --json OUT, else <data name>_confusion.png)",
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N images")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--perturb",
        nargs="?",
        const=DEFAULT_PERTURBATIONS,
        metavar="LIST",
        help="npz only: also the accuracy on degraded crops, e.g. "
        f"{DEFAULT_PERTURBATIONS} (the default without LIST): Gaussian noise sigma 10, JPEG quality 20, blur "
        "sigma 1, down-scaled to 24 px and back, brightness x1.6",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the perturbations' noise")
    add_json_option(parser, "the figures")
    add_pipeline_options(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fer_ros.core.classifier import ExpressionClassifier
    from fer_ros.core.pipeline import default_classifier_model
    from fer_ros.evaluation.evaluate import evaluate_folder, evaluate_npz
    from fer_ros.evaluation.metrics import confusion_text
    from fer_ros.evaluation.plots import write_confusion_png
    from fer_ros.models.build import build_pipeline
    from fer_ros.models.registry import resolve_model

    quiet_opencv(args.threads)
    try:
        perturbations = parse_perturbations(args.perturb) if args.perturb else None
    except ValueError as error:
        print(f"fer-ros eval: --perturb: {error}")
        return 2
    if perturbations and args.data.is_dir():
        print("fer-ros eval: --perturb applies to npz crop sets, not to image folders")
        return 2
    if args.data.is_dir():
        pipeline = build_pipeline(pipeline_config(args, track_confirm_hits=1))
        model_path = pipeline.classifier.model_path
        report = evaluate_folder(pipeline, args.data, limit=args.limit)
    else:
        model_path = resolve_model(args.model or default_classifier_model())
        classifier = ExpressionClassifier(model_path, num_threads=args.threads, tta_flip=args.tta_flip)
        report = evaluate_npz(
            classifier,
            args.data,
            batch_size=args.batch_size,
            limit=args.limit,
            perturbations=perturbations,
            seed=args.seed,
        )
    report = {"data": str(args.data), "model": str(model_path), **report}
    if args.png:
        png = args.png
    elif args.json and args.json != "-":
        png = Path(args.json).with_suffix(".png")
    else:
        png = Path(f"{args.data.stem}_confusion.png")
    report["confusion_png"] = str(
        write_confusion_png(report, png, f"{Path(model_path).stem} on {args.data.name}")
    )
    if args.json != "-":
        print(
            f"{args.data} with {Path(model_path).name} ({report['protocol']}): n={report['n']}, "
            f"left out {report['left_out']} {report['left_out_reasons'] or ''}"
        )
        print(
            f"accuracy {report['accuracy']:.4f}  macro recall {report['macro_recall']:.4f}  "
            f"macro F1 {report['macro_f1']:.4f}"
        )
        if "no_face" in report:
            print(
                f"no face found in {report['no_face']} image(s); accuracy counting them as wrong "
                f"{report['accuracy_counting_misses']:.4f}"
            )
        print("per-class recall: " + ", ".join(f"{k} {v:.3f}" for k, v in report["per_class_recall"].items()))
        if "plurality" in report:
            plurality = report["plurality"]
            print(f"FER+ plurality agreement {plurality['accuracy']:.4f} (n={plurality['n']})")
        if "calibration" in report:
            cal = report["calibration"]
            selective = ", ".join(
                f">= {t}: accuracy {v['accuracy']:.4f} coverage {v['coverage']:.4f}"
                if v["accuracy"] is not None
                else f">= {t}: coverage 0"
                for t, v in cal["selective"].items()
            )
            print(
                f"calibration: ECE {cal['ece']:.4f} ({cal['bins']} bins), mean confidence "
                f"{cal['mean_confidence']:.4f}; confidence {selective}"
            )
        for name, result in report.get("perturbations", {}).items():
            top = max(result["predicted_share"].items(), key=lambda item: item[1])
            print(
                f"perturbed {name:<9} accuracy {result['accuracy']:.4f} (drop {result['drop'] * 100:+.1f} points), "
                f"macro recall {result['macro_recall']:.4f}, most predicted {top[0]} {top[1]:.0%}"
            )
        print(confusion_text(report))
        print(f"confusion matrix PNG: {report['confusion_png']}")
    if args.json:
        write_json(report, args.json)
    return 0
