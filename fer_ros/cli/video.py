"""``fer-ros video SRC [--out FILE] [--json [OUT]]``: annotated video and per-frame JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from fer_ros.cli.pipeline_options import (
    add_json_option,
    add_pipeline_options,
    error_line,
    pipeline_config,
    quiet_opencv,
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "video",
        help="track faces and expressions in a video file or a webcam",
        description="Process a video file or a webcam (an integer index) frame by frame, streaming: an annotated "
        "MP4 with --out and one JSON line per frame (to --json OUT, to standard output with a bare --json, "
        "else next to --out as .jsonl).",
    )
    parser.add_argument("source", metavar="SRC", help="video file, or webcam index (0, 1, ...)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="annotated MP4 to write")
    add_json_option(parser, "one record per frame, a line each,")
    parser.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N frames")
    add_pipeline_options(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import cv2
    from tqdm import tqdm

    from fer_ros.core.render import render
    from fer_ros.models.build import build_pipeline

    quiet_opencv(args.threads)
    webcam = args.source.isdigit()
    if not webcam and not Path(args.source).is_file():
        error_line("video", f"{args.source}: no such file")
        return 1
    capture = cv2.VideoCapture(int(args.source) if webcam else args.source)
    if not capture.isOpened():
        error_line("video", f"{args.source}: cannot open video source")
        return 1
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and 1.0 <= fps <= 240.0 else 30.0
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if not webcam else 0
    if args.max_frames is not None:
        total = min(total, args.max_frames) if total > 0 else args.max_frames
    pipeline = build_pipeline(pipeline_config(args, keep_crops=args.out is not None))
    json_target = args.json or (str(args.out.with_suffix(".jsonl")) if args.out else None)
    json_stream = None
    if json_target == "-":
        json_stream = sys.stdout
    elif json_target:
        Path(json_target).parent.mkdir(parents=True, exist_ok=True)
        json_stream = open(json_target, "w")  # noqa: SIM115 - closed in finally
    writer = None
    frames = faces = 0
    start = time.perf_counter()
    try:
        with tqdm(total=total or None, desc="video", unit="frame", disable=None) as bar:
            while args.max_frames is None or frames < args.max_frames:
                ok, frame = capture.read()
                if not ok or frame is None:
                    break
                timestamp = time.monotonic() if webcam else frames / fps
                result = pipeline.process(frame, timestamp)
                faces += len(result.faces)
                if json_stream is not None:
                    record = {"frame": frames, **result.to_dict()}
                    json_stream.write(json.dumps(record) + "\n")
                if args.out:
                    if writer is None:
                        args.out.parent.mkdir(parents=True, exist_ok=True)
                        height, width = frame.shape[:2]
                        writer = cv2.VideoWriter(
                            str(args.out), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height)
                        )
                        if not writer.isOpened():
                            error_line("video", f"{args.out}: cannot write video")
                            return 1
                    writer.write(render(frame, result))
                frames += 1
                bar.update(1)
    except KeyboardInterrupt:
        pass
    finally:
        capture.release()
        if writer is not None:
            writer.release()
        if json_stream is not None and json_stream is not sys.stdout:
            json_stream.close()
    if frames == 0:
        error_line("video", f"{args.source}: no frame could be read")
        return 1
    seconds = time.perf_counter() - start
    summary = (
        f"{args.source}: {frames} frames, {faces} face detections, {frames / seconds:.1f} frames/s"
        + (f", video {args.out}" if args.out else "")
        + (f", JSON lines {json_target}" if json_target else "")
    )
    print(summary, file=sys.stderr if json_target == "-" else sys.stdout, flush=True)
    return 0
