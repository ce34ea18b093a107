"""Model registry and cache: verified installs from a mirror, refusal of corrupted copies, clear errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fer_ros.core.errors import ModelChecksumError, ModelNotFoundError
from fer_ros.models import registry

FER_ROS = [sys.executable, "-m", "fer_ros.cli.main"]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty model cache for one test."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("FER_ROS_MODEL_DIR", str(directory))
    return directory


@pytest.fixture
def corrupted_mirror(tmp_path: Path, shared_dir: Path) -> Path:
    """A copy of the shared mirror where one byte of yunet_n_dynamic.onnx is flipped."""
    mirror = tmp_path / "mirror"
    shutil.copytree(shared_dir / "models", mirror)
    target = mirror / "yunet" / "yunet_n_dynamic.onnx"
    target.chmod(0o644)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    return mirror


def test_registry_matches_the_shared_mirror(shared_dir: Path) -> None:
    assert len(registry.REGISTRY) == 7
    for name, entry in registry.REGISTRY.items():
        assert entry.name == name and entry.license in ("Apache-2.0", "MIT")
        assert registry.sha256_of(shared_dir / "models" / entry.file) == entry.sha256, name
        assert all(url.startswith("https://") for url in entry.urls)
    assert registry.REGISTRY["fer_mini_xception_64"].url is None


def test_install_all_then_resolve(cache: Path, shared_dir: Path) -> None:
    paths = registry.install_models(shared_dir / "models")
    assert [p.relative_to(cache).as_posix() for p in paths] == [e.file for e in registry.REGISTRY.values()]
    assert all(registry.model_status(name) == "installed" for name in registry.REGISTRY)
    assert registry.resolve_model("yunet_n_dynamic") == cache / "yunet" / "yunet_n_dynamic.onnx"
    assert registry.resolve_model(str(paths[0])) == paths[0]


def test_corrupted_copy_is_refused(cache: Path, corrupted_mirror: Path) -> None:
    with pytest.raises(ModelChecksumError, match="does not match the registry's 104ee26c"):
        registry.install_model("yunet_n_dynamic", corrupted_mirror)
    assert registry.model_status("yunet_n_dynamic") == "missing"
    assert not list((cache / "yunet").glob("*.part"))
    registry.install_model("yunet_s_dynamic", corrupted_mirror)  # the others are fine
    assert registry.model_status("yunet_s_dynamic") == "installed"


def test_corrupt_cache_entry_is_replaced(cache: Path, shared_dir: Path) -> None:
    path = registry.install_model("yunet_n_320_320", shared_dir / "models")
    path.write_bytes(b"truncated")
    assert registry.model_status("yunet_n_320_320") == "corrupt"
    registry.install_model("yunet_n_320_320", shared_dir / "models")
    assert registry.model_status("yunet_n_320_320") == "installed"


def test_missing_model_error_names_the_fix(cache: Path) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        registry.resolve_model("yunet_s_dynamic")
    assert "fer-ros models install --from DIR yunet_s_dynamic" in str(info.value)
    assert "fer-ros models fetch yunet_s_dynamic" in str(info.value)
    with pytest.raises(ModelNotFoundError, match="not a registry name"):
        registry.resolve_model("no_such_model")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        registry.resolve_model("/nonexistent/model.onnx")


def test_fetch_downloads_and_verifies(
    cache: Path, shared_dir: Path, corrupted_mirror: Path, monkeypatch
) -> None:
    entry = registry.REGISTRY["yunet_n_320_320"]
    good = (shared_dir / "models" / entry.file).as_uri()
    bad = (corrupted_mirror / "yunet" / "yunet_n_dynamic.onnx").as_uri()
    monkeypatch.setitem(
        registry.REGISTRY, entry.name, registry.ModelEntry(**{**entry.__dict__, "urls": (bad,)})
    )
    with pytest.raises(ModelNotFoundError, match="does not match"):
        registry.fetch_model(entry.name)
    assert registry.model_status(entry.name) == "missing"
    monkeypatch.setitem(
        registry.REGISTRY, entry.name, registry.ModelEntry(**{**entry.__dict__, "urls": (bad, good)})
    )
    assert registry.fetch_model(entry.name) == cache / entry.file
    assert registry.model_status(entry.name) == "installed"


def test_cli_install_list_and_refusal(cache: Path, shared_dir: Path, corrupted_mirror: Path) -> None:
    env = {**os.environ, "FER_ROS_MODEL_DIR": str(cache)}
    bad = subprocess.run(
        [*FER_ROS, "models", "install", "--from", str(corrupted_mirror)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert "yunet_n_dynamic: NOT installed" in bad.stderr and "corrupted" in bad.stderr
    assert "yunet_s_dynamic: installed" in bad.stdout
    good = subprocess.run(
        [*FER_ROS, "models", "install", "--from", str(shared_dir / "models")],
        env=env,
        capture_output=True,
        text=True,
    )
    assert good.returncode == 0, good.stderr
    listing = subprocess.run(
        [*FER_ROS, "models", "list"], env=env, capture_output=True, text=True, check=True
    )
    assert listing.stdout.count(" installed ") == 7
    missing = subprocess.run(
        [*FER_ROS, "models", "path", "yunet_s_dynamic"],
        env={**env, "FER_ROS_MODEL_DIR": str(cache / "empty")},
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 1 and "fer-ros models install --from DIR" in missing.stderr
