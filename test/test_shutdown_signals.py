"""The graph ends cleanly however it is stopped, under ``ros2 launch`` and ``fer-ros run``.

Cleanly: exit status 0, no traceback, and under launch every node "finished cleanly". Each run first waits
until images flow through the whole graph (mirror_node has chosen an expression), so the signal arrives while
every node is busy.
"""

from __future__ import annotations

import re
import signal
import sys
import time
from pathlib import Path

import pytest
from ros_tools_helpers import STOP_SIGNALS, require_ros_tools, ros2_command, send_stop_signal, tracebacks

from fer_ros.app.graph import GRAPH_NODES

pytestmark = pytest.mark.ros

FLOWING = r"\[mirror_node\]: now showing"


def video(shared_dir: Path) -> Path:
    return shared_dir / "media" / "pyfeat" / "WolfgangLanger_Pexels.mp4"


@pytest.mark.parametrize("how", STOP_SIGNALS)
def test_ros2_launch_stops_cleanly(how: str, ros_processes, shared_dir: Path) -> None:
    require_ros_tools()
    launch = ros_processes.start(
        [ros2_command(), "launch", "fer_ros", "fer.launch.py", f"camera_source:={video(shared_dir)}"],
        name=f"launch-{how}",
    )
    launch.wait_for_output(FLOWING, timeout_s=60)
    send_stop_signal(launch.pid, how)
    status = launch.popen.wait(timeout=40)
    output = launch.output()
    assert status == 0, launch.describe()
    assert not tracebacks(output), launch.describe()
    for node in GRAPH_NODES:
        assert re.search(rf"\[{node}-\d+\]: process has finished cleanly", output), launch.describe()


@pytest.mark.parametrize("how", STOP_SIGNALS)
def test_fer_ros_run_stops_cleanly(how: str, ros_processes, shared_dir: Path) -> None:
    run = ros_processes.start(
        [sys.executable, "-m", "fer_ros.cli.main", "run", "--source", str(video(shared_dir)), "--loop"],
        name=f"run-{how}",
    )
    run.wait_for_output(FLOWING, timeout_s=60)
    send_stop_signal(run.pid, how)
    if how == "ctrl-c":  # a second Ctrl-C while the graph is shutting down
        time.sleep(0.05)
        send_stop_signal(run.pid, how)
    status = run.popen.wait(timeout=40)
    assert status == 0, run.describe()
    assert not tracebacks(run.output()), run.describe()
    assert "stopped (interrupted)" in run.output(), run.describe()


def test_node_survives_a_second_sigint_during_shutdown(ros_processes) -> None:
    node = ros_processes.start_module("fer_ros.nodes.expression_node", name="expression_node")
    node.wait_for_output(r"listening on", timeout_s=60)
    for _ in range(3):
        node.popen.send_signal(signal.SIGINT)
        time.sleep(0.02)
    assert node.popen.wait(timeout=20) == 0, node.describe()
    assert not tracebacks(node.output()), node.describe()
