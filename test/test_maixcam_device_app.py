"""The unmodified MaixCAM app (maixcam_bridge/main.py) on the fake ``maix`` (test/fake_maix), to a UDP socket.

The app runs as its own process, exactly as on the device (``python main.py [config]``); only PYTHONPATH
differs, so that ``import maix`` finds the fake backed by YuNet and the peer expression model.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from maixcam_bridge import fer_maix_protocol as P

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "maixcam_bridge" / "main.py"
FAKE_MAIX = REPO / "test" / "fake_maix"
CANONICAL = ["angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral"]


def app_env(media: Path | str, frames: int, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(FAKE_MAIX),
        FAKE_MAIX_MEDIA=str(media),
        FAKE_MAIX_FRAMES=str(frames),
        FAKE_MAIX_FPS="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class Receiver:
    """A UDP socket on an ephemeral loopback port that keeps every datagram."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def drain(self, timeout_s: float = 0.5) -> list[bytes]:
        self.sock.settimeout(timeout_s)
        out = []
        try:
            while True:
                out.append(self.sock.recv(65535))
        except TimeoutError:
            return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def receiver():
    rx = Receiver()
    yield rx
    rx.close()


def write_config(tmp_path: Path, port: int, **overrides) -> Path:
    cfg = {
        "device_name": "cam-test",
        "destination": {"host": "127.0.0.1", "port": port},
        "display": True,
        **overrides,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return path


def run_app(config: Path, env: dict[str, str], timeout_s: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, str(APP), str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=APP.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def decode_all(datagrams: list[bytes], key=None) -> tuple[list[P.MetaMessage], list[P.FrameMessage]]:
    msgs = [P.decode(d, key) for d in datagrams]
    return [m for m in msgs if isinstance(m, P.MetaMessage)], [
        m for m in msgs if isinstance(m, P.FrameMessage)
    ]


def test_one_datagram_per_frame_with_the_right_face(tmp_path, receiver, shared_dir) -> None:
    media = shared_dir / "media" / "ros4hri" / "user_happy.jpg"
    frames = 12
    proc = run_app(write_config(tmp_path, receiver.port), app_env(media, frames))
    assert f"{frames} frames, {frames + 1} datagrams sent, 0 send errors, 0 frame errors" in proc.stdout
    datagrams = receiver.drain()
    metas, frame_msgs = decode_all(datagrams)
    assert isinstance(P.decode(datagrams[0]), P.MetaMessage)  # labels come first
    assert metas[0].labels == tuple(CANONICAL)
    assert metas[0].info["models"]["detector"] == "/root/models/yolov8n_face.mud"
    assert len(frame_msgs) == frames
    seqs = [P.decode(d).seq for d in datagrams]
    assert seqs == list(range(1, len(datagrams) + 1))
    assert len({m.session_id for m in metas + frame_msgs}) == 1
    for m in frame_msgs:
        assert m.device_id == "cam-test" and (m.width, m.height) == (320, 224)
        assert m.labels_crc == metas[0].labels_crc and m.class_count == 7
        assert m.capture_time_us <= m.send_time_us
        assert len(m.faces) == 1 and m.faces_detected == 1 and not m.truncated
        (face,) = m.faces
        assert face.classified and CANONICAL[face.top_class] == "happy" and face.scores[face.top_class] > 0.9
        assert sum(face.scores) == pytest.approx(1.0, abs=1e-3)
        assert all(v >= 0 for v in face.keypoints)
        assert face.track_id == frame_msgs[0].faces[0].track_id != 0

    # the same frame through the fake models in this process gives the same box
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    sys.path.insert(0, str(FAKE_MAIX))
    try:
        os.environ["FAKE_MAIX_MEDIA"] = str(media)
        from maix import camera, nn

        det = nn.YOLOv8(model="/root/models/yolov8n_face.mud", dual_buff=False)
        img = camera.Camera(320, 224, det.input_format()).read()
        (obj,) = det.detect(img, conf_th=0.5, iou_th=0.45, keypoint_th=0.5, sort=1)
    finally:  # leave no trace of the fake in the test process
        sys.path.remove(str(FAKE_MAIX))
        os.environ.pop("FAKE_MAIX_MEDIA", None)
        for name in [m for m in sys.modules if m == "maix" or m.startswith("maix.")]:
            del sys.modules[name]
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    face = frame_msgs[0].faces[0]
    assert (face.x, face.y, face.w, face.h) == (obj.x, obj.y, obj.w, obj.h)
    assert list(face.keypoints) == obj.points


def test_frames_without_faces_are_still_sent(tmp_path, receiver) -> None:
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((240, 320, 3), 90, np.uint8))
    run_app(write_config(tmp_path, receiver.port), app_env(blank, 5))
    _, frames = decode_all(receiver.drain())
    assert len(frames) == 5 and all(m.faces == [] and m.faces_detected == 0 for m in frames)


def test_faces_over_max_faces_are_truncated_biggest_first(tmp_path, receiver, shared_dir) -> None:
    media = shared_dir / "media" / "pyfeat" / "multi_face.jpg"
    run_app(write_config(tmp_path, receiver.port, max_faces=2), app_env(media, 3))
    _, frames = decode_all(receiver.drain())
    assert len(frames) == 3
    for m in frames:
        assert m.faces_detected == 5 and len(m.faces) == 2 and m.truncated
        assert m.faces[0].w * m.faces[0].h >= m.faces[1].w * m.faces[1].h
        assert all(f.classified for f in m.faces)


def test_classification_is_skipped_when_an_eye_is_invalid(tmp_path, receiver, shared_dir) -> None:
    # the astronaut's face shifted so that its image-left eye falls outside the frame (still detected)
    src = cv2.imread(str(shared_dir / "media" / "astronaut.png"))
    canvas = np.zeros((358, 512, 3), np.uint8)
    part = src[0:358, 232:]
    canvas[:, : part.shape[1]] = part
    media = tmp_path / "half_face.png"
    cv2.imwrite(str(media), canvas)
    run_app(write_config(tmp_path, receiver.port), app_env(media, 2))
    _, frames = decode_all(receiver.drain())
    faces = [f for m in frames for f in m.faces]
    assert faces, "the half face was not detected: the fixture image no longer does its job"
    for f in faces:
        assert f.flags & P.FACE_EYES_INVALID and not f.classified
        assert f.top_class is None and f.scores == (0.0,) * 7
        assert f.keypoints[:2] == (-1, -1)


def test_datagrams_carry_an_hmac_tag_with_a_key(tmp_path, receiver, shared_dir) -> None:
    media = shared_dir / "media" / "astronaut.png"
    run_app(write_config(tmp_path, receiver.port, hmac_key="robot-lab"), app_env(media, 3))
    datagrams = receiver.drain()
    metas, frames = decode_all(datagrams, key=b"robot-lab")
    assert metas and len(frames) == 3 and all(m.authenticated for m in metas + frames)
    assert CANONICAL[frames[0].faces[0].top_class] == "happy"
    with pytest.raises(P.AuthenticationError):
        P.decode(datagrams[1], b"another key")


def test_send_errors_are_counted_and_never_stop_the_loop(tmp_path, shared_dir) -> None:
    # sendto() to the broadcast address without SO_BROADCAST fails (EACCES) on every datagram
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"device_name": "cam-x", "destination": {"host": "255.255.255.255", "port": 9}})
    )
    proc = run_app(config, app_env(shared_dir / "media" / "astronaut.png", 6))
    assert "6 frames, 0 datagrams sent, 7 send errors, 0 frame errors" in proc.stdout


def test_a_bad_config_is_reported_and_the_app_ends(tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"device_name": "not a valid name!"}))
    proc = subprocess.Popen(
        [sys.executable, str(APP), str(config)],
        env=app_env(REPO, 1),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=APP.parent,
    )
    time.sleep(3)  # the app shows the error on the screen until the user leaves (app.need_exit())
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1
    assert "failed to start" in out and "device_name" in out
