"""``fer-ros image | video | bench`` as a user runs them (separate processes), and the benchmark frames."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_ros.core.detector import YuNetDetector
from fer_ros.core.image_io import read_image
from fer_ros.core.pipeline import PipelineConfig
from fer_ros.evaluation.media import DEFAULT_FACE_IMAGES, compose_frame, face_crops
from fer_ros.models.registry import resolve_model

REPO_ROOT = Path(__file__).resolve().parent.parent


def fer_ros_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fer_ros.cli.main", *args],
        cwd=cwd or REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, TQDM_DISABLE="1"),
    )


def _error_lines(stderr: str, command: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"fer-ros {command}: error: ")]


def test_image_writes_annotated_pngs_and_json(shared_dir: Path, tmp_path: Path) -> None:
    astronaut = shared_dir / "media" / "astronaut.png"
    group = shared_dir / "media" / "pyfeat" / "multi_face.jpg"
    out_dir, out_json = tmp_path / "annotated", tmp_path / "faces.json"
    proc = fer_ros_cli("image", str(astronaut), str(group), "--out", str(out_dir), "--json", str(out_json))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(out_json.read_text())
    assert report["labels"][:2] == ["neutral", "happy"]
    records = {Path(r["path"]).name: r for r in report["images"]}
    assert len(records["astronaut.png"]["faces"]) == 1
    assert len(records["multi_face.jpg"]["faces"]) == 5
    assert records["astronaut.png"]["faces"][0]["expression"] == "happy"
    assert all(f["track_confirmed"] for r in records.values() for f in r["faces"]), "a still image confirms at once"
    for name, source in (("astronaut.png", astronaut), ("multi_face.jpg", group)):
        annotated = cv2.imread(records[name]["annotated"])
        original = read_image(source)
        assert annotated is not None and annotated.shape == original.shape
        assert np.mean(np.any(annotated != original, axis=2)) > 0.01, "something is drawn"
    assert sorted(p.name for p in out_dir.iterdir()) == ["astronaut.png", "multi_face.png"]
    assert "astronaut.png: 1 face(s)" in proc.stdout and "multi_face.jpg: 5 face(s)" in proc.stdout

    # --json without a file: the JSON document alone on standard output.
    proc = fer_ros_cli("image", str(astronaut), "--json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["images"][0]["faces"]) == 1


def test_image_reports_bad_files_and_goes_on(shared_dir: Path, tmp_path: Path) -> None:
    jpeg = (shared_dir / "media" / "ros4hri" / "user_happy.jpg").read_bytes()
    png = (shared_dir / "media" / "astronaut.png").read_bytes()
    bad = {
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "damaged.png": png[: len(png) // 2] + png[-64:],  # ends with IEND, middle cut out
        "empty.jpg": b"",
        "text.png": b"this is not an image\n",
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
    good = [shared_dir / "media" / "astronaut.png", shared_dir / "media" / "pyfeat" / "multi_face.jpg"]
    paths = [str(good[0]), *(str(tmp_path / n) for n in bad), str(tmp_path / "missing.jpg"), str(good[1])]
    out_json = tmp_path / "out.json"
    proc = fer_ros_cli("image", *paths, "--out", str(tmp_path / "annotated"), "--json", str(out_json))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = _error_lines(proc.stderr, "image")
    assert len(errors) == len(bad) + 1
    assert proc.stderr.strip().splitlines() == errors, "nothing but the one-line errors on stderr"
    for name in [*bad, "missing.jpg"]:
        assert sum(name in line for line in errors) == 1, name
    records = json.loads(out_json.read_text())["images"]
    assert [Path(r["path"]).name for r in records] == [Path(p).name for p in paths]
    faces = {Path(r["path"]).name: len(r["faces"]) for r in records if "faces" in r}
    assert faces == {"astronaut.png": 1, "multi_face.jpg": 5}
    assert all("error" in r for r in records if "faces" not in r)


def test_video_writes_a_playable_mp4_and_json_lines(shared_dir: Path, tmp_path: Path) -> None:
    source = shared_dir / "media" / "pyfeat" / "single_face.mp4"
    out = tmp_path / "annotated.mp4"
    proc = fer_ros_cli("video", str(source), "--out", str(out), "--max-frames", "24")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    capture = cv2.VideoCapture(str(source))
    ok, first_source = capture.read()
    capture.release()
    assert ok
    capture = cv2.VideoCapture(str(out))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == 24
    assert frames[0].shape == first_source.shape
    assert np.mean(cv2.absdiff(frames[0], first_source)) > 1.0, "the annotations are in the video"
    lines = out.with_suffix(".jsonl").read_text().splitlines()
    assert len(lines) == 24
    records = [json.loads(line) for line in lines]
    assert [r["frame"] for r in records] == list(range(24))
    assert records[1]["timestamp_s"] > records[0]["timestamp_s"]
    ids = {f["face_id"] for r in records for f in r["faces"]}
    assert sum(len(r["faces"]) == 1 for r in records) >= 22 and len(ids) == 1, "one face, one id"
    assert records[-1]["faces"][0]["track_confirmed"]


def test_video_json_to_stdout_and_errors(shared_dir: Path, tmp_path: Path) -> None:
    source = shared_dir / "media" / "pyfeat" / "single_face.mp4"
    proc = fer_ros_cli("video", str(source), "--json", "--max-frames", "3")
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["frame"] for line in proc.stdout.splitlines()] == [0, 1, 2]
    for bad_source in (tmp_path / "missing.mp4", tmp_path / "not_a_video.mp4"):
        if bad_source.name.startswith("not"):
            bad_source.write_bytes(b"\x00" * 1000)
        proc = fer_ros_cli("video", str(bad_source), "--out", str(tmp_path / "x.mp4"))
        assert proc.returncode == 1
        assert "Traceback" not in proc.stderr and len(_error_lines(proc.stderr, "video")) == 1


def test_missing_model_is_one_line(shared_dir: Path) -> None:
    proc = fer_ros_cli("image", str(shared_dir / "media" / "astronaut.png"), "--model", "no_such_model")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "no_such_model" in line


def test_bench_json_has_the_required_keys(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = fer_ros_cli("bench", "--iterations", "5", "--thread-counts", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for key in ("faces_1", "faces_5", "faces_10"):
        stats = result["end_to_end"][key]
        assert 0 < stats["p50_ms"] <= stats["p99_ms"]
        assert set(result["stages_by_threads"]["1"][key]) == {"detect", "align", "classify", "track"}
    peer = result["peer_classify_ms"]
    assert set(peer) == {"faces_1", "faces_5", "faces_10"} and all(v > 0 for v in peer.values())
    assert result["detected_faces"] == {"faces_1": 1, "faces_5": 5, "faces_10": 10}
    assert "end-to-end p50" in proc.stdout


@pytest.mark.parametrize("model", sorted({"yunet_n_dynamic", PipelineConfig().detector_model}))
def test_benchmark_frames_hold_exactly_n_faces(shared_dir: Path, model: str) -> None:
    detector = YuNetDetector(resolve_model(model), max_faces=100, min_face_size_px=12.0)
    crops = face_crops(detector, [shared_dir / p for p in DEFAULT_FACE_IMAGES])
    assert len(crops) >= 8
    for n in (1, 5, 10):
        frame = compose_frame(crops, n)
        assert frame.shape == (480, 640, 3)
        assert len(detector.detect(frame)) == n, f"{n}-face frame"
