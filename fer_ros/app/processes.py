"""Run ROS 2 processes: an exclusive domain id, an isolated environment, process control with logs, cleanup.

Used by the ROS benchmarks (``fer-ros bench-ros``, its ``--hosts`` network), bench/ scripts, and by the test
harness (fer_ros/testing/ros_harness.py, which adds the topic probe).

Isolation: each session gets its own ``ROS_DOMAIN_ID`` (held with a lock file, so concurrent sessions
on one machine never share a domain), ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (discovery and traffic stay
on the loopback interface and Fast DDS's shared memory) and a temporary ``ROS_LOG_DIR``.

Fast DDS shared memory: with the LOCALHOST range rmw_fastrtps uses shared-memory segments
(``/dev/shm/fastdds_*``) beside UDP on 127.0.0.1, whatever ``FASTDDS_BUILTIN_TRANSPORTS`` says. A process
that exits normally removes its segments; one that is killed leaves them behind.
:func:`remove_orphan_fastdds_files` removes the segments that appeared since a baseline and that no living
process has mapped or open, which never touches segments in use by other sessions.

Imports neither pytest nor rclpy.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

SHM_DIR = Path("/dev/shm")
_FASTDDS_NAME = re.compile(r"^(sem\.)?fastdds_")
# Domain ids that are safe on Linux with the default port mapping: 1..101 (0 is everyone's default).
DOMAIN_IDS = range(1, 102)


def wait_for(condition: Callable[[], Any], timeout_s: float, interval_s: float = 0.05, what: str = "") -> Any:
    """Poll ``condition`` until it returns a truthy value (returned); TimeoutError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout_s:g} s waiting for {what or condition}")
        time.sleep(interval_s)


