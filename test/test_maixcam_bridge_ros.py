"""End to end over real UDP and real DDS: the device app on the fake ``maix`` -> maixcam_bridge_node (its own
process) -> fer_ros/FaceExpressionArray; two devices at once; adversarial datagrams; diagnostics."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import struct
import sys
import time
import zlib
from pathlib import Path

import pytest
from diagnostic_msgs.msg import DiagnosticArray

from fer_ros.msg import FaceExpressionArray
from fer_ros.ros.messages import stamp_to_nanoseconds
from fer_ros.testing import hostile_input as H
from fer_ros.testing.ros_harness import wait_for
from maixcam_bridge import fer_maix_protocol as P

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "maixcam_bridge" / "main.py"
FAKE_MAIX = REPO / "test" / "fake_maix"
CANONICAL = ["angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral"]


def start_bridge(ros_processes, **parameters):
    params = {"port": 0, "bind_address": "127.0.0.1", **parameters}
    bridge = ros_processes.start_module("fer_ros.nodes.maixcam_bridge_node", parameters=params)
    match = bridge.wait_for_output(r"listening on udp://127\.0\.0\.1:(\d+)", timeout_s=30)
    return bridge, int(match.group(1))


def start_app(ros_processes, tmp_path: Path, name: str, media: Path, port: int, frames: int = 0, **cfg):
    config = tmp_path / f"{name}.json"
    cfg = {"device_name": name, "destination": {"host": "127.0.0.1", "port": port}, "display": False, **cfg}
    config.write_text(json.dumps(cfg))
    env = {
        "PYTHONPATH": str(FAKE_MAIX),
        "FAKE_MAIX_MEDIA": str(media),
        "FAKE_MAIX_FRAMES": str(frames),
        "FAKE_MAIX_FPS": "15",
    }
    return ros_processes.start([sys.executable, str(APP), str(config)], name=f"app-{name}", env=env)


def diagnostics_values(
    probe, name: str, timeout_s: float = 10.0, predicate=None, after: int = 0
) -> tuple[int, str, dict]:
    """The newest /diagnostics status called ``name`` (satisfying ``predicate``), among the messages that
    arrived after the first ``after``."""

    def find():
        for msg in reversed(probe.messages("/diagnostics")[after:]):
            for status in msg.status:
                if status.name == name:
                    values = {kv.key: kv.value for kv in status.values}
                    item = (status.level[0], status.message, values)
                    if predicate is None or predicate(item):
                        return item
        return None

    return wait_for(find, timeout_s, what=f"diagnostics {name}")


def test_device_app_to_bridge_to_faces(ros_processes, topic_probe, shared_dir, tmp_path) -> None:
    probe = topic_probe()
    probe.subscribe("/faces", FaceExpressionArray)
    probe.subscribe("/diagnostics", DiagnosticArray)
    bridge, port = start_bridge(ros_processes, frame_ids="cam-a=head_camera_optical_frame")
    start_app(ros_processes, tmp_path, "cam-a", shared_dir / "media" / "ros4hri" / "user_happy.jpg", port)
    msg = probe.wait_for_message("/faces", timeout_s=40)
    now_ns = probe.node.get_clock().now().nanoseconds
    assert msg.source == "maixcam:cam-a"
    assert msg.header.frame_id == "head_camera_optical_frame"
    assert 0 <= now_ns - stamp_to_nanoseconds(msg.header.stamp) < 2e9  # capture time, mapped to the ROS clock
    assert list(msg.labels) == CANONICAL
    assert (msg.image_width, msg.image_height) == (320, 224)
    assert len(msg.faces) == 1
    face = msg.faces[0]
    assert face.expression == "happy" and face.confidence > 0.9 and face.face_id != ""
    assert 0 < face.x < 320 and 0 < face.y < 224 and face.width > 20 and face.height > 20
    assert all(0 <= v < 320 for v in face.keypoints)
    assert sum(face.raw_scores) == pytest.approx(1.0, abs=1e-3) and len(face.scores) == 7
    messages = probe.wait_for_messages("/faces", 10, timeout_s=20)
    stamps = [stamp_to_nanoseconds(m.header.stamp) for m in messages]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    level, _, values = diagnostics_values(  # the app's fps is in its second META, after one second
        probe, "maixcam_bridge: cam-a", predicate=lambda item: float(item[2]["device_fps"]) > 0
    )
    assert level == 0 and values["labels"] == ",".join(CANONICAL) and int(values["published"]) > 0
    assert bridge.stop() == 0 and not bridge.killed and "Traceback" not in bridge.stderr()


def test_two_devices_at_once(ros_processes, topic_probe, shared_dir, tmp_path) -> None:
    probe = topic_probe()
    probe.subscribe("/faces", FaceExpressionArray)
    _, port = start_bridge(ros_processes)
    media = shared_dir / "media" / "ros4hri"
    start_app(ros_processes, tmp_path, "cam-happy", media / "user_happy.jpg", port)
    start_app(ros_processes, tmp_path, "cam-surprise", media / "user_surprised.jpg", port)

    def both():
        by_source = {}
        for m in probe.messages("/faces"):
            by_source.setdefault(m.source, m)
        return by_source if len(by_source) == 2 else None

    by_source = wait_for(both, 40, what="faces from both devices")
    assert by_source["maixcam:cam-happy"].faces[0].expression == "happy"
    assert by_source["maixcam:cam-surprise"].faces[0].expression == "surprised"
    assert by_source["maixcam:cam-happy"].header.frame_id == "cam-happy_camera"


def valid_pair(device: str, session: int, seq: int, key=None) -> list[bytes]:
    labels_crc = P.labels_checksum(CANONICAL)
    now_us = time.monotonic_ns() // 1000
    face = P.Face(
        50,
        40,
        60,
        70,
        0.9,
        (60, 60, 90, 60, 75, 75, 65, 90, 85, 90),
        5,
        P.FACE_CLASSIFIED,
        1,
        [0.02, 0.02, 0.02, 0.02, 0.02, 0.88, 0.02],
    )
    return [
        P.encode_meta(device, session, seq, now_us, {"labels": CANONICAL}, key=key),
        P.encode_frame(
            device, session, seq + 1, now_us, now_us - 5000, 320, 224, labels_crc, 7, [face], key=key
        ),
    ]


def adversarial_datagrams(rng: random.Random) -> dict[str, list[bytes]]:
    good = valid_pair("evil", 1, 1)[1]

    def reseal(body: bytes) -> bytes:
        return body + struct.pack("<I", zlib.crc32(body))

    major2 = bytearray(good[:-4])
    major2[4] = 2
    huge_count = bytearray(good[:-4])
    huge_count[58] = 255
    return {
        "foreign": [b"", b"\x00", b"GET / HTTP/1.1\r\n\r\n" * 4, rng.randbytes(1400), b"\xff" * 60000],
        "crc": [good[:-1] + bytes([good[-1] ^ 0xFF]), good[:70] + b"\x00" + good[71:]],
        "format": [
            good[:30],
            good[:-3],
            reseal(bytes(major2)),
            reseal(bytes(huge_count)),
            reseal(good[: P.COMMON_HEADER_SIZE]),  # a FRAME header cut short, with a valid CRC
            reseal(valid_pair("evil", 1, 1)[0][: P.META_HEADER_SIZE] + b"[" * 1200),
            reseal(valid_pair("evil", 1, 1)[0][: P.META_HEADER_SIZE] + b'{"labels": ["\\ud800"]}'),
        ],
    }


def test_adversarial_datagrams_are_counted_and_never_published(ros_processes, topic_probe) -> None:
    probe = topic_probe()
    probe.subscribe("/faces", FaceExpressionArray)
    probe.subscribe("/diagnostics", DiagnosticArray)
    _, port = start_bridge(ros_processes, allowed_devices="cam-ok,evil", silence_timeout_s=0.5)
    level, message, _ = diagnostics_values(probe, "maixcam_bridge: receiver")
    assert level == 1 and "no MaixCAM datagram yet" in message  # WARN while nothing arrives

    rng = random.Random(7)
    attack = adversarial_datagrams(rng)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(20):  # every kind, many times, interleaved with fuzz
            for datagrams in attack.values():
                for d in datagrams:
                    sock.sendto(d, ("127.0.0.1", port))
            for _ in range(20):
                sock.sendto(rng.randbytes(rng.randrange(1, 1500)), ("127.0.0.1", port))
            for d in valid_pair("intruder", 5, 1):  # valid, but not an allowed device
                sock.sendto(d, ("127.0.0.1", port))
            time.sleep(0.03)  # let the node keep up: a full socket buffer would drop, not reject
        time.sleep(0.5)
        assert probe.messages("/faces") == []  # nothing of that was published
        for d in valid_pair("cam-ok", 9, 1):
            sock.sendto(d, ("127.0.0.1", port))
    finally:
        sock.close()
    msg = probe.wait_for_message("/faces", timeout_s=20)  # the node is alive and still works
    assert msg.source == "maixcam:cam-ok" and msg.faces[0].expression == "surprised"
    assert [m.source for m in probe.messages("/faces")] == ["maixcam:cam-ok"]

    _, _, values = diagnostics_values(
        probe, "maixcam_bridge: receiver", predicate=lambda item: int(item[2]["accepted"]) >= 2
    )
    assert int(values["crc_errors"]) >= 20 * len(attack["crc"])
    assert int(values["format_errors"]) >= 20 * len(attack["format"])
    assert int(values["foreign_datagrams"]) >= 20 * 3
    assert int(values["device_rejected"]) == 40
    assert values["internal_errors"] == "0"
    assert int(values["rejected"]) >= 20 * (sum(len(v) for v in attack.values()) + 2)


def test_hmac_key_rejects_unsigned_and_wrongly_signed(ros_processes, topic_probe) -> None:
    probe = topic_probe()
    probe.subscribe("/faces", FaceExpressionArray)
    probe.subscribe("/diagnostics", DiagnosticArray)
    _, port = start_bridge(ros_processes, hmac_key="lab secret", state_dir=str(ros_processes.log_dir / "state"))
    # The signed frame is sent once: the probe must already be matched with the bridge's publisher.
    wait_for(lambda: probe.node.count_publishers("/faces") >= 1, 20, what="the bridge's /faces publisher")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for d in valid_pair("cam-1", 1, 1) + valid_pair("cam-2", 1, 1, key=b"wrong"):
            sock.sendto(d, ("127.0.0.1", port))
        time.sleep(0.5)
        assert probe.messages("/faces") == []
        pairs = 0

        def signed_pair_seen():  # resent until the probe has discovered the bridge (slow on a loaded machine)
            nonlocal pairs
            for d in valid_pair("cam-3", 1, 2 * pairs + 1, key=b"lab secret"):
                sock.sendto(d, ("127.0.0.1", port))
            pairs += 1
            return probe.messages("/faces")

        wait_for(signed_pair_seen, 30, interval_s=0.2, what="faces of cam-3")
    finally:
        sock.close()
    assert {m.source for m in probe.messages("/faces")} == {"maixcam:cam-3"}
    _, _, values = diagnostics_values(
        probe,
        "maixcam_bridge: receiver",
        predicate=lambda item: item[2]["auth_errors"] == "4" and item[2]["accepted"] == str(2 * pairs),
    )


def test_silent_device_turns_diagnostics_warn(ros_processes, topic_probe, shared_dir, tmp_path) -> None:
    probe = topic_probe()
    probe.subscribe("/diagnostics", DiagnosticArray)
    _, port = start_bridge(ros_processes, silence_timeout_s=0.5)
    app = start_app(ros_processes, tmp_path, "cam-s", shared_dir / "media" / "astronaut.png", port, frames=10)
    app.popen.wait(timeout=30)
    level, message, values = diagnostics_values(
        probe, "maixcam_bridge: cam-s", timeout_s=15, predicate=lambda item: item[0] == 1
    )
    assert "silent" in message and int(values["published"]) > 0
    assert re.fullmatch(r"[0-9a-f]{8}", values["session"])
    assert os.path.exists(APP)


# -- hostile input (issue 17), against the real node process ------------------------------------------------


def udp(bind: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, 0))
    return sock


def faces_from(probe, device: str) -> list:
    return [m for m in probe.messages("/faces") if m.source == f"maixcam:{device}"]


def live_frames_published(probe, device: str, warmup_frames: int, live_frames: int, after: int) -> int:
    """Frames of the device's current session the bridge published (its /diagnostics counter, in statuses
    that arrived after the first ``after``: what a slow subscriber on a loaded machine receives is DDS's
    business), minus every warm-up frame sent."""
    name = f"maixcam_bridge: {device}"
    try:
        _, _, values = diagnostics_values(
            probe,
            name,
            timeout_s=15,
            predicate=lambda item: int(item[2]["published"]) >= warmup_frames + live_frames,
            after=after,
        )
    except TimeoutError:
        _, _, values = diagnostics_values(probe, name, after=after)
    return int(values["published"]) - warmup_frames


def until_published(probe, sock: socket.socket, port: int, cam: H.SimulatedCamera) -> int:
    """Send the camera's META and frames until one is published and received here (the probe has discovered
    the bridge's publisher); returns how many frames were sent."""
    sent = 0

    def sent_and_seen():
        nonlocal sent
        sock.sendto(cam.meta(), ("127.0.0.1", port))
        sock.sendto(cam.frame(), ("127.0.0.1", port))
        sent += 1
        return faces_from(probe, cam.device)

    before = len(faces_from(probe, cam.device))
    wait_for(lambda: sent_and_seen() and len(faces_from(probe, cam.device)) > before, 30, interval_s=0.1)
    return sent


