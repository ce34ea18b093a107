"""``fer-ros bag``: recognition over rosbag2 recordings (``process``) and per-face timelines (``report``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from fer_ros.cli.pipeline_options import add_pipeline_options, error_line, pipeline_config, quiet_opencv


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bag",
        help="run recognition over rosbag2 recordings (MCAP, sqlite3); timelines of recorded faces",
        description="Offline counterpart of the live node: read camera topics from a rosbag2 bag, write the "
        "results as a new bag; draw per-face timelines from a bag of results. No ROS install needed.",
    )
    commands = parser.add_subparsers(dest="bag_command", metavar="BAG_COMMAND", required=True)

    process = commands.add_parser(
        "process",
        help="run the pipeline over a bag's image topics, write <ns>/faces to a new bag",
        description="Read the Image / CompressedImage topics of IN_BAG (all camera topics, or --topic), run the "
        "pipeline on every frame in header-stamp order with the live node's tracking and smoothing, and write "
        "OUT_BAG with <ns>/faces (fer_ros/msg/FaceExpressionArray) per image topic, headers copied from the "
        "images and receive times from the input. Ctrl-C closes OUT_BAG properly and marks it partial.",
    )
    process.add_argument("in_bag", type=Path, metavar="IN_BAG", help="rosbag2 directory, or a .mcap/.db3 file")
    process.add_argument("--out", type=Path, required=True, metavar="OUT_BAG", help="bag directory to create")
    process.add_argument(
        "--topic", action="append", default=[], metavar="T", help="image topic to process (repeatable; default all)"
    )
    process.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="output format (mcap)")
    process.add_argument(
        "--overlay", action="store_true", help="also write <ns>/overlay/image/compressed (annotated JPEG)"
    )
    process.add_argument(
        "--reorder-window",
        type=int,
        default=16,
        metavar="N",
        help="frames held to put out-of-order stamps back in order (default 16)",
    )
    process.add_argument("--summary", type=Path, default=None, metavar="JSON", help="also write the summary here")
    process.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on standard error (default: when it is a terminal)",
    )
    add_pipeline_options(process)
    process.set_defaults(func=run_process)

    report = commands.add_parser(
        "report",
        help="per-face timeline (PNG) and expression segments (CSV, JSON) of a bag's faces topics",
        description="Read the fer_ros/msg/FaceExpressionArray topics of BAG (written by `bag process` or "
        "recorded live) and write timeline.png (one row per face, colour = expression, opacity = confidence), "
        "timeline.csv and timeline.json (segments: face, start, end, expression, mean confidence).",
    )
    report.add_argument("bag", type=Path, metavar="BAG", help="rosbag2 directory, or a .mcap/.db3 file")
    report.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder (default: BAG_report)")
    report.add_argument("--topic", action="append", default=[], metavar="T", help="faces topic (default all)")
    report.add_argument(
        "--max-gap", type=float, default=1.0, metavar="S", help="a longer gap between frames ends a segment (1 s)"
    )
    report.set_defaults(func=run_report)
    return parser


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_process(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fer_ros.app.face_summary import summary_table
    from fer_ros.bag.process import ProcessOptions, process_bag

    quiet_opencv(args.threads)
    options = ProcessOptions(
        topics=list(args.topic), storage=args.storage, overlay=args.overlay, reorder_window=args.reorder_window
    )
    show = sys.stderr.isatty() if args.progress is None else args.progress
    bar: list[tqdm] = []

    def on_start(total: int, notes: list[str]) -> None:
        for note in notes:
            print(f"note: {note}", file=sys.stderr, flush=True)
        bar.append(
            tqdm(total=total, unit="frame", desc="bag process", disable=not show, file=sys.stderr, smoothing=0.05)
        )

    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        result = process_bag(
            args.in_bag,
            args.out,
            pipeline_config(args, keep_crops=False),
            options,
            progress=lambda n: bar[0].update(n),
            on_start=on_start,
        )
    except KeyboardInterrupt:
        if bar:
            bar[0].close()
        if args.out.exists():
            print(
                f"interrupted: {args.out} is closed and marked partial (custom_data fer_ros.complete: false)",
                file=sys.stderr,
            )
        return 130
    except OSError as error:
        error_line("bag process", str(error))
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        if bar:
            bar[0].close()
    for topic in result["topics"]:
        print(
            f"{topic['topic']} -> {topic['faces_topic']}: {topic['frames_processed']} of {topic['frames_in_bag']} "
            f"frames processed, {topic['face_detections']} face detections"
        )
        if topic["out_of_order"]:
            print(
                f"  {topic['out_of_order']} frames were out of stamp order: reordered within "
                f"{options.reorder_window} frames, {topic['late_dropped']} later than that dropped"
                + (" (raise --reorder-window)" if topic["late_dropped"] else "")
            )
        for kind, count in topic["bad_frames"].items():
            print(f"  {count} frames skipped: {kind}")
        print(summary_table(topic))
    print(
        f"wrote {result['output']} ({result['storage']}): {result['frames_processed']} frames in "
        f"{result['seconds']:.1f} s, {result['frames_per_second']} frames/s"
    )
    if args.summary is not None:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        args.summary.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from fer_ros.bag.report import read_timeline, write_report

    timeline = read_timeline(args.bag, args.topic or None, args.max_gap)
    for note in timeline.notes:
        print(f"note: {note}", file=sys.stderr)
    out_dir = args.out or args.bag.with_name(args.bag.name + "_report")
    try:
        paths = write_report(timeline, out_dir)
    except OSError as error:
        error_line("bag report", str(error))
        return 1
    print(f"{len(timeline.faces)} faces, {len(timeline.segments)} segments over {timeline.duration_s:.1f} s")
    for kind in ("png", "csv", "json"):
        print(f"{kind}: {paths[kind]}")
    return 0
