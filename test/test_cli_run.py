"""``fer-ros run``: the launch file's graph in one process, from the same config, recording a demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parent.parent


def fer_ros(*args: str, timeout_s: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fer_ros.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=REPO,
    )


def test_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    result = fer_ros("run", "--config", str(tmp_path / "nope.yaml"), "--duration", "1")
    assert result.returncode == 1
    assert "nope.yaml" in result.stderr and "not found" in result.stderr


@pytest.mark.ros
def test_run_records_an_annotated_video_and_a_per_face_summary(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = fer_ros(
        "run",
        "--config",
        "config/fer.yaml",
        "--source",
        str(shared_dir / "media" / "astronaut.png"),
        "--rate",
        "10",
        "--loop",
        "--duration",
        "4",
        "--namespace",
        "run_test",
        "--record",
        str(out),
        "--ros-args",
        "-p",
        "min_dwell_s:=0.3",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "annotated video: " in result.stdout and "per-face summary: " in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == "camera" and "happy" in summary["labels"]
    assert summary["annotated_frames"] >= 20 and summary["faces_messages"] >= 20
    assert summary["expression_node"]["frames_processed"] >= 20
    assert summary["nodes"] == ["camera_node", "expression_node", "mirror_node", "overlay_node"]
    (face,) = summary["faces"]
    assert face["dominant_expression"] == "happy" and face["frames"] >= 20
    assert face["face_id"] in result.stdout and "happy" in result.stdout  # the printed table
    assert any(change["expression"] == "happy" for change in summary["mirror"]["changes"])
    video = cv2.VideoCapture(summary["video"])
    frames = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = video.read()
    video.release()
    assert ok and frame.shape == (512, 512, 3)
    assert frames >= 30  # ~4 s at 10 Hz: the video plays in real time
