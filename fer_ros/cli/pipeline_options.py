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


def _cli_knobs():
    """(option dest, field, knob) of the PipelineConfig knobs that have a command-line option."""
    from fer_ros.core.knobs import knobs
    from fer_ros.core.pipeline import PipelineConfig

    return [(k.cli.removeprefix("--").replace("-", "_"), f, k) for f, k in knobs(PipelineConfig) if k.cli]


def add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    """The PipelineConfig knobs that have a ``cli`` option (help, choices and defaults from the knob)."""
    group = parser.add_argument_group("pipeline")
    for dest, f, k in _cli_knobs():
        param_default = k.to_param(f.default)
        shown = f" (default {param_default})" if param_default not in ("", None) else ""
        group.add_argument(
            k.cli,
            dest=dest,
            type=None if k.choices else type(param_default),
            choices=k.choices,
            default=f.default,
            metavar=k.metavar,
            help=k.description + shown,
        )
    group.add_argument(
        "--tta", dest="tta_flip", action="store_true", default=None, help="average with the mirrored crop"
    )
    group.add_argument("--no-tta", dest="tta_flip", action="store_false")


def pipeline_config(args: argparse.Namespace, **overrides: Any):
    """PipelineConfig from parsed options (unset options keep the defaults)."""
    from fer_ros.core.pipeline import PipelineConfig

    values: dict[str, Any] = {"tta_flip": args.tta_flip}
    for dest, f, k in _cli_knobs():
        if getattr(args, dest, None) is not None:
            values[f.name] = k.from_param(getattr(args, dest))
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
