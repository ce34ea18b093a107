"""A recording subscriber that runs as its own process (e.g. in a network namespace) and writes JSON.

    python -m fer_ros.testing.netns_probe --out rec.json --timeout 30 --until 5 /head/faces:faces /head/image:image

Each ``TOPIC:KIND`` (kind: faces, image, compressed, command, diagnostics) is subscribed with the project's QoS
(images best effort depth 1, the rest reliable). The process stops when every topic has ``--until`` messages,
or after ``--timeout`` seconds, and writes, per topic: the count, the header stamps and receipt times (ns, this
host's clock) and a short summary of each message (faces: source, expressions; images: size; commands:
expression), and the graph's topic names under ``graph_topics``. It prints ``probe ready`` once
subscribed, and ``probe done`` at the end.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any


def _kinds() -> dict[str, tuple[type, Any, Any]]:
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CompressedImage, Image

    from fer_ros.msg import ExpressionCommand, FaceExpressionArray
    from fer_ros.ros.qos import results_qos, sensor_qos

    return {
        "faces": (
            FaceExpressionArray,
            results_qos(50),
            lambda m: {"source": m.source, "expressions": [f.expression for f in m.faces]},
        ),
        "image": (Image, sensor_qos(), lambda m: {"size": [m.width, m.height], "encoding": m.encoding}),
        "compressed": (CompressedImage, sensor_qos(), lambda m: {"format": m.format, "bytes": len(m.data)}),
        "command": (ExpressionCommand, results_qos(50), lambda m: {"expression": m.expression}),
        "diagnostics": (
            DiagnosticArray,
            results_qos(50),
            lambda m: {"status": {s.name: {kv.key: kv.value for kv in s.values} for s in m.status}},
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topics", nargs="+", metavar="TOPIC:KIND")
    parser.add_argument("--out", required=True)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--until", type=int, default=0, help="stop once every topic has this many (0: timeout)")
    args = parser.parse_args(argv)

    import rclpy

    kinds = _kinds()
    rclpy.init()
    node = rclpy.create_node("fer_ros_netns_probe")
    clock = node.get_clock()
    lock = threading.Lock()
    records: dict[str, dict[str, list]] = {}
    for spec in args.topics:
        topic, _, kind = spec.rpartition(":")
        if kind not in kinds or not topic:
            parser.error(f"{spec}: expected TOPIC:KIND with KIND one of {', '.join(kinds)}")
        msg_type, qos, summary = kinds[kind]
        record = records[topic] = {"stamps_ns": [], "received_ns": [], "messages": []}

        def on_message(msg: Any, record=record, summary=summary) -> None:
            now = clock.now().nanoseconds
            header = getattr(msg, "header", None)
            stamp = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec if header is not None else 0
            with lock:
                record["stamps_ns"].append(stamp)
                record["received_ns"].append(now)
                if len(record["messages"]) < 200:
                    record["messages"].append(summary(msg))

        node.create_subscription(msg_type, topic, on_message, qos)
    print("probe ready", flush=True)
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.05)
            with lock:
                if args.until and all(len(r["stamps_ns"]) >= args.until for r in records.values()):
                    break
    except KeyboardInterrupt:
        pass
    with lock:
        out = {topic: {"count": len(r["stamps_ns"]), **r} for topic, r in records.items()}
    out["graph_topics"] = sorted(name for name, _ in node.get_topic_names_and_types())
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(out, handle)
    print("probe done", flush=True)
    node.destroy_node()
    if rclpy.ok():
        rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