def test_hostile_meta_numbers_and_capture_times_do_not_end_the_bridge(ros_processes, topic_probe) -> None:
    probe = topic_probe()
    probe.subscribe("/faces", FaceExpressionArray)
    probe.subscribe("/diagnostics", DiagnosticArray)
    bridge, port = start_bridge(ros_processes, max_age_ms=0.0)
    cam = H.SimulatedCamera("cam-h", 7)
    sock = udp()
    try:
        sock.sendto(cam.meta(), ("127.0.0.1", port))
        for d in H.bignum_metas("cam-h", 7, 100) + H.hostile_frames("cam-h", 7, 200):
            sock.sendto(d, ("127.0.0.1", port))
        huge = {"fps": 1e308, "temperature_c": -(10**18), "send_errors": 10**18, "timings_ms": {"x": -1e300}}
        cam_meta = cam.meta
        sock.sendto(cam.meta(**huge), ("127.0.0.1", port))  # passes the decoder: bounded, but not sane
        time.sleep(2.5)  # the 1 Hz diagnostics timer runs over it (it died on float(10**400) before)
        assert bridge.is_running()
        cam.meta = lambda: cam_meta(**huge)  # the warm-up METAs keep the huge numbers
        frames = until_published(probe, sock, port, cam)
    finally:
        sock.close()
    now_ns = probe.node.get_clock().now().nanoseconds
    assert all(stamp_to_nanoseconds(m.header.stamp) <= now_ns for m in faces_from(probe, "cam-h"))
    _, _, values = diagnostics_values(  # the far-future and 2**64 - 1 captures were not published
        probe, "maixcam_bridge: cam-h", predicate=lambda item: item[2]["published"] == str(frames)
    )
    assert values["device_fps"] == "n/a" and values["temperature_c"] == "n/a"
    _, _, values = diagnostics_values(
        probe, "maixcam_bridge: receiver", predicate=lambda item: int(item[2]["format_errors"]) >= 7
    )
    assert values["internal_errors"] == "0" and values["callback_errors"] == "0"
    assert bridge.is_running() and "Traceback" not in bridge.output()
    assert bridge.stop() == 0


