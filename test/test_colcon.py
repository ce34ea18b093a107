"""As a ROS user builds it: this package in a fresh colcon workspace, ``colcon build`` (twice: a rebuild
works), ``source install/setup.bash``, ``ros2 launch fer_ros fer.launch.py`` from the install, and /faces
seen by ``ros2 topic echo --once``."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ros_tools_helpers import require_ros_tools

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parent.parent


def copy_sources(destination: Path) -> None:
    """The files a clone of this repository has (git-tracked, as in the working tree)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def in_workspace(command: str, workspace: Path) -> list[str]:
    """``bash -c`` running ``command`` with the workspace's install sourced, as a user's shell would."""
    return ["bash", "-c", f"source {shlex.quote(str(workspace / 'install' / 'setup.bash'))} && {command}"]


def test_colcon_build_and_launch_from_install(tmp_path: Path, ros_processes, shared_dir: Path) -> None:
    require_ros_tools()
    venv_bin = Path(sys.executable).parent
    if not (venv_bin / "colcon").exists() and shutil.which("colcon") is None:
        pytest.skip("colcon not installed (requirements/dev.txt: colcon-common-extensions)")
    workspace = tmp_path / "ws"
    copy_sources(workspace / "src" / "fer_ros")
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv_bin.parent)}
    for attempt in ("build", "rebuild"):
        done = subprocess.run(
            ["colcon", "build", "--event-handlers", "console_direct-"],
            cwd=workspace, env=env, capture_output=True, text=True, timeout=400,
        )
        assert done.returncode == 0, f"colcon {attempt}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    prefix = subprocess.run(
        in_workspace("ros2 pkg prefix fer_ros", workspace), env=env, capture_output=True, text=True, timeout=60
    )
    assert prefix.stdout.strip() == str(workspace / "install" / "fer_ros"), prefix.stdout + prefix.stderr

    video = shared_dir / "media" / "pyfeat" / "WolfgangLanger_Pexels.mp4"
    launch = ros_processes.start(
        in_workspace(f"exec ros2 launch fer_ros fer.launch.py camera_source:={shlex.quote(str(video))}", workspace),
        name="colcon-launch",
        env={"PATH": env["PATH"], "VIRTUAL_ENV": env["VIRTUAL_ENV"]},
    )
    echo = subprocess.run(
        in_workspace("ros2 topic echo --once --no-daemon /faces fer_ros/msg/FaceExpressionArray", workspace),
        env=env, capture_output=True, text=True, timeout=90,
    )
    assert echo.returncode == 0 and "source: camera" in echo.stdout, echo.stdout[-2000:] + echo.stderr[-2000:]
    assert f"{workspace}/install/fer_ros/lib/fer_ros/expression_node" in expression_node_command(launch.pid)
    assert launch.stop() == 0, launch.describe()


def expression_node_command(launch_pid: int) -> str:
    """The command line of the expression node that ``ros2 launch`` started (its child)."""
    children = Path(f"/proc/{launch_pid}/task/{launch_pid}/children").read_text().split()
    for pid in children:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "expression_node" in command:
            return command
    return ""
