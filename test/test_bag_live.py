"""Live recording and the round trip: ``fer-ros run --record-bag`` records the graph's faces, commands and camera
images over real DDS into an MCAP bag; ``bag process`` on the recorded camera frames then agrees with what the
live expression node published for the same frames (labels equal, scores within float tolerance)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from bag_helpers import bag_custom_data, read_independently, read_rosbags, stamp_ns

from fer_ros.bag.process import process_bag
from fer_ros.bag.report import read_timeline

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parent.parent
FRAMES = 36


@pytest.fixture(scope="module")
def recording(tmp_path_factory, shared_dir: Path) -> tuple[Path, dict]:
    """36 frames of single_face.mp4 (neutral, then happy) at 12 Hz through the graph, recorded."""
    bag = tmp_path_factory.mktemp("live") / "recorded"
    result = subprocess.run(
        [
            sys.executable, "-m", "fer_ros.cli.main", "run",
            "--source", str(shared_dir / "media" / "pyfeat" / "single_face.mp4"),
            "--rate", "12",
            "--namespace", "bagrt",
            "--no-overlay",
            "--record-bag", str(bag),
            "--record-bag-camera",
            "--ros-args", "-p", f"max_frames:={FRAMES}",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"bag: {bag} (" in result.stdout
    stats = json.loads(next(line for line in result.stdout.splitlines() if line.startswith("{")))
    return bag, stats


def test_the_recording_holds_faces_commands_and_camera_frames(recording) -> None:
    bag, stats = recording
    faces_type, faces = read_rosbags(bag, "/bagrt/faces")
    assert faces_type == "fer_ros/msg/FaceExpressionArray"
    assert len(faces) == stats["frames_processed"] >= FRAMES - 2
    for topic, schema_name, least in (
        ("/bagrt/faces", "fer_ros/msg/FaceExpressionArray", FRAMES - 2),
        ("/bagrt/expression_command", "fer_ros/msg/ExpressionCommand", 10),
        ("/camera/image_raw", "sensor_msgs/msg/Image", FRAMES - 2),
    ):
        schema, encoding, messages = read_independently(bag, topic)
        assert (schema, encoding) == (schema_name, "ros2msg") and len(messages) >= least, topic
    assert bag_custom_data(bag)["fer_ros.complete"] == "true"
    timeline = read_timeline(bag)
    assert [s.expression for s in timeline.segments][-1] == "happy"


def test_bag_process_agrees_with_the_live_node_on_the_same_frames(recording, tmp_path: Path) -> None:
    bag, stats = recording
    assert stats["frames_skipped"] == 0, "the live node skipped frames: its tracks saw other frames than ours"
    process_bag(bag, tmp_path / "offline", options=None)
    _, live = read_rosbags(bag, "/bagrt/faces")
    _, offline = read_rosbags(tmp_path / "offline", "/camera/faces")
    live_by_stamp = {stamp_ns(m): m for _, m in live}
    offline_by_stamp = {stamp_ns(m): m for _, m in offline}
    assert set(live_by_stamp) <= set(offline_by_stamp) and len(live_by_stamp) >= FRAMES - 2
    expressions = []
    for stamp, live_msg in sorted(live_by_stamp.items()):
        ours = offline_by_stamp[stamp]
        assert list(ours.labels) == list(live_msg.labels)
        assert [f.face_id for f in ours.faces] == [f.face_id for f in live_msg.faces]
        for a, b in zip(ours.faces, live_msg.faces, strict=True):
            assert a.expression == b.expression
            np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)
            np.testing.assert_allclose(a.raw_scores, b.raw_scores, atol=1e-5)
            np.testing.assert_allclose([a.x, a.y, a.width, a.height], [b.x, b.y, b.width, b.height], atol=1e-3)
            expressions.append(a.expression)
    assert expressions[0] == "neutral" and expressions[-1] == "happy"