def test_spoofed_sessions_and_made_up_devices_do_not_black_out_a_camera(ros_processes, topic_probe) -> None:
    """No key: a spoofer on another address sends the camera's id with new sessions at 1000 datagrams/s, and
    20 made-up devices; the live camera keeps its frames, and a new device still gets in."""
    probe = topic_probe()
    probe.subscribe("/faces", FaceExpressionArray)
    probe.subscribe("/diagnostics", DiagnosticArray)
    _, port = start_bridge(ros_processes, max_age_ms=0.0)
    live, attacker = udp("127.0.0.2"), udp("127.0.0.1")
    cam = H.SimulatedCamera("cam-s", 5)
    try:
        for i in range(20):
            attacker.sendto(H.SimulatedCamera(f"made-up-{i}", 1).meta(), ("127.0.0.1", port))
        after = len(probe.messages("/diagnostics"))
        warmup = until_published(probe, live, port, cam)
        session = 0xFFFF0000
        for _ in range(100):
            live.sendto(cam.frame(), ("127.0.0.1", port))
            for _i in range(20):
                session += 1
                attacker.sendto(H.SimulatedCamera("cam-s", session).meta(), ("127.0.0.1", port))
            time.sleep(0.02)
        newcomer = H.SimulatedCamera("cam-new", 1)
        with udp("127.0.0.3") as third:
            for d in (newcomer.meta(), newcomer.frame()):
                third.sendto(d, ("127.0.0.1", port))
        wait_for(lambda: faces_from(probe, "cam-new"), 20, what="faces of a new device")
    finally:
        live.close()
        attacker.close()
    assert live_frames_published(probe, "cam-s", warmup, 100, after) >= 99
    _, _, values = diagnostics_values(
        probe, "maixcam_bridge: receiver", predicate=lambda item: int(item[2]["session_conflict"]) == 2000
    )
    assert values["too_many_devices_from_source"] == "16" and values["internal_errors"] == "0"


