"""``fer-ros bench [--json OUT]``: per-stage and end-to-end latency at 640x480, and the peer's classify step."""

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


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="latency benchmark (640x480 frames with 1, 5 and 10 real faces)",
        description="Compose 640x480 frames with 1, 5 and 10 real faces (from shared/media or --images), time "
        "every stage and the whole pipeline for each thread count, and time the peer model's classify step on "
        "the same crops in the same run.",
    )
    parser.add_argument("--iterations", type=int, default=200, metavar="N", help="frames timed per case")
    parser.add_argument(
        "--thread-counts", default="1,2", metavar="LIST", help="thread counts to run (default 1,2)"
    )
    parser.add_argument("--images", nargs="+", type=Path, metavar="IMG", help="images to take faces from")
    parser.add_argument(
        "--peer", default="fer_mini_xception_64", help="peer model for the classify comparison"
    )
    add_json_option(parser, "the figures")
    add_pipeline_options(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fer_ros.bench.engine import run_benchmark, summary_lines

    quiet_opencv()
    try:
        threads = tuple(int(t) for t in args.thread_counts.split(",") if t.strip())
    except ValueError:
        raise SystemExit("fer-ros bench: error: --thread-counts must be integers like 1,2") from None
    result = run_benchmark(
        pipeline_config(args),
        iterations=args.iterations,
        threads=threads,
        face_images=args.images,
        peer_model=args.peer,
    )
    if args.json != "-":
        print("\n".join(summary_lines(result)))
    if args.json:
        write_json(result, args.json)
    return 0
