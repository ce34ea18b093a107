"""``fer-ros bench-ros``: image stamp -> faces latency, processed ratio and CPU of expression_node, across
processes (see fer_ros/ros/benchmark.py)."""

from __future__ import annotations

import argparse

from fer_ros.cli.pipeline_options import add_json_option, error_line, write_json


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench-ros",
        help="ROS 2 benchmark of expression_node (latency, processed ratio, CPU)",
        description="Start expression_node in its own process, publish 640x480 frames with real faces at "
        "30 Hz (best effort) from this process, and measure image stamp -> faces receipt latency, the "
        "share of frames processed, and the node's CPU use, for 1 and 5 faces. Runs in a private ROS "
        "domain on loopback.",
    )
    parser.add_argument("--faces", default="1,5", metavar="LIST", help="face counts (default 1,5)")
    parser.add_argument("--rate", type=float, default=30.0, metavar="HZ", help="camera rate (default 30)")
    parser.add_argument(
        "--duration",
        type=float,
        default=20.0,
        metavar="S",
        help="measured seconds per scenario, after a 3 s warm-up (default 20)",
    )
    parser.add_argument("--size", default="640x480", metavar="WxH", help="frame size (default 640x480)")
    parser.add_argument(
        "--fastdds-profile",
        default="default-fer_ros",
        metavar="XML",
        help="Fast DDS profile of both processes (default: config/fastdds_large_images.xml; "
        "'none' for Fast DDS's own defaults)",
    )
    add_json_option(parser, "the figures")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fer_ros.ros.benchmark import run_benchmark, summary_lines

    try:
        faces = tuple(int(v) for v in args.faces.split(",") if v.strip())
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        error_line("bench-ros", "--faces takes integers like 1,5 and --size WxH like 640x480")
        return 2
    profile = None if args.fastdds_profile == "none" else args.fastdds_profile
    quiet = args.json == "-"
    result = run_benchmark(
        faces,
        args.rate,
        args.duration,
        (width, height),
        profile,
        progress=(lambda _line: None) if quiet else print,
    )
    if not quiet:
        print("\n".join(summary_lines(result)))
    if args.json:
        write_json(result, args.json)
    return 0
