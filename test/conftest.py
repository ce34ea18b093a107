"""Session-wide test setup: DDS isolation, a private model cache, and fixtures for ROS processes.

- ROS 2: a domain id no other test session on this machine holds, a temporary ``ROS_LOG_DIR`` and
  ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` (see fer_ros/testing/ros_harness.py). Set in ``os.environ``
  before any test runs, so the test process and every process it starts share them.
- Models: ``FER_ROS_MODEL_DIR`` points at a temporary cache filled from ``$FER_ROS_SHARED/models`` (verified
  by sha256), so tests never depend on, or write to, the user's cache.
- ``ROS_PYTHON_CHECK_FIELDS=1``: message field assignments are type- and size-checked in tests (rosidl skips
  the checks by default, and e.g. silently serializes a float32[10] holding 9 values).
- Mark tests that start ROS processes or talk over DDS with ``@pytest.mark.ros``.
- ``astronaut`` and ``group``: the two shared test photos (one face, five faces), read once per module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from fer_ros.core.image_io import read_image
from fer_ros.testing.ros_harness import (
    DomainLease,
    ProcessGroup,
    fastdds_shm_files,
    isolated_ros_env,
    remove_orphan_fastdds_files,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_root() -> Path:
    """The shared data folder: ``$FER_ROS_SHARED``, else ``../shared`` beside the repository."""
    return Path(os.environ.get("FER_ROS_SHARED") or REPO_ROOT.parent / "shared").resolve()


class _Session:
    lease: DomainLease | None = None
    tmp_dir: Path | None = None
    shm_baseline: set[str] = set()
    ros_env: dict[str, str] = {}
    saved_env: dict[str, str | None] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Isolate ROS traffic and the model cache for the whole session (also in the processes tests start)."""
    _Session.tmp_dir = Path(tempfile.mkdtemp(prefix="fer_ros_test_"))
    _Session.lease = DomainLease()
    _Session.shm_baseline = fastdds_shm_files()
    env = isolated_ros_env(_Session.lease.domain_id, _Session.tmp_dir / "ros_log")
    models = shared_root() / "models"
    if models.is_dir():
        from fer_ros.models import registry

        cache = _Session.tmp_dir / "model_cache"
        registry.install_models(models, cache_dir=cache)
        env["FER_ROS_MODEL_DIR"] = str(cache)
    env["FER_ROS_SHARED"] = str(shared_root())
    env["ROS_PYTHON_CHECK_FIELDS"] = "1"  # generated message setters check types and sizes
    # State that nodes and the device app keep between runs (the bridge's session high-water marks, the app's
    # session counter) stays in this session's folder, not in the user's home.
    env["ROS_HOME"] = str(_Session.tmp_dir / "ros_home")
    env["FAKE_MAIX_DATA_DIR"] = str(_Session.tmp_dir / "maix_app_data")
    # Camera-sized images exceed Fast DDS's default 512 KiB shared-memory segment and would go as UDP
    # fragments, which best-effort topics lose: use the project's profile (16 MiB segment).
    env["FASTDDS_DEFAULT_PROFILES_FILE"] = str(REPO_ROOT / "config" / "fastdds_large_images.xml")
    _Session.ros_env = env
    _Session.saved_env = {key: os.environ.get(key) for key in env}
    os.environ.update(env)


def pytest_report_header(config: pytest.Config) -> str:
    """Show the isolation settings at the top of the run."""
    return (
        f"fer_ros: ROS_DOMAIN_ID={_Session.ros_env.get('ROS_DOMAIN_ID')} "
        f"ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST, shared={_Session.ros_env.get('FER_ROS_SHARED')}, "
        f"model cache={_Session.ros_env.get('FER_ROS_MODEL_DIR', '(user cache)')}"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's temporary files and orphaned Fast DDS segments; free the domain id."""
    remove_orphan_fastdds_files(_Session.shm_baseline)
    for key, value in _Session.saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if _Session.tmp_dir is not None:
        shutil.rmtree(_Session.tmp_dir, ignore_errors=True)
    if _Session.lease is not None:
        _Session.lease.release()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """On a failure, attach the logs of the processes the test started."""
    outcome = yield
    report = outcome.get_result()
    group: ProcessGroup | None = getattr(item, "_fer_ros_processes", None)
    if report.failed and group is not None and group.processes:
        report.sections.append(("fer_ros processes", group.describe()))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The shared data folder (fails with a clear message when it is missing)."""
    root = shared_root()
    if not root.is_dir():
        pytest.fail(
            f"shared data folder {root} not found; set FER_ROS_SHARED or put it beside the repository"
        )
    return root


@pytest.fixture(scope="module")
def astronaut(shared_dir: Path) -> np.ndarray:
    """shared/media/astronaut.png: one happy face (BGR)."""
    return read_image(shared_dir / "media" / "astronaut.png")


@pytest.fixture(scope="module")
def group(shared_dir: Path) -> np.ndarray:
    """shared/media/pyfeat/multi_face.jpg: five faces (BGR)."""
    return read_image(shared_dir / "media" / "pyfeat" / "multi_face.jpg")


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """The isolation variables of this session (already in os.environ)."""
    return dict(_Session.ros_env)


@pytest.fixture
def ros_processes(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProcessGroup]:
    """Start project nodes/scripts as separate processes; all are stopped (SIGINT, then SIGKILL) afterwards.

    ``ros_processes.start_module("fer_ros.nodes.expression_node", parameters={...})`` returns a RosProcess.
    """
    group = ProcessGroup(tmp_path / "processes")
    request.node._fer_ros_processes = group
    try:
        yield group
    finally:
        group.stop_all()


@pytest.fixture
def topic_probe() -> Iterator[Callable[..., object]]:
    """A factory of TopicProbe (an rclpy node in the test process); every probe is closed afterwards."""
    from fer_ros.testing.ros_harness import TopicProbe

    probes: list[TopicProbe] = []

    def make(name: str = "fer_ros_test_probe") -> TopicProbe:
        probe = TopicProbe(name)
        probes.append(probe)
        return probe

    try:
        yield make
    finally:
        for probe in probes:
            probe.close()
