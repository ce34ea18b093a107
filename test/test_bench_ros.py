"""``fer-ros bench-ros`` runs end to end (a short smoke run; the figures themselves are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def test_bench_ros_writes_the_documented_keys(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "fer_ros.cli.main",
            "bench-ros",
            "--faces",
            "1",
            "--duration",
            "2",
            "--rate",
            "15",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    (scenario,) = data["scenarios"].values()
    for key in (
        "latency_p50_ms",
        "latency_p99_ms",
        "processed_ratio",
        "node_cpu_percent",
        "core_process_p50_ms",
    ):
        assert key in scenario, key
    assert scenario["frames_published"] >= 20 and scenario["processed_ratio"] > 0.5
    assert scenario["faces_detected_median"] == 1 and scenario["latency_p50_ms"] > 0
    assert "latency_p50_ms" in result.stdout or "p50" in result.stdout
