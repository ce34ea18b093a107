"""MaixCAM bridge benchmark: protocol decoder throughput, and datagram arrival -> publish latency of the node.

    .venv/bin/python bench/bench_maixcam.py                  # both parts, JSON on stdout
    .venv/bin/python bench/bench_maixcam.py --decoder-only   # no ROS

Decoder: pure-Python ``fer_maix_protocol.decode`` on typical and worst-case datagrams (target >= 20,000/s).
Bridge: maixcam_bridge_node in its own process on an isolated ROS domain, a subscriber in this process,
frames sent over loopback UDP at ``--rate-hz``. ``bridge_latency_p50_ms`` is the node's own measure (datagram
received -> publish() returned, median of its per-second /diagnostics figures; target <= 2 ms);
``end_to_end_*`` adds UDP and DDS delivery to a subscriber in another process (sendto -> subscription
callback, same clock).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from maixcam_bridge import fer_maix_protocol as P

LABELS = ["angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral"]


def _faces(n: int, classes: int = 7) -> list[P.Face]:
    return [
        P.Face(
            10 * i,
            20,
            40,
            50,
            0.9,
            tuple(range(10)),
            i % classes,
            P.FACE_CLASSIFIED,
            i + 1,
            [1.0 / classes] * classes,
        )
        for i in range(n)
    ]


def bench_decoder(seconds_per_case: float = 0.5) -> dict[str, float]:
    crc = P.labels_checksum(LABELS)
    key = b"bench key"
    full = P.max_faces_for(7)
    cases = {
        "frame_0_faces": (P.encode_frame("cam", 1, 1, 1, 1, 320, 224, crc, 7, []), None),
        "frame_1_face": (P.encode_frame("cam", 1, 1, 1, 1, 320, 224, crc, 7, _faces(1)), None),
        "frame_3_faces": (P.encode_frame("cam", 1, 1, 1, 1, 320, 224, crc, 7, _faces(3)), None),
        "frame_3_faces_hmac": (P.encode_frame("cam", 1, 1, 1, 1, 320, 224, crc, 7, _faces(3), key=key), key),
        f"frame_{full}_faces_full_1400B": (
            P.encode_frame("cam", 1, 1, 1, 1, 320, 224, crc, 7, _faces(full)),
            None,
        ),
        "meta": (
            P.encode_meta("cam", 1, 1, 1, {"labels": LABELS, "fps": 25.0, "timings_ms": {"detect": 9.1}}),
            None,
        ),
    }
    rates = {}
    for name, (data, k) in cases.items():
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds_per_case:
            for _ in range(500):
                P.decode(data, k)
            n += 500
        rates[name] = round(n / (time.perf_counter() - start))
        print(f"decoder {name:>32s} ({len(data):4d} B): {rates[name]:>8,d} datagrams/s", file=sys.stderr)
    return rates


def bench_bridge(frames: int, rate_hz: float, faces: int) -> dict[str, float]:
    from diagnostic_msgs.msg import DiagnosticArray

    from fer_ros.msg import FaceExpressionArray
    from fer_ros.testing.ros_harness import DomainLease, ProcessGroup, TopicProbe, isolated_ros_env, wait_for

    lease = DomainLease()
    tmp = Path(tempfile.mkdtemp(prefix="fer_ros_bench_maixcam_"))
    os.environ.update(isolated_ros_env(lease.domain_id, tmp / "ros_log"))
    group = ProcessGroup(tmp / "processes")
    probe = None
    try:
        node = group.start_module(
            "fer_ros.nodes.maixcam_bridge_node", parameters={"port": 0, "bind_address": "127.0.0.1"}
        )
        port = int(node.wait_for_output(r"listening on udp://127\.0\.0\.1:(\d+)", 30).group(1))
        probe = TopicProbe("bench_maixcam_probe")
        receipts: dict[int, int] = {}
        lock = threading.Lock()

        def on_faces(msg) -> None:
            now = time.monotonic_ns()
            with lock:
                receipts[int(msg.faces[0].x) if msg.faces else -1] = now  # x carries the frame index

        probe.node.create_subscription(FaceExpressionArray, "/faces", on_faces, 100)
        probe.subscribe("/diagnostics", DiagnosticArray)
        wait_for(lambda: node.is_running() and probe.node.count_publishers("/faces") > 0, 20, what="bridge")
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        crc = P.labels_checksum(LABELS)
        seq = 1
        sock.sendto(
            P.encode_meta("bench", 7, seq, time.monotonic_ns() // 1000, {"labels": LABELS}),
            ("127.0.0.1", port),
        )
        time.sleep(0.5)
        sent: dict[int, int] = {}
        period = 1.0 / rate_hz
        next_t = time.monotonic()
        for i in range(frames):
            seq += 1
            face_list = _faces(faces)
            face_list[0].x = i  # frame index, read back by the subscriber
            now_us = time.monotonic_ns() // 1000
            data = P.encode_frame("bench", 7, seq, now_us, now_us, 320, 224, crc, 7, face_list)
            sent[i] = time.monotonic_ns()
            sock.sendto(data, ("127.0.0.1", port))
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))
        time.sleep(2.5)  # let the last diagnostics period close
        sock.close()
        with lock:
            e2e = sorted((receipts[i] - sent[i]) / 1e6 for i in sent if i in receipts)
        p50s = []
        for msg in probe.messages("/diagnostics"):
            for status in msg.status:
                if status.name == "maixcam_bridge: receiver":
                    value = {kv.key: kv.value for kv in status.values}.get("bridge_latency_p50_ms", "n/a")
                    if value != "n/a":
                        p50s.append(float(value))
        result = {
            "frames_sent": frames,
            "frames_received": len(e2e),
            "rate_hz": rate_hz,
            "faces_per_frame": faces,
            "bridge_latency_p50_ms": round(statistics.median(p50s), 3) if p50s else None,
            "bridge_latency_p50_ms_worst_second": round(max(p50s), 3) if p50s else None,
            "end_to_end_p50_ms": round(e2e[len(e2e) // 2], 3) if e2e else None,
            "end_to_end_p99_ms": round(e2e[min(len(e2e) - 1, int(len(e2e) * 0.99))], 3) if e2e else None,
        }
        print(f"bridge: {result}", file=sys.stderr)
        return result
    finally:
        if probe is not None:
            probe.close()
        group.stop_all()
        lease.release()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decoder-only", action="store_true")
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--rate-hz", type=float, default=60.0)
    parser.add_argument("--faces", type=int, default=1)
    args = parser.parse_args()
    report: dict[str, object] = {"decoder_datagrams_per_s": bench_decoder()}
    if not args.decoder_only:
        report["bridge"] = bench_bridge(args.frames, args.rate_hz, args.faces)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
