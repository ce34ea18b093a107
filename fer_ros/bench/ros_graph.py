"""End-to-end benchmark of expression_node across processes (``fer-ros bench-ros``).

For each scenario (640x480 frames with N real faces at R Hz) a fresh expression_node runs in its own process,
in a private ROS domain on loopback. This process is the camera (best-effort ``image`` publisher, stamp =
time of publication) and the consumer (``faces``, reliable): latency = receipt time - image stamp, both read
from the same system clock. Also measured: frames processed / published, DDS losses and worker skips (from the
node's /diagnostics), the node's CPU use, and, in this process on the same frame, the core pipeline's own time
(what the ROS layer adds is the difference).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NODE_MODULE = "fer_ros.nodes.expression_node"
NAMESPACE = "/bench"


@dataclass
class Scenario:
    """One measured configuration."""

    faces: int
    rate_hz: float = 30.0
    size: tuple[int, int] = (640, 480)
    duration_s: float = 20.0
    warmup_s: float = 3.0

    @property
    def name(self) -> str:
        plural = "s" if self.faces != 1 else ""
        return f"{self.size[0]}x{self.size[1]}@{self.rate_hz:g}Hz_{self.faces}face{plural}"


TARGETS = {
    1: {"latency_p50_ms": 15.0, "latency_p99_ms": 40.0, "processed_ratio": 0.99},
    5: {"processed_hz": 30.0},
}


def _cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its reaped children, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _percentiles(values: list[float]) -> dict:
    if not values:
        return {
            "latency_p50_ms": None,
            "latency_p90_ms": None,
            "latency_p99_ms": None,
            "latency_max_ms": None,
        }
    a = np.asarray(values)
    return {
        "latency_p50_ms": round(float(np.percentile(a, 50)), 2),
        "latency_p90_ms": round(float(np.percentile(a, 90)), 2),
        "latency_p99_ms": round(float(np.percentile(a, 99)), 2),
        "latency_max_ms": round(float(a.max()), 2),
    }


def compose_frames(faces: int, size: tuple[int, int]) -> np.ndarray:
    """A frame with ``faces`` real faces (the core benchmark's composition, from shared/media), made of
    crops that hold exactly one face each (a crop around one face of a group photo may show a neighbour)."""
    from fer_ros.core.detector import YuNetDetector
    from fer_ros.core.pipeline import DEFAULT_DETECTOR
    from fer_ros.evaluation.media import DEFAULT_FACE_IMAGES, compose_frame, face_crops, shared_dir
    from fer_ros.models.registry import resolve_model

    images = [shared_dir() / name for name in DEFAULT_FACE_IMAGES]
    missing = [str(p) for p in images if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"benchmark faces not found: {', '.join(missing)} (set FER_ROS_SHARED)")
    detector = YuNetDetector(resolve_model(DEFAULT_DETECTOR), input_long_side=640)
    crops = [crop for crop in face_crops(detector, images) if len(detector.detect(crop)) == 1]
    return compose_frame(crops, faces, size)


def core_reference(frame: np.ndarray, iterations: int = 100) -> dict:
    """The core pipeline's own time on the frame in this process (no ROS), for comparison."""
    from fer_ros.core.pipeline import PipelineConfig
    from fer_ros.models.build import build_pipeline

    pipeline = build_pipeline(PipelineConfig(keep_crops=False))
    times, faces = [], 0
    for i in range(iterations + 10):
        start = time.perf_counter()
        result = pipeline.process(frame, i / 30.0)
        if i >= 10:
            times.append((time.perf_counter() - start) * 1e3)
        faces = len(result.faces)
    return {
        "core_process_p50_ms": round(float(np.percentile(times, 50)), 2),
        "core_process_p99_ms": round(float(np.percentile(times, 99)), 2),
        "core_faces": faces,
    }


class _Probe:
    """Publisher + subscribers of this process (rclpy, spun on a thread)."""

    def __init__(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.context import Context
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import Image

        from fer_ros.msg import FaceExpressionArray
        from fer_ros.ros.qos import results_qos, sensor_qos

        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("fer_ros_bench", context=self.context)
        self.clock = self.node.get_clock()
        self.publisher = self.node.create_publisher(Image, f"{NAMESPACE}/image", sensor_qos())
        self.lock = threading.Lock()
        self.received: dict[int, tuple[float, int]] = {}  # stamp ns -> (latency ms, faces)
        self.diagnostics: list[dict[str, str]] = []
        self.node.create_subscription(
            FaceExpressionArray, f"{NAMESPACE}/faces", self._on_faces, results_qos(100)
        )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, results_qos(10))
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            self.executor.spin_once(timeout_sec=0.05)

    def _on_faces(self, msg) -> None:
        now_ns = self.clock.now().nanoseconds
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.received[stamp_ns] = ((now_ns - stamp_ns) / 1e6, len(msg.faces))

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            if status.name.startswith(f"{NAMESPACE}/expression_node"):
                with self.lock:
                    self.diagnostics.append({kv.key: kv.value for kv in status.values})

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.diagnostics.clear()

    def close(self) -> None:
        import rclpy

        self._stop.set()
        self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def paced(rate_hz: float, until_s: float, first_s: float | None = None) -> Iterator[None]:
    """Yields every 1/rate_hz s (monotonic clock, from ``first_s`` or now) until ``until_s``, on a fixed
    schedule: after a late tick the next ones follow at once until it is kept again."""
    period = 1.0 / rate_hz
    deadline = time.monotonic() if first_s is None else first_s
    while True:
        now = time.monotonic()
        if now >= until_s:
            return
        if deadline > now:
            time.sleep(deadline - now)
        yield
        deadline += period


def _publish(probe: _Probe, msg, rate_hz: float, until_s: float, stamps: list[int]) -> None:
    """Publish ``msg`` with a fresh stamp every 1/rate_hz s until the monotonic time ``until_s``."""
    for _ in paced(rate_hz, until_s):
        stamp = probe.clock.now()
        msg.header.stamp = stamp.to_msg()
        probe.publisher.publish(msg)
        stamps.append(stamp.nanoseconds)


def run_scenario(
    scenario: Scenario,
    probe: _Probe,
    env: dict[str, str],
    log_dir: Path,
    node_params: dict[str, str] | None = None,
) -> dict:
    """Start a node, drive it at the scenario's rate, and measure."""
    from fer_ros.app.processes import RosProcess, wait_for
    from fer_ros.ros.image_conversion import numpy_to_image

    frame = compose_frames(scenario.faces, scenario.size)
    msg = numpy_to_image(frame, "bgr8")
    msg.header.frame_id = "bench_camera"
    argv = [sys.executable, "-m", NODE_MODULE, "--ros-args", "-r", f"__ns:={NAMESPACE}"]
    for key, value in (node_params or {}).items():
        argv += ["-p", f"{key}:={value}"]
    node = RosProcess(argv, f"expression_node_{scenario.faces}", log_dir, env)
    try:
        node.wait_for_output("listening on", timeout_s=120)
        wait_for(lambda: probe.publisher.get_subscription_count() > 0, 60, what="the node's subscription")
        probe.reset()
        warm: list[int] = []
        _publish(probe, msg, scenario.rate_hz, time.monotonic() + scenario.warmup_s, warm)
        time.sleep(0.5)
        probe.reset()
        stamps: list[int] = []
        cpu_before, wall_before = _cpu_seconds(node.pid), time.monotonic()
        own_before = time.process_time()
        _publish(probe, msg, scenario.rate_hz, time.monotonic() + scenario.duration_s, stamps)
        cpu_after, wall_after = _cpu_seconds(node.pid), time.monotonic()
        own_after = time.process_time()
        time.sleep(1.0)  # the last results
        with probe.lock:
            received = {s: probe.received[s] for s in stamps if s in probe.received}
            diagnostics = list(probe.diagnostics)
    finally:
        node.stop()
    elapsed = wall_after - wall_before
    return {
        "scenario": scenario.name,
        "faces": scenario.faces,
        "rate_hz": scenario.rate_hz,
        "duration_s": round(elapsed, 2),
        **stream_figures(stamps, received, diagnostics, elapsed),
        "node_cpu_percent": round(100 * (cpu_after - cpu_before) / elapsed, 1),
        "bench_process_cpu_percent": round(100 * (own_after - own_before) / elapsed, 1),
        "image_bytes": len(msg.data),
    }


def stream_figures(
    stamps: list[int], received: dict[int, tuple[float, int]], diagnostics: list[dict[str, str]], elapsed: float
) -> dict:
    """Figures of one image stream: ``stamps`` published, ``received`` {stamp: (latency ms, faces)}, the
    node's /diagnostics values over the measurement, and its length (s)."""
    latencies = [received[s][0] for s in stamps if s in received]
    quarter = max(1, len(latencies) // 4)
    faces_seen = [received[s][1] for s in stamps if s in received]
    first, last = (diagnostics[0], diagnostics[-1]) if len(diagnostics) >= 2 else ({}, {})

    def period_median(key: str) -> float | None:
        values = [float(d[key]) for d in diagnostics if d.get(key, "n/a") != "n/a"]
        return round(float(np.median(values)), 2) if values else None

    def delta(key: str) -> int | None:
        return int(last[key]) - int(first[key]) if key in first and key in last else None

    return {
        "frames_published": len(stamps),
        "frames_processed": len(latencies),
        "processed_ratio": round(len(latencies) / max(1, len(stamps)), 4),
        "dropped_ratio": round(1 - len(latencies) / max(1, len(stamps)), 4),
        "processed_hz": round(len(latencies) / elapsed, 2),
        **_percentiles(latencies),
        "latency_p50_first_quarter_ms": round(float(np.median(latencies[:quarter])), 2)
        if latencies
        else None,
        "latency_p50_last_quarter_ms": round(float(np.median(latencies[-quarter:])), 2)
        if latencies
        else None,
        "faces_detected_median": int(np.median(faces_seen)) if faces_seen else 0,
        "node_receipt_to_publish_p50_ms": period_median("latency_p50_ms"),
        "node_processing_p50_ms": period_median("processing_p50_ms"),
        "node_pipeline_p50_ms": period_median("pipeline_p50_ms"),
        "node_frames_received_delta": delta("frames_received"),
        "node_frames_skipped_delta": delta("frames_skipped"),
    }


def check_targets(result: dict) -> list[str]:
    """Lines saying which targets a scenario meets."""
    lines = []
    for key, target in TARGETS.get(result["faces"], {}).items():
        value = result.get(key)
        if value is None:
            lines.append(f"{key}: no value")
            continue
        ok = value >= target if key in ("processed_ratio", "processed_hz") else value <= target
        lines.append(f"{key} {value} {'meets' if ok else 'MISSES'} target {target}")
    return lines


def run_benchmark(
    faces: tuple[int, ...] = (1, 5),
    rate_hz: float = 30.0,
    duration_s: float = 20.0,
    size: tuple[int, int] = (640, 480),
    fastdds_profile: str | None = "default-fer_ros",
    progress=print,
) -> dict:
    """Run every scenario in a private ROS domain; returns the JSON-ready results."""
    from fer_ros.app.processes import DomainLease, isolated_ros_env
    from fer_ros.ros.config_files import find_config_file

    if fastdds_profile == "default-fer_ros":
        fastdds_profile = str(find_config_file("fastdds_large_images.xml"))
    lease = DomainLease()
    tmp = Path(tempfile.mkdtemp(prefix="fer_ros_bench_"))
    env = isolated_ros_env(lease.domain_id, tmp / "ros_log")
    env["ROS_PYTHON_CHECK_FIELDS"] = "0"
    env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    if fastdds_profile:
        env["FASTDDS_DEFAULT_PROFILES_FILE"] = fastdds_profile
    saved = {key: os.environ.get(key) for key in [*env, "FASTDDS_DEFAULT_PROFILES_FILE"]}
    os.environ.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    os.environ.update(env)
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
        "fastdds_profile": fastdds_profile or "(Fast DDS defaults)",
        "scenarios": {},
    }
    probe = _Probe()
    try:
        for count in faces:
            scenario = Scenario(count, rate_hz, size, duration_s)
            progress(f"{scenario.name}: measuring for {duration_s:g} s ...")
            frame = compose_frames(count, size)
            entry = run_scenario(scenario, probe, env, tmp / "logs")
            entry.update(core_reference(frame))
            entry["targets"] = check_targets(entry)
            result["scenarios"][scenario.name] = entry
    finally:
        probe.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        lease.release()
        subprocess.run(["rm", "-rf", str(tmp)], check=False)
    return result


def summary_lines(result: dict) -> list[str]:
    """Human-readable table of the results."""
    lines = [f"Fast DDS profile: {result['fastdds_profile']}; machine: {result['machine']}"]
    header = (
        f"{'scenario':<26} {'p50':>6} {'p99':>6} {'max':>6} {'proc':>6} {'Hz':>6} {'cpu%':>5} "
        f"{'core p50':>8} {'p50 1st/last quarter':>20}"
    )
    lines += [header, "-" * len(header)]
    for name, s in result["scenarios"].items():
        quarters = f"{s['latency_p50_first_quarter_ms']}/{s['latency_p50_last_quarter_ms']}"
        lines.append(
            f"{name:<26} {s['latency_p50_ms']!s:>6} {s['latency_p99_ms']!s:>6} {s['latency_max_ms']!s:>6} "
            f"{s['processed_ratio']:>6.1%} {s['processed_hz']:>6} {s['node_cpu_percent']:>5} "
            f"{s['core_process_p50_ms']:>8} {quarters:>20}"
        )
        lines += [f"    {line}" for line in s["targets"]]
    return lines
