"""``fer-ros bench-ros``: image stamp -> faces latency, processed ratio and CPU of expression_node, across
processes (see fer_ros/bench/ros_graph.py)."""

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
        help="Fast DDS profile of both processes (default: config/fastdds_large_images.xml, with --hosts "
        "config/fastdds_hosts.xml; 'none' for Fast DDS's own defaults)",
    )
    parser.add_argument(
        "--hosts",
        action="store_true",
        help="two hosts (network namespaces on a bridge; needs root): cameras on one, expression_node(s) on "
        "the other, over UDP; adds transport, bytes_per_s and cameras to the figures",
    )
    parser.add_argument(
        "--cameras", default="1", metavar="LIST", help="with --hosts: camera counts, one node each (default 1)"
    )
    parser.add_argument(
        "--image",
        default="compressed",
        metavar="LIST",
        help="with --hosts: raw (sensor_msgs/Image), compressed (JPEG) or both: raw,compressed (default compressed)",
    )
    parser.add_argument(
        "--static-peers",
        action="store_true",
        help="with --hosts: no multicast on the network, discovery through ROS_STATIC_PEERS",
    )
    add_json_option(parser, "the figures")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fer_ros.bench.ros_graph import run_benchmark, summary_lines

    try:
        faces = tuple(int(v) for v in args.faces.split(",") if v.strip())
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        error_line("bench-ros", "--faces takes integers like 1,5 and --size WxH like 640x480")
        return 2
    profile = None if args.fastdds_profile == "none" else args.fastdds_profile
    quiet = args.json == "-"
    if args.hosts:
        return _run_hosts(args, faces, (width, height), quiet)
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


def _run_hosts(args: argparse.Namespace, faces: tuple[int, ...], size: tuple[int, int], quiet: bool) -> int:
    from fer_ros.bench.hosts import hosts_summary_lines, run_hosts_benchmark

    try:
        cameras = tuple(int(v) for v in args.cameras.split(",") if v.strip())
    except ValueError:
        error_line("bench-ros", "--cameras takes integers like 1,2,3")
        return 2
    kinds = tuple(v.strip() for v in args.image.split(",") if v.strip())
    if not kinds or set(kinds) - {"raw", "compressed"} or not cameras or min(cameras) < 1:
        error_line("bench-ros", "--image takes raw, compressed or raw,compressed; --cameras counts >= 1")
        return 2
    profile = {"default-fer_ros": "default-hosts", "none": None}.get(args.fastdds_profile, args.fastdds_profile)
    try:
        result = run_hosts_benchmark(
            cameras,
            kinds,
            faces,
            args.rate,
            args.duration,
            size,
            profile,
            args.static_peers,
            progress=(lambda _line: None) if quiet else print,
        )
    except RuntimeError as error:
        error_line("bench-ros", str(error))
        return 1
    if not quiet:
        print("\n".join(hosts_summary_lines(result)))
    if args.json:
        write_json(result, args.json)
    return 0
