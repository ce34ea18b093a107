"""The unmodified MaixCAM app (maixcam_bridge/main.py) on the fake ``maix`` (test/fake_maix), to a UDP socket.

The app runs as its own process, exactly as on the device (``python main.py [config]``); only PYTHONPATH
differs, so that ``import maix`` finds the fake backed by YuNet and the peer expression model.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from maixcam_helpers import FERPLUS, fake_device, write_model

from fer_ros.core.model_metadata import load_model_metadata
from maixcam_bridge import fer_maix_protocol as P

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "maixcam_bridge" / "main.py"
FAKE_MAIX = REPO / "test" / "fake_maix"
APP_DIR = REPO / "maixcam_bridge"
CANONICAL = ["angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral"]
FERPLUS_LABELS = ("neutral", "happy", "surprised", "sad", "angry", "disgusted", "scared", "contempt")


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


# ---------------------------------------------------------------------------------------------- issue 13


def test_the_app_runs_fer_ros_model_on_aligned_faces(tmp_path, receiver, shared_dir) -> None:
    """With fer_ros's model installed (its .mud from make maixcam-model) the app uses it, aligned as on the PC,
    and says so in META."""
    mud = write_model(tmp_path / "models")
    media = shared_dir / "media" / "ros4hri" / "user_happy.jpg"
    config = write_config(tmp_path, receiver.port, classifier={"model": str(mud)})
    proc = run_app(config, app_env(media, 4))
    assert "classifier fer_ros_ferplus (similarity)" in proc.stdout
    metas, frames = decode_all(receiver.drain())
    info = metas[0].info
    assert metas[0].labels == FERPLUS_LABELS
    assert info["models"]["classifier"] == str(mud)
    assert info["models"]["classifier_name"] == "fer_ros_ferplus" and info["models"]["alignment"] == "similarity"
    assert info["thresholds"]["crop_scale"] == 1.0 and info["app"] == "fer_ros_bridge"
    assert info["models"]["temperature"] == pytest.approx(load_model_metadata(FERPLUS).temperature, abs=1e-6)
    assert len(frames) == 4
    for m in frames:
        assert m.class_count == 8 and m.labels_crc == metas[0].labels_crc
        (face,) = m.faces
        assert face.classified and FERPLUS_LABELS[face.top_class] == "happy"
        assert sum(face.scores) == pytest.approx(1.0, abs=1e-3)


def test_the_stock_model_gets_maixpys_crop_at_0_9(tmp_path, receiver, shared_dir) -> None:
    run_app(write_config(tmp_path, receiver.port), app_env(shared_dir / "media" / "astronaut.png", 2))
    metas, _ = decode_all(receiver.drain())
    info = metas[0].info
    assert info["models"]["classifier"] == "/root/models/face_emotion.mud"
    assert info["models"]["alignment"] == "crop_image" and info["thresholds"]["crop_scale"] == 0.9


def test_each_camera_keeps_its_settings_in_the_app_data_folder(tmp_path, receiver, shared_dir) -> None:
    """No config argument: the app folder's config.json, then this camera's own in app.get_app_data_path()."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "config.json").write_text(
        json.dumps({"device_name": "cam-data", "destination": {"host": "127.0.0.1", "port": receiver.port}})
    )
    env = app_env(shared_dir / "media" / "astronaut.png", 2, FAKE_MAIX_DATA_DIR=str(data))
    env.pop("FER_MAIX_CONFIG", None)
    proc = subprocess.run(
        [sys.executable, str(APP)], env=env, capture_output=True, text=True, timeout=60, cwd=APP.parent
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    metas, frames = decode_all(receiver.drain())
    assert len(frames) == 2 and {m.device_id for m in metas + frames} == {"cam-data"}


def test_first_start_writes_the_camera_settings_file(tmp_path) -> None:
    data = tmp_path / "data"
    with fake_device(data) as d:
        paths, camera_file = d.main.config_sources(["main.py"])
        assert camera_file and paths == [str(APP_DIR / "config.json"), str(data / "config.json")]
        cfg = d.main.load_config(paths)
        assert d.main.write_camera_config(paths[-1], cfg)
        written = json.loads((data / "config.json").read_text())
        assert set(written) == {"device_name", "destination", "hmac_key"}
        written["device_name"] = "cam-7"
        (data / "config.json").write_text(json.dumps(written))
        assert not d.main.write_camera_config(paths[-1], cfg)  # never overwritten
        assert d.main.load_config(paths)["device_name"] == "cam-7"
        # an explicit file replaces the camera's own
        paths, camera_file = d.main.config_sources(["main.py", str(tmp_path / "other.json")])
        assert not camera_file and paths[-1] == str(tmp_path / "other.json")


def test_a_start_up_failure_is_shown_on_the_apps_one_display(tmp_path, shared_dir) -> None:
    """The fake, like the device, has one video output: show_fatal must reuse the display the app opened."""
    config = write_config(tmp_path, 9, classifier={"model": str(tmp_path / "missing.mud")})
    shown = tmp_path / "screen"
    proc = subprocess.Popen(
        [sys.executable, str(APP), str(config)],
        env=app_env(shared_dir / "media" / "astronaut.png", 1, FAKE_MAIX_DISPLAY_DIR=str(shown)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=APP.parent,
    )
    deadline = time.monotonic() + 20
    while not (shown / "last_frame.png").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 1 and "failed to start" in out and "missing.mud" in out
    screen = cv2.imread(str(shown / "last_frame.png"))
    assert screen is not None and screen.max() > 0  # the error text is on the screen
    with fake_device(tmp_path / "data") as d:
        disp = d.display.Display()
        with pytest.raises(Exception, match="already taken"):
            d.display.Display()  # a second display cannot be had while the first is open
        d.main.show_fatal("boom", 0, disp)
        assert disp.frames_shown == 1


def test_app_id_and_packaging() -> None:
    app_yaml = (APP_DIR / "app.yaml").read_text()
    app_id = re.search(r"^id:\s*(\S+)", app_yaml, re.M).group(1)
    excluded = re.findall(r"^\s*-\s*(\S+)", app_yaml.split("exclude:", 1)[1], re.M)
    assert {"dist", "tools", "data", "README.md", "PROTOCOL.md"} <= set(excluded)
    source = (APP_DIR / "main.py").read_text()
    assert re.search(r'^APP_ID = "([^"]+)"', source, re.M).group(1) == app_id
    assert re.search(r"^APP_NAME = APP_ID$", source, re.M)


# ---------------------------------------------------------------------------------------------- the fake


def test_the_fake_follows_maixcdk_on_keypoints_boxes_results_softmax_and_formats(tmp_path, shared_dir) -> None:
    src = cv2.imread(str(shared_dir / "media" / "astronaut.png"))
    cut = np.zeros((358, 512, 3), np.uint8)
    cut[:, : 512 - 232] = src[0:358, 232:]
    media = tmp_path / "half_face.png"
    cv2.imwrite(str(media), cut)
    with fake_device(tmp_path / "data", FAKE_MAIX_MEDIA=str(shared_dir / "media" / "astronaut.png")) as d:
        det = d.nn.YOLOv8(model="/root/models/yolov8n_face.mud", dual_buff=False)
        frame = d.camera.Camera(320, 224, det.input_format()).read()
        objs = det.detect(frame, conf_th=0.5, iou_th=0.45, keypoint_th=0.5, sort=1)
        # 5. nn.Objects: int indices, len, iteration; no slices, no negative indices
        assert isinstance(objs, d.nn.Objects) and len(objs) == 1 and list(objs)[0] is objs[0]
        with pytest.raises(TypeError):
            objs[0:1]
        with pytest.raises(IndexError):
            objs[-1]
        # 1. keypoints are -1, -1 when their confidence is <= keypoint_th, wherever they are
        assert min(objs[0].points) >= 0
        score = objs[0].score
        (low,) = det.detect(frame, conf_th=0.5, iou_th=0.45, keypoint_th=score, sort=1)
        assert low.points == [-1] * 10
        # 3. to_format to the same format raises; RGB -> gray with MaixCDK's integer weights
        with pytest.raises(Exception, match="not supported"):
            frame.to_format(frame.format())
        rgb = frame.array().astype(int)
        gray = frame.to_format(d.image.Format.FMT_GRAYSCALE).array()
        np.testing.assert_array_equal(gray, (rgb[..., 0] * 38 + rgb[..., 1] * 75 + rgb[..., 2] * 15) >> 7)
        # 2. classify: softmax of the raw output, nothing else
        mud = write_model(tmp_path / "m")
        clf = d.nn.Classifier(model=str(mud), dual_buff=False)
        aligner = d.main.align.FaceAligner(d.main.align.read_mud(str(mud)).template, 48, 48)
        box = (objs[0].x, objs[0].y, objs[0].w, objs[0].h)
        crop = d.main.aligned_crop(aligner, frame.to_format(d.image.Format.FMT_GRAYSCALE), box, list(objs[0].points))
        raw = dict(clf.classify(crop, softmax=False))
        soft = dict(clf.classify(crop, softmax=True))
        logits = np.array([raw[i] for i in range(8)])
        expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        np.testing.assert_allclose([soft[i] for i in range(8)], expected, rtol=1e-6)
        assert logits.min() < 0 < logits.max()  # raw scores, not probabilities
        # 4. boxes are clamped to the image (keypoints are not)
        os.environ["FAKE_MAIX_MEDIA"] = str(media)
        edge = d.camera.Camera(320, 224, det.input_format()).read()
        boxes = [(o.x, o.y, o.w, o.h) for o in det.detect(edge, conf_th=0.5, iou_th=0.45, keypoint_th=0.5)]
        assert boxes
        for x, y, w, h in boxes:
            assert x >= 0 and y >= 0 and x + w <= edge.width() and y + h <= edge.height()
