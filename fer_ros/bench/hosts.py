"""``fer-ros bench-ros --hosts``: cameras on one host, recognition on another, over real DDS and a real network.

Two network namespaces on one bridge (fer_ros/app/netns.py; root only): host ``cam`` (10.77.0.1) runs the
driver (this module's ``drive``: K cameras publishing 640x480 frames with real faces, raw ``image`` or JPEG
``image/compressed``, each in its namespace ``/camN``, and receiving ``/camN/faces``); host ``rec``
(10.77.0.2) runs one expression_node per camera in ``/camN``. Latency = receipt of faces on the camera host -
image stamp (the camera's capture time): the whole round trip a robot sees, both read from one clock (the
namespaces share the machine's clock). Also measured: frames processed per camera, bytes per second on the
camera host's interface (``/sys/class/net/eth0/statistics``), the CPU of the recognition nodes and of the
camera host's process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from fer_ros.bench.ros_graph import _cpu_seconds, compose_frames, core_reference, stream_figures

NODE_MODULE = "fer_ros.nodes.expression_node"
TARGETS = {
    # two hosts, 640x480 at 30 Hz, 1 face, compressed
    "compressed": {"latency_p50_ms": 20.0, "latency_p99_ms": 50.0, "processed_ratio": 0.99},
    # several cameras at 15 Hz: each camera's share
    "per_camera": {"processed_ratio": 0.95},
}


def camera_namespaces(cameras: int) -> list[str]:
    """``/cam1`` ... ``/camK``."""
    return [f"/cam{i + 1}" for i in range(cameras)]


# -- the camera host's process ----------------------------------------------------------------------------


class _Driver:
    """K camera publishers and their faces subscriptions in one rclpy node, spun on a thread."""

    def __init__(self, cameras: int, compressed: bool) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CompressedImage, Image

        from fer_ros.msg import FaceExpressionArray
        from fer_ros.ros.qos import results_qos, sensor_qos

        rclpy.init()
        self.node = rclpy.create_node("fer_ros_bench_cameras")
        self.clock = self.node.get_clock()
        self.namespaces = camera_namespaces(cameras)
        self.lock = threading.Lock()
        self.received: dict[str, dict[int, tuple[float, int]]] = {ns: {} for ns in self.namespaces}
        self.diagnostics: dict[str, list[dict[str, str]]] = {ns: [] for ns in self.namespaces}
        kind, topic = (CompressedImage, "image/compressed") if compressed else (Image, "image")
        self.publishers = [self.node.create_publisher(kind, f"{ns}/{topic}", sensor_qos()) for ns in self.namespaces]
        for ns in self.namespaces:
            self.node.create_subscription(
                FaceExpressionArray, f"{ns}/faces", lambda m, ns=ns: self._on_faces(ns, m), results_qos(100)
            )
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, results_qos(50))
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def _on_faces(self, ns: str, msg) -> None:
        now_ns = self.clock.now().nanoseconds
        stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self.lock:
            self.received[ns][stamp_ns] = ((now_ns - stamp_ns) / 1e6, len(msg.faces))

    def _on_diagnostics(self, msg) -> None:
        for status in msg.status:
            for ns in self.namespaces:
                if status.name.startswith(f"{ns}/expression_node"):
                    with self.lock:
                        self.diagnostics[ns].append({kv.key: kv.value for kv in status.values})

    def reset(self) -> None:
        with self.lock:
            for ns in self.namespaces:
                self.received[ns].clear()
                self.diagnostics[ns].clear()

    def close(self) -> None:
        import rclpy

        self._stop.set()
        self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown()


def _camera_loop(
    driver: _Driver,
    index: int,
    frame: np.ndarray,
    compressed: bool,
    rate_hz: float,
    start_s: float,
    until_s: float,
    stamps: list[int],
    jpeg_quality: int,
) -> None:
    """One camera: stamp at capture, encode (JPEG) or wrap (raw), publish, every 1/rate_hz s."""
    from fer_ros.bench.ros_graph import paced
    from fer_ros.ros.image_conversion import numpy_to_compressed, numpy_to_image

    raw = None if compressed else numpy_to_image(frame, "bgr8")
    first_s = start_s + index / rate_hz / len(driver.publishers)  # cameras out of phase, as real ones are
    publisher = driver.publishers[index]
    for _ in paced(rate_hz, until_s, first_s):
        stamp = driver.clock.now()
        if compressed:
            msg = numpy_to_compressed(frame, "jpeg", None, jpeg_quality)
        else:
            msg = raw
        msg.header.stamp = stamp.to_msg()
        msg.header.frame_id = f"cam{index + 1}"
        publisher.publish(msg)
        stamps.append(stamp.nanoseconds)


def _publish_all(driver, frame, compressed, rate_hz, seconds, jpeg_quality) -> list[list[int]]:
    stamps: list[list[int]] = [[] for _ in driver.publishers]
    start = time.monotonic()
    threads = [
        threading.Thread(
            target=_camera_loop,
            args=(driver, i, frame, compressed, rate_hz, start, start + seconds, stamps[i], jpeg_quality),
        )
        for i in range(len(driver.publishers))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stamps


def drive(args: argparse.Namespace) -> int:
    """The camera host's side of one scenario; prints ``measuring`` / ``measured`` around the measured part
    (the parent reads the interface counters then) and writes the per-camera figures as JSON."""
    from fer_ros.ros.image_conversion import numpy_to_compressed

    width, height = (int(v) for v in args.size.split("x"))
    frame = compose_frames(args.faces, (width, height))
    driver = _Driver(args.cameras, args.compressed)
    try:
        deadline = time.monotonic() + 120
        while any(p.get_subscription_count() == 0 for p in driver.publishers):
            if time.monotonic() > deadline:
                print("no subscriber on the recognition host after 120 s", file=sys.stderr, flush=True)
                return 1
            time.sleep(0.05)
        _publish_all(driver, frame, args.compressed, args.rate, args.warmup, args.jpeg_quality)
        time.sleep(0.5)
        driver.reset()
        print("measuring", flush=True)
        own_before, wall_before = time.process_time(), time.monotonic()
        stamps = _publish_all(driver, frame, args.compressed, args.rate, args.duration, args.jpeg_quality)
        own_after, wall_after = time.process_time(), time.monotonic()
        print("measured", flush=True)
        time.sleep(1.0)  # the last results
        elapsed = wall_after - wall_before
        with driver.lock:
            per_camera = {
                ns: stream_figures(stamps[i], dict(driver.received[ns]), list(driver.diagnostics[ns]), elapsed)
                for i, ns in enumerate(driver.namespaces)
            }
            all_received = {s: v for ns in driver.namespaces for s, v in driver.received[ns].items()}
        all_stamps = sorted(s for camera in stamps for s in camera)
        image_bytes = (
            len(numpy_to_compressed(frame, "jpeg", None, args.jpeg_quality).data) if args.compressed else frame.nbytes
        )
        result = {
            "duration_s": round(elapsed, 2),
            "overall": stream_figures(all_stamps, all_received, [], elapsed),
            "per_camera": per_camera,
            "camera_process_cpu_percent": round(100 * (own_after - own_before) / elapsed, 1),
            "image_bytes": image_bytes,
        }
        Path(args.out).write_text(json.dumps(result))
    finally:
        driver.close()
    return 0


# -- the machine's side: network, nodes, counters -------------------------------------------------------------


def _wait_output(process, pattern: str, timeout_s: float) -> None:
    process.wait_for_output(pattern, timeout_s=timeout_s)


def run_hosts_scenario(
    net,
    group,
    cameras: int,
    compressed: bool,
    faces: int,
    rate_hz: float,
    duration_s: float,
    size: tuple[int, int],
    env: dict[str, str],
    work: Path,
    node_params: dict[str, str] | None = None,
    jpeg_quality: int = 90,
) -> dict:
    """One measured configuration on an open two-host network."""
    cam, rec = net["cam"], net["rec"]
    nodes = []
    for ns in camera_namespaces(cameras):
        params = {"compressed": compressed, **(node_params or {})}
        process = rec.start_module(
            group,
            NODE_MODULE,
            parameters=params,
            ros_args=["-r", f"__ns:={ns}"],
            name=f"expression_{ns.strip('/')}",
            env=env,
        )
        nodes.append(process)
    for process in nodes:
        _wait_output(process, "listening on", 120)
    out = work / f"drive_{cameras}_{int(compressed)}_{faces}.json"
    command = [sys.executable, "-m", "fer_ros.bench.hosts", "drive", "--cameras", str(cameras)]
    command += ["--rate", str(rate_hz), "--faces", str(faces), "--size", f"{size[0]}x{size[1]}"]
    command += ["--duration", str(duration_s), "--out", str(out), "--jpeg-quality", str(jpeg_quality)]
    command += ["--compressed"] if compressed else []
    driver = cam.start(group, command, f"drive_{cameras}cam_{'jpeg' if compressed else 'raw'}", env=env)
    _wait_output(driver, r"(?m)^measuring$", 180)
    load_before = os.getloadavg()
    bytes_before, cpu_before = cam.interface_bytes(), [_cpu_seconds(p.pid) for p in nodes]
    driver_cpu_before, wall_before = _cpu_seconds(driver.pid), time.monotonic()
    _wait_output(driver, r"(?m)^measured$", duration_s + 60)
    bytes_after, cpu_after = cam.interface_bytes(), [_cpu_seconds(p.pid) for p in nodes]
    driver_cpu_after, wall_after = _cpu_seconds(driver.pid), time.monotonic()
    load_after = os.getloadavg()
    deadline = time.monotonic() + 30
    while driver.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    if driver.returncode != 0 or not out.is_file():
        raise RuntimeError(f"the camera host's driver failed:\n{driver.describe()}")
    figures = json.loads(out.read_text())
    for process in nodes:
        process.stop()
    driver.stop()
    elapsed = wall_after - wall_before
    node_cpu = [round(100 * (a - b) / elapsed, 1) for a, b in zip(cpu_after, cpu_before, strict=True)]
    per_camera = figures["per_camera"]
    for (ns, entry), cpu in zip(per_camera.items(), node_cpu, strict=True):
        entry["node_cpu_percent"] = cpu
        entry["namespace"] = ns
    kind = "compressed" if compressed else "raw"
    name = f"2hosts_{cameras}cam_{kind}_{size[0]}x{size[1]}@{rate_hz:g}Hz_{faces}face{'s' if faces != 1 else ''}"
    ratios = [entry["processed_ratio"] for entry in per_camera.values()]
    result = {
        "scenario": name,
        "faces": faces,
        "rate_hz": rate_hz,
        "cameras": cameras,
        "transport": "",  # filled in by run_hosts_benchmark
        "image": "sensor_msgs/CompressedImage (JPEG)" if compressed else "sensor_msgs/Image (bgr8)",
        "duration_s": round(elapsed, 2),
        **figures["overall"],
        "node_cpu_percent": round(sum(node_cpu), 1),
        "bench_process_cpu_percent": figures["camera_process_cpu_percent"],
        "camera_host_cpu_percent": round(100 * (driver_cpu_after - driver_cpu_before) / elapsed, 1),
        "bytes_per_s": round((bytes_after[1] - bytes_before[1]) / elapsed),
        "bytes_per_s_received": round((bytes_after[0] - bytes_before[0]) / elapsed),
        "image_bytes": figures["image_bytes"],
        "processed_ratio_min_camera": min(ratios),
        "processed_ratio_max_camera": max(ratios),
        "per_camera": per_camera,
        "load_average_during": [round(v, 2) for v in load_before] + [round(v, 2) for v in load_after],
    }
    for key in ("node_receipt_to_publish_p50_ms", "node_processing_p50_ms", "node_pipeline_p50_ms"):
        values = [e[key] for e in per_camera.values() if e[key] is not None]
        result[key] = round(float(np.median(values)), 2) if values else None
    for key in ("node_frames_received_delta", "node_frames_skipped_delta"):
        values = [e[key] for e in per_camera.values() if e[key] is not None]
        result[key] = sum(values) if values else None
    return result


def check_hosts_targets(result: dict) -> list[str]:
    """Which targets a scenario meets (compressed 1 camera at 30 Hz; each camera's share with several)."""
    lines = []
    if result["cameras"] == 1 and result["image"].startswith("sensor_msgs/Compressed") and result["faces"] == 1:
        for key, target in TARGETS["compressed"].items():
            value = result.get(key)
            ok = value is not None and (value >= target if key == "processed_ratio" else value <= target)
            lines.append(f"{key} {value} {'meets' if ok else 'MISSES'} target {target}")
    if result["cameras"] > 1:
        target = TARGETS["per_camera"]["processed_ratio"]
        low, high = result["processed_ratio_min_camera"], result["processed_ratio_max_camera"]
        if low >= target:
            lines.append(f"every camera >= {target:.0%} processed ({low:.1%} .. {high:.1%}): meets")
        else:
            even = high - low <= 0.1
            lines.append(
                f"cameras {low:.1%} .. {high:.1%} processed: below {target:.0%}; share "
                f"{'even (within 10 points)' if even else 'UNEVEN'}"
            )
    return lines


def transport_text(profile: str | None) -> str:
    """What carries the images between the hosts, for the JSON."""
    name = Path(profile).name if profile else "Fast DDS defaults"
    if profile and Path(profile).name == "fastdds_hosts.xml":
        detail = "UDPv4, 4 MiB socket buffers"
    elif profile and Path(profile).name == "fastdds_large_images.xml":
        detail = "UDPv4, system socket buffers"
    else:
        detail = "UDPv4" if not profile else "UDPv4 as the profile sets it"
    return f"{detail} over a veth bridge, MTU 1500 (shared memory does not cross hosts); profile: {name}"


def run_hosts_benchmark(
    cameras: tuple[int, ...] = (1,),
    kinds: tuple[str, ...] = ("compressed",),
    faces: tuple[int, ...] = (1,),
    rate_hz: float = 30.0,
    duration_s: float = 20.0,
    size: tuple[int, int] = (640, 480),
    fastdds_profile: str | None = "default-hosts",
    static_peers: bool = False,
    progress=print,
) -> dict:
    """Every (cameras, image kind, faces) scenario on a fresh two-host network; JSON-ready results."""
    from fer_ros.app.netns import VirtualNetwork, netns_problem
    from fer_ros.app.processes import DomainLease, ProcessGroup
    from fer_ros.ros.config_files import find_config_file

    problem = netns_problem()
    if problem:
        raise RuntimeError(f"--hosts needs network namespaces: {problem}")
    if fastdds_profile == "default-hosts":
        fastdds_profile = str(find_config_file("fastdds_hosts.xml"))
    lease = DomainLease()
    work = Path(tempfile.mkdtemp(prefix="fer_ros_bench_hosts_"))
    env = {"ROS_PYTHON_CHECK_FIELDS": "0", "FASTDDS_DEFAULT_PROFILES_FILE": fastdds_profile or ""}
    transport = transport_text(fastdds_profile)
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
        "fastdds_profile": fastdds_profile or "(Fast DDS defaults)",
        "transport": transport,
        "discovery": "ROS_STATIC_PEERS, multicast off" if static_peers else "multicast (SPDP)",
        "hosts": {"cam": "10.77.0.1", "rec": "10.77.0.2"},
        "scenarios": {},
    }
    references: dict[int, dict] = {}
    try:
        with VirtualNetwork(
            ("cam", "rec"),
            domain_id=lease.domain_id,
            multicast=not static_peers,
            static_peers=static_peers,
            work_dir=work / "net",
        ) as net:
            for count in faces:
                for kind in kinds:
                    for k in cameras:
                        group = ProcessGroup(work / "logs")
                        label = f"{k} camera(s), {kind}, {count} face(s), {rate_hz:g} Hz"
                        progress(f"{label}: measuring for {duration_s:g} s ...")
                        try:
                            entry = run_hosts_scenario(
                                net, group, k, kind == "compressed", count, rate_hz, duration_s, size, env, work
                            )
                        finally:
                            group.stop_all()
                        entry["transport"] = transport
                        if count not in references:
                            references[count] = core_reference(compose_frames(count, size))
                        entry.update(references[count])
                        entry["targets"] = check_hosts_targets(entry)
                        result["scenarios"][entry["scenario"]] = entry
    finally:
        lease.release()
        result["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return result


def hosts_summary_lines(result: dict) -> list[str]:
    """Human-readable table."""
    lines = [f"transport: {result['transport']}; discovery: {result['discovery']}; machine: {result['machine']}"]
    header = f"{'scenario':<44} {'p50':>6} {'p99':>6} {'proc':>6} {'min cam':>7} {'MB/s':>6} {'node%':>6} {'cam%':>5}"
    lines += [header, "-" * len(header)]
    for name, s in result["scenarios"].items():
        lines.append(
            f"{name:<44} {s['latency_p50_ms']!s:>6} {s['latency_p99_ms']!s:>6} {s['processed_ratio']:>6.1%} "
            f"{s['processed_ratio_min_camera']:>7.1%} {s['bytes_per_s'] / 1e6:>6.2f} {s['node_cpu_percent']:>6} "
            f"{s['camera_host_cpu_percent']:>5}"
        )
        if s["cameras"] > 1:
            for ns, c in s["per_camera"].items():
                lines.append(
                    f"    {ns}: {c['processed_ratio']:.1%} processed, p50 {c['latency_p50_ms']} ms, "
                    f"p99 {c['latency_p99_ms']} ms, node {c['node_cpu_percent']} % CPU"
                )
        lines += [f"    {line}" for line in s["targets"]]
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m fer_ros.bench.hosts drive ...`` (the camera host's process)."""
    parser = argparse.ArgumentParser(description="camera host of fer-ros bench-ros --hosts")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("drive")
    d.add_argument("--cameras", type=int, default=1)
    d.add_argument("--compressed", action="store_true")
    d.add_argument("--faces", type=int, default=1)
    d.add_argument("--rate", type=float, default=30.0)
    d.add_argument("--size", default="640x480")
    d.add_argument("--duration", type=float, default=20.0)
    d.add_argument("--warmup", type=float, default=3.0)
    d.add_argument("--jpeg-quality", type=int, default=90)
    d.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
