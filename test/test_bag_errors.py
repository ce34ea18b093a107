"""Bad bags: each gets a clear error naming the problem (exit status 1, no traceback); an interrupted
recording is still read; Ctrl-C leaves a closed bag marked partial, with nothing written lost."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from bag_helpers import bag_custom_data, read_independently, read_rosbags, stamped, video_frames

from fer_ros.bag.process import process_bag
from fer_ros.cli.main import main
from fer_ros.testing.bags import CameraFrame, write_camera_bag

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def frames(shared_dir: Path) -> list[CameraFrame]:
    return stamped(video_frames(shared_dir / "media", 4, every=10))


@pytest.fixture(scope="module")
def good_bag(tmp_path_factory, frames) -> Path:
    return write_camera_bag(tmp_path_factory.mktemp("good") / "in", frames)


def _fails(capsys, *argv: str) -> str:
    status = main(list(argv))
    err = capsys.readouterr().err
    assert status == 1, err
    assert "Traceback" not in err
    return err


def test_a_missing_bag_is_named(tmp_path: Path, capsys) -> None:
    err = _fails(capsys, "bag", "process", str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert "nope: no such bag" in err
    assert not (tmp_path / "out").exists()


def test_corrupt_bags_are_named(tmp_path: Path, good_bag: Path, capsys) -> None:
    garbage = tmp_path / "garbage.mcap"
    garbage.write_bytes(bytes(range(256)) * 10)
    err = _fails(capsys, "bag", "process", str(garbage), "--out", str(tmp_path / "out"))
    assert "garbage.mcap: cannot read the bag" in err and "magic" in err
    not_a_bag = tmp_path / "empty_dir"
    not_a_bag.mkdir()
    err = _fails(capsys, "bag", "report", str(not_a_bag))
    assert "not a rosbag2 bag" in err and "metadata.yaml is missing" in err
    data = next(good_bag.glob("*.mcap")).read_bytes()
    (tmp_path / "cut_in_header.mcap").write_bytes(data[:30])
    err = _fails(capsys, "bag", "process", str(tmp_path / "cut_in_header.mcap"), "--out", str(tmp_path / "out"))
    assert "truncated" in err and "interrupted" in err


def test_a_truncated_recording_gives_its_complete_chunks(tmp_path: Path, good_bag: Path, capsys) -> None:
    """A recorder killed before closing leaves an MCAP without summary, footer or metadata.yaml."""
    killed = tmp_path / "killed"
    killed.mkdir()
    data = next(good_bag.glob("*.mcap")).read_bytes()
    (killed / "killed_0.mcap").write_bytes(data[: len(data) * 2 // 3])
    assert main(["bag", "process", str(killed), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "killed_0.mcap is truncated (the recording was interrupted before it was closed)" in captured.err
    recovered = len(read_rosbags(tmp_path / "out", "/camera/faces")[1])
    assert 1 <= recovered < 4 and f"{recovered} of {recovered} frames processed" in captured.out


def test_a_bag_without_image_topics_says_what_it_holds(tmp_path: Path, good_bag: Path, capsys) -> None:
    process_bag(good_bag, tmp_path / "faces_only")
    err = _fails(capsys, "bag", "process", str(tmp_path / "faces_only"), "--out", str(tmp_path / "out"))
    assert "no image topics" in err and "/camera/faces [fer_ros/msg/FaceExpressionArray]" in err
    err = _fails(capsys, "bag", "process", str(good_bag), "--out", str(tmp_path / "out2"), "--topic", "/nope")
    assert "no topic '/nope'" in err
    err = _fails(capsys, "bag", "report", str(good_bag))
    assert "no fer_ros/msg/FaceExpressionArray topic" in err and "/camera/image_raw" in err


def test_an_unknown_image_encoding_is_named(tmp_path: Path, frames, capsys) -> None:
    depth = [CameraFrame(np.ones((48, 64), np.float32), f.stamp_ns) for f in frames]
    source = write_camera_bag(tmp_path / "depth", depth, topic="/depth/image_raw", encoding="32FC1")
    err = _fails(capsys, "bag", "process", str(source), "--out", str(tmp_path / "out"))
    assert "no usable image topic" in err and "/depth/image_raw" in err and "'32FC1'" in err
    err = _fails(capsys, "bag", "process", str(source), "--out", str(tmp_path / "out"), "--topic", "/depth/image_raw")
    assert "topic /depth/image_raw: unsupported image encoding '32FC1'" in err
    mixed = write_camera_bag(
        tmp_path / "mixed", frames, extra_topics={"/depth/image_raw": depth}, encodings={"/depth/image_raw": "32FC1"}
    )
    assert main(["bag", "process", str(mixed), "--out", str(tmp_path / "mixed_out")]) == 0
    captured = capsys.readouterr()
    assert "skipping /depth/image_raw: unsupported image encoding '32FC1'" in captured.err
    assert "/camera/image_raw -> /camera/faces: 4 of 4 frames processed" in captured.out


def test_an_existing_output_is_not_overwritten(tmp_path: Path, good_bag: Path, capsys) -> None:
    (tmp_path / "out").mkdir()
    err = _fails(capsys, "bag", "process", str(good_bag), "--out", str(tmp_path / "out"))
    assert "exists already" in err


def test_an_interrupted_recording_without_metadata_is_read_from_its_mcap(tmp_path: Path, good_bag: Path, capsys):
    damaged = tmp_path / "no_metadata"
    shutil.copytree(good_bag, damaged)
    (damaged / "metadata.yaml").unlink()
    assert main(["bag", "process", str(damaged), "--out", str(tmp_path / "out1")]) == 0
    assert "metadata.yaml is missing; reading in.mcap directly" in capsys.readouterr().err
    (damaged / "metadata.yaml").write_text("rosbag2_bagfile_information: {version: [unclosed\n")
    assert main(["bag", "process", str(damaged), "--out", str(tmp_path / "out2")]) == 0
    assert "Could not load YAML" in capsys.readouterr().err
    for out in ("out1", "out2"):
        assert len(read_rosbags(tmp_path / out, "/camera/faces")[1]) == 4


def test_ctrl_c_closes_the_output_and_marks_it_partial(tmp_path: Path, shared_dir: Path) -> None:
    images = video_frames(shared_dir / "media", 60, every=1)
    source = write_camera_bag(tmp_path / "long", stamped(images * 40), kind="compressed")  # 2400 frames
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "fer_ros.cli.main", "bag", "process", str(source), "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr and "marked partial" in stderr
    custom = bag_custom_data(out)
    assert custom["fer_ros.complete"] == "false" and custom["fer_ros.stopped"] == "interrupted"
    written = int(custom["fer_ros.frames_processed"])
    assert 0 < written < 2400
    _, _, messages = read_independently(out, "/camera/faces")
    assert len(messages) == written  # every processed frame is in the bag
    assert main(["bag", "report", str(out), "--out", str(tmp_path / "report")]) == 0
    assert '"partial": true' in (tmp_path / "report" / "timeline.json").read_text()


def test_unusable_frames_inside_a_bag_are_skipped_and_counted(tmp_path: Path, frames, capsys) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer

    from fer_ros.bag.types import IMAGE, typestore
    from fer_ros.testing.bags import image_message

    store = typestore()
    with Writer(tmp_path / "in", version=8, storage_plugin=StoragePlugin.MCAP) as writer:
        connection = writer.add_connection("/camera/image_raw", IMAGE, typestore=store)
        for i, frame in enumerate(frames):
            msg = image_message(frame)
            if i == 1:
                msg.data = msg.data[:1000]  # data shorter than step * height
            data = bytes(store.serialize_cdr(msg, IMAGE))
            if i == 2:
                data = data[:40]  # not even a whole message
            writer.write(connection, frame.stamp_ns, data)
    assert main(["bag", "process", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "2 of 4 frames processed" in captured.out
    assert "1 frames skipped: size_mismatch" in captured.out and "1 frames skipped: undeserializable" in captured.out
    assert "Traceback" not in captured.err
    assert len(read_rosbags(tmp_path / "out", "/camera/faces")[1]) == 2
