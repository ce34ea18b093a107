"""``fer-ros image PATH... [--out DIR] [--json [OUT]]``: expressions of the faces in still images."""

from __future__ import annotations

import argparse
from pathlib import Path

from fer_ros.cli.pipeline_options import (
    add_json_option,
    add_pipeline_options,
    error_line,
    pipeline_config,
    quiet_opencv,
    write_json,
)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "image", help="detect faces and their expressions in images",
        description="Detect faces and classify their expressions in image files (folders are expanded). "
        "Unreadable files are reported on one line each and skipped; the exit status is then 1.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders of images")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write annotated PNGs here")
    add_json_option(parser, "one record per image")
    add_pipeline_options(parser)
    parser.set_defaults(func=run)
    return parser


def _expand(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(p)
    return files


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fer_ros.core.errors import ImageReadError
    from fer_ros.core.image_io import read_image
    from fer_ros.core.render import render
    from fer_ros.models.build import build_pipeline

    quiet_opencv(args.threads)
    # A still image is its own track history: a face counts as confirmed at its first sighting.
    pipeline = build_pipeline(pipeline_config(args, track_confirm_hits=1))
    files = _expand(args.paths)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    records, failures, used_names = [], 0, set()
    for path in tqdm(files, desc="images", unit="img", disable=None if len(files) > 1 else True):
        try:
            image = read_image(path)
        except ImageReadError as error:
            failures += 1
            error_line("image", str(error))
            records.append({"path": str(path), "error": str(error)})
            continue
        pipeline.reset(restart_ids=True)
        result = pipeline.process(image, 0.0)
        record = {"path": str(path), **result.to_dict()}
        if args.out:
            name = f"{path.stem}.png"
            k = 1
            while name in used_names:
                k += 1
                name = f"{path.stem}_{k}.png"
            used_names.add(name)
            out_path = args.out / name
            import cv2

            if not cv2.imwrite(str(out_path), render(image, result)):
                error_line("image", f"{out_path}: cannot write")
                failures += 1
            record["annotated"] = str(out_path)
        records.append(record)
        if args.json != "-":
            faces = ", ".join(f"{f.face_id} {f.expression} {f.confidence:.2f} at "
                              f"({f.box[0]:.0f}, {f.box[1]:.0f}, {f.box[2]:.0f}x{f.box[3]:.0f})"
                              for f in result.faces)
            print(f"{path}: {len(result.faces)} face(s){': ' + faces if faces else ''}", flush=True)
    if args.json:
        write_json({"labels": list(pipeline.labels), "images": records}, args.json)
    return 1 if failures else 0
