"""`make maixcam-model`: the FER+ model compiled for the MaixCAM NPU with tpu-mlir, gated on its simulator.

The toolchain is a 2 GB Python 3.10 venv that ``make test`` does not build: without it these tests skip, saying
so. With it, the build runs for real (a smaller calibration and evaluation set than the release build, to keep
the test near a minute), and the release outputs, when ``make maixcam-model`` left them, are checked too.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from maixcam_helpers import APP_DIR, FERPLUS, REPO
from maixcam_helpers import fer_maix_align as device_align

from fer_ros.core.model_metadata import load_model_metadata

TOOLS = APP_DIR / "tools"
TOOLCHAIN = REPO / "build" / "maixcam" / "tpu-mlir-venv"
RELEASE = REPO / "build" / "maixcam"


def toolchain_ready() -> tuple[bool, str]:
    check = subprocess.run(
        ["bash", str(TOOLS / "build_toolchain.sh"), "--check", str(TOOLCHAIN)], capture_output=True, text=True
    )
    return check.returncode == 0, check.stdout.strip() or check.stderr.strip()


READY, WHY = toolchain_ready()
needs_toolchain = pytest.mark.skipif(not READY, reason=f"{WHY} (2 GB, not part of make setup)")


def check_mud(mud: Path) -> None:
    """The .mud is what MaixCDK's nn.Classifier needs, and carries the model's alignment for the app."""
    meta = load_model_metadata(FERPLUS)
    ini = configparser.ConfigParser(interpolation=None)
    ini.read(mud)
    assert ini["basic"]["type"] == "cvimodel" and (mud.parent / ini["basic"]["model"]).is_file()
    extra = ini["extra"]
    assert extra["model_type"] == "classifier" and extra["input_type"] == "gray"
    assert float(extra["mean"]) == pytest.approx(127.5) and float(extra["scale"]) == pytest.approx(1 / 63.75)
    assert extra["labels"].split(",") == list(meta.labels)  # no spaces: nn.Classifier does not strip them
    info = device_align.read_mud(str(mud))
    np.testing.assert_allclose(np.array(info.template), meta.align_template, atol=5e-5)


@needs_toolchain
@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_make_maixcam_model_compiles_and_passes_its_gate(tmp_path, shared_dir) -> None:
    out = tmp_path / "maixcam"
    proc = subprocess.run(
        [sys.executable, str(TOOLS / "build_model.py"), "--out", str(out), "--toolchain", str(TOOLCHAIN),
         "--data", str(shared_dir / "data"), "--model", "fer_ros_ferplus", "--calibration", "100",
         "--eval-limit", "400"],
        capture_output=True, text=True, timeout=1100,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "top-1 agreement" in proc.stdout
    report = json.loads((out / "fer_ros_ferplus" / "report.json").read_text())
    assert report["n"] == 400 and report["agreement_npu_vs_onnx"] >= 0.97
    assert report["accuracy_npu"] > 0.75 and abs(report["accuracy_npu"] - report["accuracy_onnx_float"]) < 0.03
    cvimodel = out / "models" / "fer_ros_ferplus.cvimodel"
    assert 200_000 < cvimodel.stat().st_size < 2_000_000
    assert hashlib.sha256(cvimodel.read_bytes()).hexdigest() == report["cvimodel_sha256"]
    check_mud(out / "models" / "fer_ros_ferplus.mud")
    app = out / "app" / "fer_ros_bridge"
    for name in ("main.py", "fer_maix_protocol.py", "fer_maix_align.py", "app.yaml", "models/fer_ros_ferplus.mud"):
        assert (app / name).is_file(), name
    assert json.loads((app / "config.json").read_text())["classifier"]["model"] == "models/fer_ros_ferplus.mud"


@pytest.mark.skipif(not (RELEASE / "summary.json").is_file(), reason="no release build (make maixcam-model)")
def test_the_release_build_passed_its_gate() -> None:
    for report in json.loads((RELEASE / "summary.json").read_text()):
        assert report["agreement_npu_vs_onnx"] >= report["min_agreement"] >= 0.97
        cvimodel = RELEASE / "models" / report["cvimodel"]
        assert hashlib.sha256(cvimodel.read_bytes()).hexdigest() == report["cvimodel_sha256"]
        if report["model"] == "fer_ros_ferplus":
            check_mud(RELEASE / "models" / "fer_ros_ferplus.mud")
