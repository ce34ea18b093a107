"""``fer-ros run``: the nodes of launch/fer.launch.py in one process, without ROS launch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fer_ros.cli.pipeline_options import error_line


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "run",
        help="run the ROS 2 graph (expression, overlay, mirror nodes) in one process",
        description="Start the nodes of launch/fer.launch.py in one process with one rclpy executor, "
        "configured by the same parameter file. With --source, a camera_node plays a video, an image, a "
        "folder of images or a webcam. With --record DIR, the annotated video and a per-face summary are "
        "written to DIR.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        metavar="YAML",
        help="parameter file (default: fer.yaml of the installed package or this checkout)",
    )
    parser.add_argument(
        "--source",
        default="",
        metavar="SRC",
        help="play a video file, an image, a folder of images or a webcam index as the camera",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="HZ",
        help="camera rate with --source (default: the source's own)",
    )
    parser.add_argument("--loop", action="store_true", help="loop the --source")
    parser.add_argument(
        "--camera-topic",
        default="/camera/image_raw",
        metavar="TOPIC",
        help="image topic (default /camera/image_raw; TOPIC/compressed with --compressed)",
    )
    parser.add_argument("--compressed", action="store_true", help="use sensor_msgs/CompressedImage images")
    parser.add_argument("--namespace", default="", metavar="NS", help="namespace of the nodes")
    parser.add_argument(
        "--no-overlay", dest="overlay", action="store_false", help="do not start overlay_node"
    )
    parser.add_argument("--no-mirror", dest="mirror", action="store_false", help="do not start mirror_node")
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: at the end of --source, or on Ctrl-C)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="DIR",
        help="write DIR/annotated.mp4 and DIR/summary.json, and print the per-face summary",
    )
    parser.add_argument(
        "--record-bag",
        type=Path,
        default=None,
        metavar="DIR",
        help="record faces and expression_command into a new MCAP bag DIR (see `fer-ros bag report`)",
    )
    parser.add_argument(
        "--record-bag-camera", action="store_true", help="with --record-bag, record the camera topic too"
    )
    parser.add_argument(
        "--no-large-images-profile",
        dest="large_images_profile",
        action="store_false",
        help="do not apply config/fastdds_large_images.xml (applied unless a Fast DDS profile is already set "
        "or RMW_IMPLEMENTATION is not Fast DDS)",
    )
    parser.add_argument(
        "--ros-args",
        dest="ros_args",
        nargs=argparse.REMAINDER,
        default=[],
        metavar="ARG",
        help="the rest of the line is passed to ROS, e.g. --ros-args -p min_dwell_s:=0.5",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from fer_ros.app.graph import GraphOptions, run_graph
    from fer_ros.ros.config_files import find_config_file

    ros_args = list(args.ros_args or [])
    try:
        config = find_config_file(args.config or "fer.yaml")
    except FileNotFoundError as error:
        error_line("run", str(error))
        return 1
    options = GraphOptions(
        config=config,
        camera_topic=args.camera_topic,
        compressed=args.compressed,
        namespace=args.namespace,
        overlay=args.overlay,
        mirror=args.mirror,
        camera_source=args.source,
        camera_rate_hz=args.rate,
        loop=args.loop,
        duration_s=args.duration,
        record_dir=args.record,
        record_bag_dir=args.record_bag,
        record_bag_camera=args.record_bag_camera,
        large_images_profile=args.large_images_profile,
        ros_args=ros_args,
    )
    if options.duration_s is None and not options.camera_source:
        print("running until Ctrl-C", flush=True)
    try:
        result = run_graph(options)
    except (ValueError, OSError) as error:
        error_line("run", str(error))
        return 1
    stats = result.get("expression_node", {})
    print(
        f"stopped ({result['stopped']}): {stats.get('frames_processed', 0)} frames processed, "
        f"{stats.get('frames_skipped', 0)} skipped, {stats.get('faces_total', 0)} face detections",
        flush=True,
    )
    if args.record is not None:
        from fer_ros.app.recorder import summary_table

        print(summary_table(result))
        mirror = result.get("mirror", {}).get("changes", [])
        if mirror:
            print("mirror: " + " -> ".join(f"{c['expression']} ({c['time_s']:.1f} s)" for c in mirror))
        if result.get("video"):
            print(f"annotated video: {result['video']}")
        print(f"per-face summary: {args.record / 'summary.json'}")
    elif stats and not args.record:
        print(json.dumps(stats))
    if result.get("bag"):
        counts = ", ".join(f"{topic} {n}" for topic, n in result["bag"]["messages"].items())
        print(f"bag: {result['bag']['bag']} ({counts})")
    return 0
