"""``fer-ros bag report``: segments (CSV, JSON) and the timeline picture, from a faces bag whose content is
known exactly (written here with the same message mapping as the live node), and from a processed real bag."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from bag_helpers import stamped, video_frames

from fer_ros.bag.process import faces_message, process_bag
from fer_ros.bag.report import read_timeline
from fer_ros.bag.timeline_image import expression_color
from fer_ros.bag.types import FACE_EXPRESSION_ARRAY, typestore
from fer_ros.cli.main import main
from fer_ros.core.types import FaceResult, FrameResult

LABELS = ("neutral", "happy", "surprised", "sad", "angry", "disgusted", "scared", "contempt")
T0 = 1_700_000_000_000_000_000
STEP = 100_000_000  # 10 Hz


def _face(face_id: str, expression: str, confidence: float) -> FaceResult:
    scores = np.full(len(LABELS), (1 - confidence) / (len(LABELS) - 1), np.float32)
    scores[LABELS.index(expression)] = confidence
    return FaceResult(face_id, (10.0, 20.0, 50.0, 60.0), 0.9, None, expression, confidence, scores, scores)


def _script(i: int) -> list[FaceResult]:
    """face1: happy 0.8 for frames 0-9, sad 0.6 for 10-19; face2: neutral 0.9 for 5-9 and, after a 2 s gap,
    30-34."""
    faces = []
    if i < 20:
        faces.append(_face("face1", "happy", 0.8) if i < 10 else _face("face1", "sad", 0.6))
    if 5 <= i < 10 or 30 <= i < 35:
        faces.append(_face("face2", "neutral", 0.9))
    return faces


@pytest.fixture(scope="module")
def scripted_bag(tmp_path_factory) -> Path:
    from rosbags.rosbag2 import StoragePlugin, Writer

    store = typestore()
    types = store.types
    path = tmp_path_factory.mktemp("scripted") / "faces"
    with Writer(path, version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection("/robot/faces", FACE_EXPRESSION_ARRAY, typestore=store)
        for i in range(35):
            stamp = types["builtin_interfaces/msg/Time"](sec=(T0 + i * STEP) // 10**9, nanosec=(T0 + i * STEP) % 10**9)
            header = types["std_msgs/msg/Header"](stamp=stamp, frame_id="camera")
            result = FrameResult(_script(i), LABELS, (640, 480), 0.0)
            msg = faces_message(result, header, "camera")
            writer.write(connection, T0 + i * STEP, store.serialize_cdr(msg, FACE_EXPRESSION_ARRAY))
    return path


def test_segments_follow_the_recorded_expressions(scripted_bag: Path, tmp_path: Path, capsys) -> None:
    assert main(["bag", "report", str(scripted_bag), "--out", str(tmp_path)]) == 0
    assert "2 faces, 4 segments over 3.4 s" in capsys.readouterr().out
    with (tmp_path / "timeline.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    got = [(r["face_id"], float(r["start_s"]), float(r["end_s"]), r["expression"], float(r["mean_confidence"]),
            int(r["frames"])) for r in rows]
    assert got == [
        ("face1", 0.0, 1.0, "happy", 0.8, 10),  # ends when the sad frames start
        ("face1", 1.0, 2.0, "sad", 0.6, 10),  # the last frame lasts one frame interval
        ("face2", 0.5, 1.0, "neutral", 0.9, 5),
        ("face2", 3.0, 3.5, "neutral", 0.9, 5),  # the 2 s gap ends a segment
    ]
    document = json.loads((tmp_path / "timeline.json").read_text())
    assert document["partial"] is False and document["labels"] == list(LABELS)
    assert document["start_stamp_ns"] == T0 and len(document["segments"]) == 4
    assert document["segments"][0]["duration_s"] == 1.0 and document["segments"][0]["topic"] == "/robot/faces"


def test_the_timeline_picture_has_a_row_per_face_coloured_by_expression(scripted_bag: Path, tmp_path: Path):
    main(["bag", "report", str(scripted_bag), "--out", str(tmp_path)])
    image = cv2.imread(str(tmp_path / "timeline.png"))
    assert image is not None and image.shape[1] == 960

    def present(color: tuple[int, int, int], alpha: float) -> np.ndarray:
        blended = np.array([round(255 * (1 - alpha) + c * alpha) for c in color])
        return np.all(np.abs(image.astype(int) - blended) <= 1, axis=2)

    happy = present(expression_color("happy"), 0.8)
    sad = present(expression_color("sad"), 0.6)
    neutral = present(expression_color("neutral"), 0.9)
    assert happy.sum() > 500 and sad.sum() > 500 and neutral.sum() > 300
    happy_rows, neutral_rows = np.nonzero(happy.sum(axis=1) > 20)[0], np.nonzero(neutral.sum(axis=1) > 20)[0]
    assert happy_rows.max() < neutral_rows.min()  # face1's row above face2's (bars, not text)
    happy_cols, sad_cols = np.nonzero(happy.sum(axis=0) > 5)[0], np.nonzero(sad.sum(axis=0) > 5)[0]
    assert happy_cols.max() < sad_cols.min()  # happy first, then sad, left to right


def test_report_of_a_processed_real_bag(tmp_path: Path, shared_dir: Path) -> None:
    frames = stamped(video_frames(shared_dir / "media", 14, every=5))
    from fer_ros.testing.bags import write_camera_bag

    process_bag(write_camera_bag(tmp_path / "in", frames), tmp_path / "out")
    timeline = read_timeline(tmp_path / "out")
    assert len(timeline.faces) == 1 and timeline.duration_s == pytest.approx(1.3)
    expressions = [s.expression for s in timeline.segments]
    assert expressions[0] == "neutral" and expressions[-1] == "happy"
    assert sum(s.frames for s in timeline.segments) == 14
