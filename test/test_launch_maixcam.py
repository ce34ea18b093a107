"""launch_testing: ``ros2 launch fer_ros maixcam.launch.py`` with the device app on the fake ``maix`` module
streaming to it: the bridge publishes fer_ros/FaceExpressionArray; every process ends cleanly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import pytest
from ros_tools_helpers import MISSING_REASON

pytest.importorskip("launch_testing", reason=MISSING_REASON)
import launch_testing  # noqa: E402
import launch_testing.actions  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from launch.substitutions import PathJoinSubstitution  # noqa: E402
from launch_ros.substitutions import FindPackageShare  # noqa: E402
from launch_test_helpers import TestCleanShutdown  # noqa: E402, F401  (post-shutdown checks)

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FER_ROS_SHARED") or REPO.parent / "shared")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PORT = free_udp_port()


@pytest.mark.launch_test
def generate_test_description() -> LaunchDescription:
    maixcam = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare("fer_ros"), "launch", "maixcam.launch.py"])
        ),
        launch_arguments={"port": str(PORT), "bind_address": "127.0.0.1"}.items(),
    )
    return LaunchDescription([maixcam, launch_testing.actions.ReadyToTest()])


class TestBridge(unittest.TestCase):
    def test_fake_device_to_faces(self, proc_output) -> None:
        from fer_ros.msg import FaceExpressionArray
        from fer_ros.ros.qos import results_qos
        from fer_ros.testing.ros_harness import TopicProbe

        proc_output.assertWaitFor(f"listening on udp://127.0.0.1:{PORT}", timeout=60)
        probe = TopicProbe("maixcam_launch_test_probe")
        probe.subscribe("/faces", FaceExpressionArray, results_qos())
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config.json"
            config.write_text(json.dumps({
                "device_name": "cam-launch", "destination": {"host": "127.0.0.1", "port": PORT}, "display": False,
            }))
            env = {
                **os.environ,
                "PYTHONPATH": str(REPO / "test" / "fake_maix"),
                "FAKE_MAIX_MEDIA": str(SHARED / "media" / "ros4hri" / "user_happy.jpg"),
                "FAKE_MAIX_FPS": "15",
            }
            app = subprocess.Popen(
                [sys.executable, str(REPO / "maixcam_bridge" / "main.py"), str(config)], env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )
            try:
                msg = probe.wait_for_message("/faces", timeout_s=40, predicate=lambda m: len(m.faces) == 1)
            finally:
                app.kill()
                app.wait(timeout=10)
                probe.close()
        self.assertEqual(msg.source, "maixcam:cam-launch")
        self.assertEqual(msg.faces[0].expression, "happy")
