"""Helpers of the MaixCAM device-app tests: the fake ``maix`` and the app module in this process, and the
``.mud`` of a fer_ros model as ``make maixcam-model`` writes it."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

from fer_ros.core.model_metadata import load_model_metadata

REPO = Path(__file__).resolve().parent.parent
APP_DIR = REPO / "maixcam_bridge"
FAKE_MAIX = REPO / "test" / "fake_maix"
FERPLUS = REPO / "fer_ros" / "models" / "fer_ros_ferplus.onnx"


def _import_from(folder: Path, name: str):
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))


build_model = _import_from(APP_DIR / "tools", "build_model")  # make maixcam-model's own code
fer_maix_align = _import_from(APP_DIR, "fer_maix_align")  # the device app's alignment module


def write_model(folder: Path, onnx: Path = FERPLUS) -> Path:
    """The .mud make maixcam-model writes, with the ONNX model beside it as the fake's network."""
    meta = load_model_metadata(onnx)
    mean, scale = build_model.preprocessing(meta)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx, folder / onnx.name)
    mud = folder / f"{onnx.stem}.mud"
    build_model.write_mud(mud, f"{onnx.stem}.cvimodel", meta, mean, scale)
    return mud


@contextlib.contextmanager
def fake_device(data_dir: Path, **env: str) -> Iterator[SimpleNamespace]:
    """The fake ``maix`` and the app's main.py imported in this process; no trace of either afterwards."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    saved_path = list(sys.path)
    saved_env = {k: os.environ.get(k) for k in ("FAKE_MAIX_DATA_DIR", "FAKE_MAIX_MEDIA", *env)}
    sys.path[:0] = [str(FAKE_MAIX), str(APP_DIR)]
    os.environ.update(FAKE_MAIX_DATA_DIR=str(data_dir), **env)
    try:
        from maix import app, camera, display, image, nn

        spec = importlib.util.spec_from_file_location("fer_maix_app_under_test", APP_DIR / "main.py")
        app_main = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(app_main)
        yield SimpleNamespace(app=app, camera=camera, display=display, image=image, nn=nn, main=app_main)
    finally:
        sys.path[:] = saved_path
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for name in [m for m in sys.modules if m in ("maix", "fer_maix_protocol") or m.startswith("maix.")]:
            del sys.modules[name]
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
