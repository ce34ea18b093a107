"""Benchmark of ``fer-ros bag process``: frames per second end to end (bag read, decode, pipeline, results
written), against the pipeline alone on the same frames held in memory, measured in the same run.

    python bench/bench_bag.py --frames 1000                 # 640x480 bgr8, one face, 1 thread, MCAP
    python bench/bench_bag.py --frames 10000 --make-only /tmp/big_bag   # a bag for a memory measurement:
    /usr/bin/time -v fer-ros bag process /tmp/big_bag --out /tmp/big_out   # "Maximum resident set size"

Frames: shared/media/pyfeat/single_face.mp4 (one face), resized to the chosen size, cycled, stamped at 30 Hz.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fer_ros.testing.bags import CameraFrame, write_camera_bag  # noqa: E402

T0_NS = 1_700_000_000_000_000_000
PERIOD_NS = 33_333_333


def source_frames(shared: Path, width: int, height: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(shared / "media" / "pyfeat" / "single_face.mp4"))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA))
    if not frames:
        raise SystemExit(f"cannot read {shared}/media/pyfeat/single_face.mp4")
    return frames


def stream(frames: list[np.ndarray], count: int) -> Iterator[CameraFrame]:
    for i in range(count):
        yield CameraFrame(frames[i % len(frames)], T0_NS + i * PERIOD_NS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--kind", choices=("raw", "compressed"), default="raw")
    parser.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap", help="input and output format")
    parser.add_argument("--make-only", type=Path, default=None, metavar="BAG", help="only write the input bag")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    shared = Path(os.environ.get("FER_ROS_SHARED") or REPO.parent / "shared")
    frames = source_frames(shared, args.width, args.height)
    if args.make_only is not None:
        write_camera_bag(args.make_only, stream(frames, args.frames), kind=args.kind, storage=args.storage)
        print(f"wrote {args.make_only}: {args.frames} {args.width}x{args.height} {args.kind} frames")
        return 0

    from fer_ros.bag.process import ProcessOptions, process_bag
    from fer_ros.core.pipeline import PipelineConfig
    from fer_ros.models.build import build_pipeline

    cv2.setNumThreads(1)
    config = PipelineConfig(num_threads=1, keep_crops=False)
    work = Path(tempfile.mkdtemp(prefix="fer_ros_bench_bag_"))
    try:
        source = write_camera_bag(work / "in", stream(frames, args.frames), kind=args.kind, storage=args.storage)
        size_mb = sum(p.stat().st_size for p in source.iterdir()) / 1e6
        # Same frames, in memory, through the pipeline alone (the models loaded once beforehand).
        pipeline = build_pipeline(config)
        pipeline.process(frames[0], 0.0)
        pipeline.reset(restart_ids=True)
        started = time.perf_counter()
        for frame in stream(frames, args.frames):
            pipeline.process(frame.image, frame.stamp_ns / 1e9)
        pipeline_fps = args.frames / (time.perf_counter() - started)
        result = process_bag(source, work / "out", config, ProcessOptions(storage=args.storage))
        faces = result["topics"][0]["face_detections"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures = {
        "frames": args.frames,
        "image": f"{args.width}x{args.height} {'bgr8' if args.kind == 'raw' else 'jpeg'}",
        "storage": args.storage,
        "input_bag_mb": round(size_mb, 1),
        "face_detections": faces,
        "bag_process_fps": result["frames_per_second"],
        "pipeline_only_fps": round(pipeline_fps, 1),
        "bag_io_share": round(1 - result["frames_per_second"] / pipeline_fps, 3),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>20}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
