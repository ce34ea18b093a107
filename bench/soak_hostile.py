"""Soak benchmark (issue 17): expression_node and maixcam_bridge_node under mixed valid and hostile traffic.

    .venv/bin/python bench/soak_hostile.py                        # 10 minutes, a report line every 30 s
    .venv/bin/python bench/soak_hostile.py --duration-s 90 --report-s 10

Both nodes run in their own processes on an isolated ROS domain (loopback only). This process is the camera,
the MaixCAM and the attacker:

- ``image/compressed`` of expression_node (``compressed:=true``): a real face photo as JPEG at
  ``--image-rate-hz``, interleaved with as many hostile images (30000x30000 JPEG/PNG headers, BMP and HDR
  data, wrong format strings, garbage);
- UDP to the bridge: a live camera (signed, ``--camera-rate-hz``) and, from another address,
  ``--hostile-rate`` datagrams/s of replayed older-session datagrams, spoofed sessions, made-up devices,
  hostile META JSON and fuzz. ``--no-key``: the bridge and the camera without a key (the default settings),
  so that the unsigned spoofs reach the session rules.

Every ``--report-s`` it prints, per node, RSS (now and peak) and latency (p50 / max of the period: camera
stamp -> faces received here), the live camera's share of frames published, the nodes' counters, and
restarts (a node that exits is restarted and counted). The verdict at the end: 0 restarts, flat RSS
(last report vs first), flat latency, >= 99 % of the camera's frames.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fer_ros.testing import hostile_input as H  # noqa: E402

KEY = b"soak key"


def proc_mb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def hostile_images(photo_jpeg: bytes) -> list[tuple[str, bytes]]:
    rng = random.Random(3)
    return [
        ("jpeg", H.jpeg_bomb()),
        ("bgr8; jpeg compressed bgr8", H.jpeg_bomb(65535, 65535)),
        ("png", H.png_bomb()),
        ("jpeg", H.bmp_rle_bomb()),
        ("bmp", H.bmp_rle_bomb()),
        ("hdr", H.hdr_header()),
        ("", photo_jpeg),
        ("png", photo_jpeg),
        ("jpeg", b"\xff\xd8\xff\xe0" + rng.randbytes(2000)),
        ("jpeg", photo_jpeg[: len(photo_jpeg) // 3]),
    ]


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        from fer_ros.testing.ros_harness import DomainLease, ProcessGroup, isolated_ros_env

        self.args = args
        self.lease = DomainLease()
        self.tmp = Path(tempfile.mkdtemp(prefix="fer_ros_soak_"))
        os.environ.update(isolated_ros_env(self.lease.domain_id, self.tmp / "ros_log"))
        os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(REPO / "config" / "fastdds_large_images.xml"))
        self.group = ProcessGroup(self.tmp / "processes")
        self.restarts = {"expression": 0, "bridge": 0}
        self.lock = threading.Lock()
        self.latency_ms: dict[str, list[float]] = {"expression": [], "bridge": []}
        self.received = {"expression": 0, "bridge": 0}
        self.diagnostics: dict[str, dict[str, str]] = {}
        self.sent_camera_frames = 0
        self.sent_hostile_datagrams = 0
        self.sent_images = {"valid": 0, "hostile": 0}
        self.port = 0
        self.key = None if args.no_key else KEY
        self.stop = threading.Event()

    # -- processes -----------------------------------------------------------------------------------------
    def start_expression(self):
        proc = self.group.start_module(
            "fer_ros.nodes.expression_node", parameters={"compressed": True}, name="expression"
        )
        proc.wait_for_output("listening on", 90)
        return proc

    def start_bridge(self):
        params = {
            "port": self.port,
            "bind_address": "127.0.0.1",
            "hmac_key": self.key.decode() if self.key else "",
            "state_dir": str(self.tmp / "bridge_state"),
            "max_age_ms": 0.0,
        }
        proc = self.group.start_module("fer_ros.nodes.maixcam_bridge_node", parameters=params, name="bridge")
        self.port = int(proc.wait_for_output(r"listening on udp://127\.0\.0\.1:(\d+)", 30).group(1))
        return proc

    # -- ROS side --------------------------------------------------------------------------------------------
    def start_ros(self) -> None:
        import rclpy
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CompressedImage

        from fer_ros.msg import FaceExpressionArray
        from fer_ros.ros.qos import results_qos, sensor_qos

        rclpy.init()
        self.node = rclpy.create_node("fer_ros_soak")
        self.image_pub = self.node.create_publisher(CompressedImage, "image/compressed", sensor_qos())
        self.node.create_subscription(FaceExpressionArray, "faces", self._on_faces, results_qos(100))
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, results_qos(50))
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self.spin_thread = threading.Thread(target=self._spin, daemon=True)
        self.spin_thread.start()

    def _spin(self) -> None:
        while not self.stop.is_set():
            self.executor.spin_once(timeout_sec=0.05)

    def _on_faces(self, msg) -> None:
        now = self.node.get_clock().now().nanoseconds
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        which = "bridge" if msg.source.startswith("maixcam:") else "expression"
        with self.lock:
            self.received[which] += 1
            self.latency_ms[which].append((now - stamp) / 1e6)

    def _on_diagnostics(self, msg) -> None:
        with self.lock:
            for status in msg.status:
                self.diagnostics[status.name] = {kv.key: kv.value for kv in status.values}

    # -- traffic ---------------------------------------------------------------------------------------------
    def images(self) -> None:
        import cv2
        from sensor_msgs.msg import CompressedImage

        from fer_ros.core.image_io import read_image

        shared = Path(os.environ.get("FER_ROS_SHARED") or REPO.parent / "shared")
        photo = cv2.imencode(".jpg", read_image(shared / "media" / "astronaut.png"))[1].tobytes()
        hostile = hostile_images(photo)
        period = 1.0 / self.args.image_rate_hz
        k = 0
        while not self.stop.is_set():
            msg = CompressedImage(format="bgr8; jpeg compressed bgr8", data=photo)
            msg.header.stamp = self.node.get_clock().now().to_msg()
            self.image_pub.publish(msg)
            self.sent_images["valid"] += 1
            time.sleep(period / 2)
            fmt, data = hostile[k % len(hostile)]
            bad = CompressedImage(format=fmt, data=data)
            bad.header.stamp = self.node.get_clock().now().to_msg()
            self.image_pub.publish(bad)
            self.sent_images["hostile"] += 1
            k += 1
            time.sleep(period / 2)

    def udp(self) -> None:
        rng = random.Random(11)
        live_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        live_sock.bind(("127.0.0.2", 0))
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attacker.bind(("127.0.0.1", 0))
        old = H.SimulatedCamera("cam-live", 100, self.key)
        recorded = [old.meta()] + [old.frame() for _ in range(50)]
        for d in recorded[:5]:  # the older session was live once: the bridge knows it
            live_sock.sendto(d, ("127.0.0.1", self.port))
        time.sleep(0.2 if self.key else 1.2)  # without a key, a new session waits for the old one's silence
        with self.lock:
            self.received["bridge"] = 0  # from here on, faces of the bridge are the live camera's
        live = H.SimulatedCamera("cam-live", 101, self.key)
        unsigned = [H.SimulatedCamera("cam-live", s).meta() for s in range(200, 260)]
        made_up = [H.SimulatedCamera(f"fake{i}", 1).meta() for i in range(40)]
        hostile_meta = H.bignum_metas("cam-live", 101, 10) + H.hostile_frames("cam-live", 101, 20)
        fuzz = H.random_datagrams(rng, recorded + unsigned + hostile_meta, 2000)
        pool = recorded + unsigned + made_up + hostile_meta + fuzz
        camera_period = 1.0 / self.args.camera_rate_hz
        burst = max(1, round(self.args.hostile_rate * camera_period))
        next_meta = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= next_meta:
                live_sock.sendto(live.meta(), ("127.0.0.1", self.port))
                next_meta = now + 1.0
            live_sock.sendto(live.frame(), ("127.0.0.1", self.port))
            self.sent_camera_frames += 1
            for _ in range(burst):
                attacker.sendto(rng.choice(pool), ("127.0.0.1", self.port))
            self.sent_hostile_datagrams += burst
            time.sleep(max(0.0, camera_period - (time.monotonic() - now)))

    # -- reporting -------------------------------------------------------------------------------------------
    def report(self, elapsed: float, procs: dict, first: dict | None) -> dict:
        with self.lock:
            lat = {k: v[:] for k, v in self.latency_ms.items()}
            for v in self.latency_ms.values():
                v.clear()
            received = dict(self.received)
            diag = dict(self.diagnostics)
        row = {"t": elapsed}
        for name, proc in procs.items():
            row[f"{name}_rss_mb"] = proc_mb(proc.pid, "VmRSS")
            row[f"{name}_peak_mb"] = proc_mb(proc.pid, "VmHWM")
            values = lat[name]
            row[f"{name}_p50_ms"] = statistics.median(values) if values else float("nan")
            row[f"{name}_max_ms"] = max(values) if values else float("nan")
        expr = next((v for k, v in diag.items() if k.endswith("expression_node: facial expressions")), {})
        rx = diag.get("maixcam_bridge: receiver", {})
        cam = diag.get("maixcam_bridge: cam-live", {})
        share = 100.0 * received["bridge"] / max(1, self.sent_camera_frames)
        print(
            f"{elapsed:6.0f}s | expr rss {row['expression_rss_mb']:6.1f} MB (peak {row['expression_peak_mb']:6.1f})"
            f" lat p50 {row['expression_p50_ms']:6.1f} max {row['expression_max_ms']:6.1f} ms"
            f" processed {expr.get('frames_processed', '?')} bad {expr.get('frames_bad', '?')}"
            f" | bridge rss {row['bridge_rss_mb']:6.1f} MB (peak {row['bridge_peak_mb']:6.1f})"
            f" lat p50 {row['bridge_p50_ms']:5.2f} max {row['bridge_max_ms']:6.2f} ms"
            f" cam {received['bridge']}/{self.sent_camera_frames} ({share:.1f} %)"
            f" rejected {rx.get('rejected', '?')} of {rx.get('datagrams', '?')}"
            f" | restarts {sum(self.restarts.values())}",
            flush=True,
        )
        row.update(
            camera_share_pct=share,
            expr_values=expr,
            receiver_values=rx,
            camera_values=cam,
        )
        return row

    def run(self) -> int:
        args = self.args
        mode = "no key" if args.no_key else "hmac key"
        print(
            f"soak ({mode}): {args.duration_s:g} s, images {args.image_rate_hz:g} Hz (+ as many hostile), "
            f"camera {args.camera_rate_hz:g} Hz + {args.hostile_rate:g} hostile datagrams/s; logs in {self.tmp}"
        )
        self._print_refusal_times()
        procs = {"expression": self.start_expression(), "bridge": self.start_bridge()}
        self.start_ros()
        time.sleep(3.0)  # discovery
        threads = [threading.Thread(target=f, daemon=True) for f in (self.images, self.udp)]
        for t in threads:
            t.start()
        start = time.monotonic()
        rows = []
        next_report = start + args.report_s
        try:
            while time.monotonic() - start < args.duration_s:
                time.sleep(0.2)
                for name, proc in procs.items():
                    if not proc.is_running():
                        print(f"!! {name} exited with {proc.returncode()}; restarting", flush=True)
                        self.restarts[name] += 1
                        procs[name] = self.start_expression() if name == "expression" else self.start_bridge()
                if time.monotonic() >= next_report:
                    rows.append(self.report(time.monotonic() - start, procs, rows[0] if rows else None))
                    next_report += args.report_s
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=2)
            time.sleep(0.5)
        return self._verdict(rows, procs)

    def _print_refusal_times(self) -> None:
        from sensor_msgs.msg import CompressedImage

        from fer_ros.ros.image_conversion import ImageConversionError, get_converter

        converter = get_converter()
        for fmt, data in hostile_images(H.tiny_jpeg())[:6]:
            msg = CompressedImage(format=fmt, data=data)
            start = time.perf_counter()
            try:
                converter.to_bgr8(msg)
                kind = "DECODED"
            except ImageConversionError as error:
                kind = error.kind
            print(
                f"refusal in-process: {fmt or '(empty)':>28} {len(data):>6} B -> {kind:<20} "
                f"{(time.perf_counter() - start) * 1e3:.3f} ms"
            )

    def _verdict(self, rows: list[dict], procs: dict) -> int:
        if len(rows) < 2:
            print("too short for a verdict (need two reports)")
            return 1
        first, last = rows[0], rows[-1]
        ok = True
        print("\nsummary")
        for name in procs:
            growth = last[f"{name}_rss_mb"] - first[f"{name}_rss_mb"]
            p50s = [r[f"{name}_p50_ms"] for r in rows if r[f"{name}_p50_ms"] == r[f"{name}_p50_ms"]]
            print(
                f"  {name}: RSS {first[f'{name}_rss_mb']:.1f} -> {last[f'{name}_rss_mb']:.1f} MB "
                f"({growth:+.1f}), peak {last[f'{name}_peak_mb']:.1f} MB; latency p50 per report "
                f"min {min(p50s, default=float('nan')):.2f} max {max(p50s, default=float('nan')):.2f} ms"
            )
            ok &= growth < 50.0
        share = 100.0 * self.received["bridge"] / max(1, self.sent_camera_frames)
        rx, expr = last["receiver_values"], last["expr_values"]
        print(
            f"  camera frames received here: {self.received['bridge']}/{self.sent_camera_frames} ({share:.2f} %), "
            f"published by the bridge (its counter): {last['camera_values'].get('published', '?')}; "
            f"hostile datagrams sent {self.sent_hostile_datagrams}"
        )
        print("  receiver: " + ", ".join(f"{k}={v}" for k, v in sorted(rx.items()) if v not in ("0", "n/a")))
        print(
            "  expression: "
            + ", ".join(
                f"{k}={v}"
                for k, v in sorted(expr.items())
                if k.startswith(("bad_frames", "frames_", "callback", "latency"))
            )
        )
        print(f"  images sent: {self.sent_images}; restarts: {self.restarts}")
        ok &= sum(self.restarts.values()) == 0 and share >= 99.0
        print("verdict:", "OK" if ok else "FAILED")
        return 0 if ok else 1

    def close(self) -> None:
        self.group.stop_all()
        try:
            import rclpy

            self.executor.shutdown()
            self.node.destroy_node()
            rclpy.try_shutdown()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
        self.lease.release()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration-s", type=float, default=600.0)
    parser.add_argument("--report-s", type=float, default=30.0)
    parser.add_argument("--image-rate-hz", type=float, default=5.0)
    parser.add_argument("--camera-rate-hz", type=float, default=20.0)
    parser.add_argument("--hostile-rate", type=float, default=1000.0, help="hostile datagrams per second")
    parser.add_argument("--no-key", action="store_true", help="bridge and camera without hmac_key (defaults)")
    args = parser.parse_args()
    soak = Soak(args)
    try:
        return soak.run()
    finally:
        soak.close()


if __name__ == "__main__":
    sys.exit(main())