class DomainLease:
    """An exclusive ROS_DOMAIN_ID for this process, held by an flock on ``<lock_dir>/<id>.lock``.

    The search starts at an id derived from the pid, so concurrent sessions usually get different ids at once.
    """

    def __init__(self, lock_dir: str | Path | None = None) -> None:
        self.lock_dir = Path(lock_dir or Path(tempfile.gettempdir()) / "fer_ros_test_domains")
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        self.domain_id = -1
        self._fd: int | None = None
        ids = list(DOMAIN_IDS)
        start = os.getpid() % len(ids)
        for domain_id in ids[start:] + ids[:start]:
            fd = os.open(self.lock_dir / f"{domain_id}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            self.domain_id, self._fd = domain_id, fd
            return
        raise RuntimeError(f"no free ROS domain id in {DOMAIN_IDS} (all locked in {self.lock_dir})")

    def release(self) -> None:
        """Give the id back."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def isolated_ros_env(domain_id: int, log_dir: str | Path) -> dict[str, str]:
    """The environment variables that keep ROS 2 traffic of one test session to itself."""
    return {
        "ROS_DOMAIN_ID": str(domain_id),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",
        "ROS_STATIC_PEERS": "",
        "ROS_LOCALHOST_ONLY": "0",  # deprecated variable; must not contradict the range above
        "ROS_LOG_DIR": str(log_dir),
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        "RCUTILS_COLORIZED_OUTPUT": "0",
        "PYTHONUNBUFFERED": "1",
    }


def fastdds_shm_files() -> set[str]:
    """Names of the Fast DDS shared-memory files in /dev/shm."""
    try:
        return {name for name in os.listdir(SHM_DIR) if _FASTDDS_NAME.match(name)}
    except FileNotFoundError:
        return set()


def shm_files_in_use() -> set[str]:
    """Names of /dev/shm files that some living process has mapped or open (as far as /proc lets us see)."""
    used: set[str] = set()
    prefix = str(SHM_DIR) + "/"
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
                for line in maps:
                    index = line.find(prefix)
                    if index >= 0:
                        used.add(line[index + len(prefix) :].strip().removesuffix(" (deleted)"))
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith(prefix):
                    used.add(target[len(prefix) :])
        except OSError:  # the process ended meanwhile, or is not ours to read
            continue
    return used


def remove_orphan_fastdds_files(baseline: Iterable[str]) -> list[str]:
    """Remove Fast DDS files not in ``baseline`` that no living process uses; returns their names."""
    candidates = fastdds_shm_files() - set(baseline)
    if not candidates:
        return []
    orphans = sorted(candidates - shm_files_in_use())
    for name in orphans:
        try:
            (SHM_DIR / name).unlink()
        except FileNotFoundError:
            pass
    return orphans


class RosProcess:
    """One child process (a node or script) with stdout/stderr captured to files."""

    def __init__(
        self,
        argv: Sequence[str],
        name: str,
        log_dir: str | Path,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.name = name
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / f"{name}.stdout.log"
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        self.shm_seen: set[str] = set()
        self.killed = False
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # its own process group: signals reach its children, not us
        )

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        """Exit status, or None while running."""
        return self.popen.poll()

    def is_running(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def stdout(self) -> str:
        """Everything it printed on stdout so far."""
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        """Everything it printed on stderr so far."""
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        """stdout and stderr so far."""
        return self.stdout() + self.stderr()

    def wait_for_output(self, pattern: str, timeout_s: float = 20.0) -> re.Match:
        """Wait until stdout or stderr matches the regular expression; fails early if the process exits."""
        regex = re.compile(pattern)

        def matched() -> re.Match | None:
            match = regex.search(self.output())
            if match is None and not self.is_running():
                raise RuntimeError(
                    f"{self.name} exited with status {self.returncode} before printing /{pattern}/:\n"
                    + self.describe()
                )
            return match

        return wait_for(matched, timeout_s, what=f"{self.name} to print /{pattern}/")

    def _record_shm(self) -> None:
        try:
            with open(f"/proc/{self.pid}/maps", encoding="utf-8", errors="replace") as maps:
                self.shm_seen |= {
                    line.split(str(SHM_DIR) + "/", 1)[1].strip()
                    for line in maps
                    if str(SHM_DIR) + "/fastdds" in line or str(SHM_DIR) + "/sem.fastdds" in line
                }
        except OSError:
            pass

    def stop(self, sigint_timeout_s: float = 10.0, kill_timeout_s: float = 5.0) -> int:
        """SIGINT (a ROS node's normal shutdown), wait, then SIGKILL the group; returns the exit status.

        Segments the process had mapped are removed if it was killed and nothing else uses them.
        """
        if self.is_running():
            self._record_shm()
            try:
                os.killpg(self.pid, signal.SIGINT)
                self.popen.wait(timeout=sigint_timeout_s)
            except subprocess.TimeoutExpired:
                self.killed = True
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=kill_timeout_s)
            except ProcessLookupError:
                self.popen.wait(timeout=kill_timeout_s)
        try:  # children that outlived their parent in the group
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.shm_seen:
            in_use = shm_files_in_use()
            for name in self.shm_seen - in_use:
                try:
                    (SHM_DIR / name).unlink()
                except FileNotFoundError:
                    pass
        for stream in (self._stdout, self._stderr):
            if not stream.closed:
                stream.close()
        return self.popen.returncode

    def describe(self, tail_chars: int = 6000) -> str:
        """Command, status and the end of both logs, for failure reports."""
        status = "running" if self.is_running() else f"exit status {self.returncode}"
        text = [f"--- {self.name} ({status}{', killed' if self.killed else ''}): {' '.join(self.argv)}"]
        for label, path in (("stdout", self.stdout_path), ("stderr", self.stderr_path)):
            content = path.read_text(errors="replace") if path.exists() else ""
            text.append(f"--- {self.name} {label} ({path}):\n{content[-tail_chars:]}")
        return "\n".join(text)


class ProcessGroup:
    """The processes one test started; :meth:`stop_all` always runs at teardown."""

    def __init__(self, log_dir: str | Path, env: dict[str, str] | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.env = dict(env or {})
        self.processes: list[RosProcess] = []

    def start(
        self,
        argv: Sequence[str],
        name: str | None = None,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
    ) -> RosProcess:
        """Start any command."""
        name = name or f"{Path(argv[0]).name}-{len(self.processes)}"
        process = RosProcess(argv, name, self.log_dir, {**self.env, **(env or {})}, cwd)
        self.processes.append(process)
        return process

    def start_module(
        self,
        module: str,
        *args: str,
        ros_args: Sequence[str] = (),
        parameters: dict[str, Any] | None = None,
        name: str | None = None,
        env: dict[str, str] | None = None,
    ) -> RosProcess:
        """``python -m module ARGS --ros-args ROS_ARGS -p k:=v ...`` with this interpreter."""
        argv = [sys.executable, "-m", module, *args]
        extra = list(ros_args)
        for key, value in (parameters or {}).items():
            extra += ["-p", f"{key}:={parameter_text(value)}"]
        if extra:
            argv += ["--ros-args", *extra]
        return self.start(argv, name or module.rsplit(".", 1)[-1], env)

    def stop_all(self) -> None:
        """Stop every process, newest first."""
        for process in reversed(self.processes):
            process.stop()

    def describe(self) -> str:
        """Logs of every process."""
        return "\n".join(process.describe() for process in self.processes)


def parameter_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(parameter_text(item) for item in value) + "]"
    if isinstance(value, str) and (value == "" or any(c in value for c in " :,[]'\"")):
        return "'" + value.replace("'", "\\'") + "'"
    return str(value)
