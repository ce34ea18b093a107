"""Real DDS between real processes: a published FaceExpressionArray arrives intact; the harness cleans up."""

from __future__ import annotations

import json
import os
import signal

import pytest

from fer_ros.msg import FaceExpressionArray
from fer_ros.testing.ros_harness import SHM_DIR, shm_files_in_use, wait_for
from fer_ros.testing.sample_messages import message_to_data, sample_face_expression_array

pytestmark = pytest.mark.ros

TOPIC = "/fer_ros_test/face_expressions"


def test_message_from_another_process_arrives_intact(ros_processes, topic_probe) -> None:
    probe = topic_probe()
    probe.subscribe(TOPIC, FaceExpressionArray)
    publisher = ros_processes.start_module(
        "fer_ros.testing.sample_publisher", parameters={"topic": TOPIC, "rate_hz": 20.0, "faces": 2}
    )
    publisher.wait_for_output("publishing on " + TOPIC)
    received = probe.wait_for_message(TOPIC, timeout_s=30)
    expected = sample_face_expression_array(faces=2)
    assert received == expected
    data, want = message_to_data(received), message_to_data(expected)
    for field in ("header", "source", "image_width", "image_height", "labels"):
        assert data[field] == want[field], field
    assert len(data["faces"]) == 2
    for got_face, want_face in zip(data["faces"], want["faces"], strict=True):
        for field, value in want_face.items():
            assert got_face[field] == value, field
    assert publisher.stop() == 0, publisher.describe()


def test_process_to_process(ros_processes, tmp_path) -> None:
    output = tmp_path / "received.json"
    recorder = ros_processes.start_module(
        "fer_ros.testing.message_recorder",
        parameters={
            "topic": TOPIC,
            "type": "fer_ros/msg/FaceExpressionArray",
            "output": str(output),
            "count": 2,
        },
    )
    recorder.wait_for_output("recording 2 message")
    ros_processes.start_module("fer_ros.testing.sample_publisher", parameters={"topic": TOPIC, "faces": 3})
    wait_for(output.exists, 30, what=f"{output}")
    recorder.popen.wait(timeout=10)
    assert recorder.returncode == 0, recorder.describe()
    messages = json.loads(output.read_text())
    assert messages == [message_to_data(sample_face_expression_array(faces=3))] * 2


def test_killed_process_leaves_no_shared_memory_behind(ros_processes) -> None:
    publisher = ros_processes.start_module("fer_ros.testing.sample_publisher", parameters={"topic": TOPIC})
    publisher.wait_for_output("publishing on")
    publisher._record_shm()
    segments = set(publisher.shm_seen)
    assert segments, "Fast DDS mapped no shared memory; the LOCALHOST transport setup changed"
    os.killpg(publisher.pid, signal.SIGKILL)  # no chance to clean up after itself
    publisher.popen.wait(timeout=10)
    left = {name for name in segments if (SHM_DIR / name).exists()}
    assert left, "expected a killed process to leave segments (else this test proves nothing)"
    publisher.stop()
    in_use = shm_files_in_use()
    assert {name for name in segments if (SHM_DIR / name).exists()} <= in_use


def test_sigint_stops_a_node_cleanly(ros_processes) -> None:
    publisher = ros_processes.start_module("fer_ros.testing.sample_publisher", parameters={"topic": TOPIC})
    publisher.wait_for_output("publishing on")
    assert publisher.stop() == 0
    assert not publisher.killed
    assert "Traceback" not in publisher.stderr()