def test_replayed_older_session_is_refused_before_and_after_a_bridge_restart(ros_processes, topic_probe) -> None:
    probe = topic_probe()
    probe.subscribe("/faces", FaceExpressionArray)
    probe.subscribe("/diagnostics", DiagnosticArray)
    key = b"robot key"
    params = {"hmac_key": key.decode(), "state_dir": str(ros_processes.log_dir / "bridge_state"), "max_age_ms": 0.0}
    bridge, port = start_bridge(ros_processes, **params)
    old = H.SimulatedCamera("cam-r", 100, key)
    recorded = [old.meta()] + [old.frame() for _ in range(19)]  # an earlier session, recorded on the network
    live_cam = H.SimulatedCamera("cam-r", 101, key)
    sock, attacker = udp("127.0.0.2"), udp("127.0.0.1")

    def run_live(frames: int) -> None:
        sock.sendto(live_cam.meta(), ("127.0.0.1", port))
        for k in range(frames):
            sock.sendto(live_cam.frame(), ("127.0.0.1", port))
            for i in range(20):  # replayed at 1000 datagrams/s
                attacker.sendto(recorded[(k * 20 + i) % len(recorded)], ("127.0.0.1", port))
            time.sleep(0.02)

    try:
        for d in recorded:  # the earlier session was live once
            sock.sendto(d, ("127.0.0.1", port))
        time.sleep(0.3)
        after = len(probe.messages("/diagnostics"))
        warmup = until_published(probe, sock, port, live_cam)
        run_live(100)
        assert live_frames_published(probe, "cam-r", warmup, 100, after) >= 99
        assert bridge.stop() == 0
        bridge, port = start_bridge(ros_processes, **params)  # restarted: the replay is still refused
        for d in recorded:
            attacker.sendto(d, ("127.0.0.1", port))
        time.sleep(0.5)
        after = len(probe.messages("/diagnostics"))
        warmup = until_published(probe, sock, port, live_cam)
        run_live(100)
        assert live_frames_published(probe, "cam-r", warmup, 100, after) >= 99
    finally:
        sock.close()
        attacker.close()
    _, _, values = diagnostics_values(
        probe, "maixcam_bridge: receiver", predicate=lambda item: int(item[2]["old_session"]) >= 2000
    )
    assert values["internal_errors"] == "0" and values["auth_errors"] == "0"
