"""``fer-ros bag process``: bags made here with rosbags from real faces, in both storage formats and both image
kinds; the results read back with rosbags and, independently, with the MCAP reference reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from bag_helpers import (
    PERIOD_NS,
    RECEIVE_DELAY_NS,
    T0_NS,
    bag_custom_data,
    read_independently,
    read_rosbags,
    stamp_ns,
    stamped,
    video_frames,
)

from fer_ros.bag.process import ProcessOptions, process_bag
from fer_ros.bag.types import FACE_EXPRESSION_ARRAY, typestore
from fer_ros.cli.main import main
from fer_ros.core.image_io import read_image
from fer_ros.core.pipeline import PipelineConfig
from fer_ros.models.build import build_pipeline
from fer_ros.testing.bags import CameraFrame, write_camera_bag

FRAMES = 14


@pytest.fixture(scope="module")
def faces_video(shared_dir: Path) -> list[np.ndarray]:
    """14 frames of one person going from neutral to happy."""
    return video_frames(shared_dir / "media", FRAMES, every=5)


@pytest.mark.parametrize(
    ("storage", "kind"), [("mcap", "raw"), ("mcap", "compressed"), ("sqlite3", "raw"), ("sqlite3", "compressed")]
)
def test_results_carry_the_image_stamps_and_read_back_with_both_readers(
    tmp_path: Path, faces_video: list[np.ndarray], storage: str, kind: str, capsys
) -> None:
    frames = stamped(faces_video)
    source = write_camera_bag(tmp_path / "in", frames, kind=kind, storage=storage)
    out = tmp_path / "out"
    status = main(["bag", "process", str(source), "--out", str(out), "--storage", storage, "--summary",
                   str(tmp_path / "summary.json")])
    printed = capsys.readouterr().out
    assert status == 0
    image_topic = "/camera/image_raw" + ("/compressed" if kind == "compressed" else "")
    assert f"{image_topic} -> /camera/faces: {FRAMES} of {FRAMES} frames processed" in printed
    assert "dominant" in printed and "happy" in printed  # the per-face table

    msgtype, by_rosbags = read_rosbags(out, "/camera/faces")
    schema, encoding, independent = read_independently(out, "/camera/faces")
    assert msgtype == schema == FACE_EXPRESSION_ARRAY and encoding == "ros2msg"
    input_stamps = [f.stamp_ns for f in frames]
    for messages in (by_rosbags, independent):
        assert len(messages) == FRAMES
        assert [stamp_ns(m) for _, m in messages] == input_stamps
        assert [log for log, _ in messages] == [s + RECEIVE_DELAY_NS for s in input_stamps]
        assert [len(m.faces) for _, m in messages] == [1] * FRAMES
        assert all(m.header.frame_id == "camera" for _, m in messages)
        assert (messages[0][1].image_width, messages[0][1].image_height) == (640, 360)
    for (_, a), (_, b) in zip(by_rosbags, independent, strict=True):
        assert a.faces[0].expression == b.faces[0].expression and a.faces[0].face_id == b.faces[0].face_id
        np.testing.assert_array_equal(np.asarray(a.faces[0].scores), np.asarray(b.faces[0].scores, np.float32))
    expressions = [m.faces[0].expression for _, m in by_rosbags]
    assert expressions[0] == "neutral" and expressions[-1] == "happy", expressions
    assert len({m.faces[0].face_id for _, m in by_rosbags}) == 1  # one track throughout
    assert bag_custom_data(out)["fer_ros.complete"] == "true"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["topics"][0]["faces"][0]["frames"] == FRAMES


def test_definitions_in_the_bag_hash_as_rosidl_generated_them(tmp_path: Path, faces_video) -> None:
    """The bag names fer_ros/msg/FaceExpressionArray with the RIHS01 hash rosidl computed at build time, so a
    ROS 2 install with fer_ros built accepts it (ros2 bag play, ros2 topic echo)."""
    import yaml

    source = write_camera_bag(tmp_path / "in", stamped(faces_video[:2]))
    process_bag(source, tmp_path / "out", options=ProcessOptions(overlay=True))
    info = yaml.safe_load((tmp_path / "out" / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    hashes = {t["topic_metadata"]["name"]: t["topic_metadata"]["type_description_hash"]
              for t in info["topics_with_message_count"]}
    assert hashes["/camera/faces"] == typestore().hash_rihs01(FACE_EXPRESSION_ARRAY)
    generated = Path(__import__("sys").prefix) / "share" / "fer_ros" / "msg" / "FaceExpressionArray.json"
    if generated.is_file():  # the interfaces built by `make setup` (rosidl)
        assert hashes["/camera/faces"] in generated.read_text()
    schema, _, messages = read_independently(tmp_path / "out", "/camera/overlay/image/compressed")
    assert schema == "sensor_msgs/msg/CompressedImage" and len(messages) == 2
    assert messages[0][1].format.endswith("jpeg compressed bgr8") and bytes(messages[0][1].data[:2]) == b"\xff\xd8"


def test_bag_results_equal_the_pipeline_run_directly_on_the_stamps(tmp_path: Path, faces_video) -> None:
    """Tracking and smoothing run on header stamps: the same frames at the same stamps give the same scores."""
    frames = stamped(faces_video)
    frames = [CameraFrame(f.image, f.stamp_ns + (i % 3) * 40_000_000, f.log_ns) for i, f in enumerate(frames)]
    source = write_camera_bag(tmp_path / "in", frames)
    process_bag(source, tmp_path / "out")
    _, messages = read_rosbags(tmp_path / "out", "/camera/faces")
    pipeline = build_pipeline(PipelineConfig(keep_crops=False))
    for frame, (_, msg) in zip(frames, messages, strict=True):
        expected = pipeline.process(frame.image, frame.stamp_ns / 1e9)
        assert [f.face_id for f in expected.faces] == [f.face_id for f in msg.faces]
        for want, got in zip(expected.faces, msg.faces, strict=True):
            assert want.expression == got.expression
            np.testing.assert_allclose(got.scores, want.scores, atol=1e-6)
            np.testing.assert_allclose(got.raw_scores, want.raw_scores, atol=1e-6)


def test_each_image_topic_gets_its_own_faces_topic_and_tracks(tmp_path: Path, shared_dir: Path, faces_video):
    group = read_image(shared_dir / "media" / "pyfeat" / "multi_face.jpg")
    source = write_camera_bag(
        tmp_path / "in",
        stamped(faces_video[:4], frame_id="front"),
        topic="/front/image_raw",
        extra_topics={"/rear/image_raw": stamped([group] * 4, frame_id="rear")},
    )
    result = process_bag(source, tmp_path / "out")
    assert [t["faces_topic"] for t in result["topics"]] == ["/front/faces", "/rear/faces"]
    _, front = read_rosbags(tmp_path / "out", "/front/faces")
    _, rear = read_rosbags(tmp_path / "out", "/rear/faces")
    assert [len(m.faces) for _, m in front] == [1] * 4 and [len(m.faces) for _, m in rear] == [5] * 4
    assert {m.header.frame_id for _, m in rear} == {"rear"}
    assert len({f.face_id for _, m in rear for f in m.faces}) == 5


def test_out_of_order_stamps_are_put_back_in_order_and_counted(tmp_path: Path, faces_video, capsys) -> None:
    frames = stamped(faces_video[:10])
    arrival = [0, 1, 3, 2, 4, 5, 6, 7, 8, 9]  # 2 and 3 swapped: within any window
    arrival = arrival[:4] + [5, 6, 7, 4] + arrival[8:]  # 4 arrives 3 frames late
    shuffled = [CameraFrame(frames[i].image, frames[i].stamp_ns, T0_NS + k * PERIOD_NS) for k, i in enumerate(arrival)]
    source = write_camera_bag(tmp_path / "in", shuffled)
    assert main(["bag", "process", str(source), "--out", str(tmp_path / "wide")]) == 0
    printed = capsys.readouterr().out
    assert "2 frames were out of stamp order: reordered within 16 frames, 0 later than that dropped" in printed
    _, messages = read_rosbags(tmp_path / "wide", "/camera/faces")
    assert [stamp_ns(m) for _, m in sorted(messages, key=lambda x: stamp_ns(x[1]))] == [f.stamp_ns for f in frames]
    assert main(["bag", "process", str(source), "--out", str(tmp_path / "narrow"), "--reorder-window", "2"]) == 0
    printed = capsys.readouterr().out
    assert "9 of 10 frames processed" in printed and "1 later than that dropped (raise --reorder-window)" in printed


def test_overlays_and_compressed_twins_are_left_out_unless_chosen(tmp_path: Path, faces_video, capsys) -> None:
    frames = stamped(faces_video[:2])
    source = write_camera_bag(
        tmp_path / "in",
        frames,
        extra_topics={"/camera/image_raw/compressed": frames, "/camera/overlay/image": frames},
    )
    assert main(["bag", "process", str(source), "--out", str(tmp_path / "auto")]) == 0
    captured = capsys.readouterr()
    assert "skipping /camera/image_raw/compressed: the compressed twin of /camera/image_raw" in captured.err
    assert "skipping /camera/overlay/image: an overlay" in captured.err
    assert "/camera/image_raw -> /camera/faces: 2 of 2" in captured.out and captured.out.count(" -> ") == 1
    chosen = ["--out", str(tmp_path / "chosen"), "--topic", "/camera/overlay/image"]
    assert main(["bag", "process", str(source), *chosen]) == 0
    assert "/camera/overlay/image -> /camera/overlay/faces: 2 of 2" in capsys.readouterr().out
