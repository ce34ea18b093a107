"""The ROS 2 command-line tooling (``ros2``, launch, launch_testing) for tests, or a skip that says why.

The tooling comes from a sourced ROS 2 install or from ``make setup``'s mirror (ROS_TOOLS_MIRROR); tests that
need it skip with the reason below where neither is there, never silently.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
from pathlib import Path

import pytest

MISSING_REASON = (
    "ROS 2 tooling (launch_ros, launch_testing, ros2cli) not installed: no ROS 2 install sourced and no "
    "mirror at ROS_TOOLS_MIRROR when `make setup` ran"
)
TOOLING_MODULES = ("launch", "launch_ros", "launch_testing", "ros2cli")


def tooling_missing() -> str | None:
    """None when the tooling imports, else the skip reason."""
    missing = [name for name in TOOLING_MODULES if importlib.util.find_spec(name) is None]
    return f"{MISSING_REASON} (missing: {', '.join(missing)})" if missing else None


def require_ros_tools() -> None:
    """Skip the calling test, with the reason, when the tooling is missing."""
    reason = tooling_missing()
    if reason:
        pytest.skip(reason)


def ros2_command() -> str:
    """The ``ros2`` executable beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).with_name("ros2")
    return str(beside) if beside.exists() else "ros2"


# How a user stops a graph: SIGINT to the launcher alone, Ctrl-C in a terminal (SIGINT to the whole process
# group, so every node gets it too, and launch forwards another), or SIGTERM (a service manager).
STOP_SIGNALS = {
    "sigint": (signal.SIGINT, False),
    "ctrl-c": (signal.SIGINT, True),
    "sigterm": (signal.SIGTERM, False),
}


def send_stop_signal(pid: int, how: str) -> None:
    """Send one of :data:`STOP_SIGNALS` to ``pid`` (the leader of its own process group)."""
    signum, to_group = STOP_SIGNALS[how]
    if to_group:
        os.killpg(pid, signum)
    else:
        os.kill(pid, signum)


def tracebacks(text: str) -> list[str]:
    """The lines of ``text`` that start a Python traceback or report a dead process."""
    return [line for line in text.splitlines() if "Traceback (most recent call last)" in line or "has died" in line]
