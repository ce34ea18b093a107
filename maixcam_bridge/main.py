"""fer_ros MaixCAM app: face detection + expression classification on the NPU, streamed over UDP.

Per camera frame: ``nn.YOLOv8`` face detector (``nn.YOLO11`` on MaixCAM2) -> per face an aligned crop ->
``nn.Classifier(...).classify(softmax=True)`` -> one UDP datagram (fer_maix_protocol FRAME), also when no face
is seen, so that "no face" differs from "link down". Once a second a META datagram carries labels, models,
thresholds, per-stage timings, temperature and versions. The socket is non-blocking: a send that cannot go out
now is dropped and counted, the vision loop never waits for the network.

The classifier is fer_ros's own model when it is installed (``make maixcam-model``: in the app's ``models/``
folder or in ``/root/models``), else MaixPy's stock ``face_emotion.mud``. fer_ros's model is fed faces aligned
as on the PC (``fer_maix_align``: similarity warp onto the template its ``.mud`` carries, ``Image.affine``);
the stock model gets MaixPy's own crop (``nn.FaceLandmarks(model="").crop_image``, ``crop_scale`` 0.9 as in
MaixPy's face-emotion app).

Configuration, later files overriding earlier ones: ``DEFAULT_CONFIG`` below, ``config.json`` beside this file
(the app's defaults), then this camera's own ``config.json`` in the app data folder (``app.get_app_data_path()``,
MaixCDK's "./data" in the app folder; written with the per-camera keys on first start, never packed by
``app.yaml``), or instead of it the path in argv[1] or in the FER_MAIX_CONFIG environment variable. See
README.md and PROTOCOL.md in this folder.
"""

import json
import math
import os
import socket
import sys

APP_DIR = os.path.dirname(os.path.abspath(__file__))
if APP_DIR not in sys.path:  # fer_maix_protocol.py lives in the app folder
    sys.path.insert(0, APP_DIR)

import fer_maix_align as align  # noqa: E402
import fer_maix_protocol as proto  # noqa: E402
from maix import app, camera, display, image, nn, time  # noqa: E402

try:
    from maix import sys as maix_sys  # noqa: E402
except ImportError:  # older MaixPy
    maix_sys = None

APP_ID = "fer_ros_bridge"  # app.yaml id: the app's folder under /maixapp/apps
APP_NAME = APP_ID
APP_VERSION = "1.0.0"

DEFAULT_CONFIG = {
    "device_name": "maixcam",
    "destination": {"host": "192.168.1.100", "port": 7460},
    "hmac_key": "",
    "detector": {
        "model": "/root/models/yolov8n_face.mud",
        "model_maixcam2": "/root/models/yolo11s_face.mud",
        "conf_th": 0.5,
        "iou_th": 0.45,
        "keypoint_th": 0.5,
    },
    # model "": the first of CLASSIFIER_CANDIDATES that exists. crop_scale: the crop_image framing for models
    # without a fer_ros template (0.9, as MaixPy's face-emotion app uses for face_emotion.mud)
    "classifier": {"model": "", "crop_scale": 0.9},
    "label_map": {},
    "max_faces": 8,
    "display": True,
    "meta_interval_s": 1.0,
    "resolve_retry_s": 5.0,
    "error_hold_s": 10.0,
}

# fer_ros's FER+ model (make maixcam-model), shipped in the app or copied to /root/models; then MaixPy's own.
CLASSIFIER_CANDIDATES = (
    "models/fer_ros_ferplus.mud",
    "/root/models/fer_ros_ferplus.mud",
    "/root/models/face_emotion.mud",
)
CAMERA_KEYS = ("device_name", "destination", "hmac_key")  # what the per-camera config file starts with

STAGES = ("capture", "detect", "crop", "classify", "send", "display", "total")


# ---------------------------------------------------------------------------------------------- config


def _merge(base, override):
    out = dict(base)
    for k, v in override.items():
        out[k] = _merge(base[k], v) if isinstance(v, dict) and isinstance(base.get(k), dict) else v
    return out


def explicit_config_path(argv=None):
    """The config file named on the command line or in FER_MAIX_CONFIG, else None."""
    argv = sys.argv if argv is None else argv
    if len(argv) > 1 and argv[1]:
        return argv[1]
    return os.environ.get("FER_MAIX_CONFIG") or None


def app_data_dir():
    """This app's data folder (``app.get_app_data_path()``: "./data", relative to the app folder)."""
    path = app.get_app_data_path()
    return path if os.path.isabs(path) else os.path.join(APP_DIR, path)


def config_sources(argv=None):
    """The config files to merge, in order: the app's defaults, then the camera's own (or the explicit one)."""
    explicit = explicit_config_path(argv)
    camera = explicit or os.path.join(app_data_dir(), "config.json")
    return [os.path.join(APP_DIR, "config.json"), camera], explicit is None


def _read_json(path):
    with open(path, encoding="utf-8") as f:
        user = json.load(f)
    if not isinstance(user, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return user


def load_config(paths):
    """Defaults overridden by each JSON file of ``paths`` that exists. ValueError when invalid."""
    if isinstance(paths, str):
        paths = [paths]
    cfg = dict(DEFAULT_CONFIG)
    for path in paths:
        if os.path.exists(path):
            cfg = _merge(cfg, _read_json(path))
    if not proto.valid_device_id(cfg["device_name"]):
        raise ValueError(
            "device_name {!r}: use 1..16 characters from A-Z a-z 0-9 _ . -".format(cfg["device_name"])
        )
    port = cfg["destination"]["port"]
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError("destination.port must be 1..65535")
    crop_scale = cfg["classifier"].get("crop_scale")
    if not isinstance(crop_scale, (int, float)) or not 0.25 <= crop_scale <= 4:
        raise ValueError("classifier.crop_scale must be a number in 0.25..4")
    return cfg


def write_camera_config(path, cfg):
    """First start: this camera's settings file, holding the per-camera keys, for the user to edit."""
    if os.path.exists(path):
        return False
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({k: cfg[k] for k in CAMERA_KEYS}, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return True


def choose_classifier(configured):
    """The classifier .mud path: the configured one (relative to the app folder), else the first candidate
    that exists, else MaixPy's stock model (whose absence nn.Classifier then reports)."""
    def resolve(p):
        return p if os.path.isabs(p) else os.path.join(APP_DIR, p)

    if configured:
        return resolve(configured)
    for candidate in CLASSIFIER_CANDIDATES:
        if os.path.exists(resolve(candidate)):
            return resolve(candidate)
    return CLASSIFIER_CANDIDATES[-1]


def canonical_labels(labels, label_map):
    out = []
    for name in labels:
        key = str(name).strip()
        key = label_map.get(key, label_map.get(key.lower(), key.lower()))
        out.append(proto.LABEL_ALIASES.get(key, key))
    return out


# ---------------------------------------------------------------------------------------------- helpers


class UdpSender:
    """Non-blocking UDP sender: a datagram that cannot leave now is dropped and counted, never waited for."""

    def __init__(self, host, port, retry_s):
        self.host, self.port, self.retry_s = host, port, retry_s
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.addr = None
        self._next_resolve_us = 0
        self.sent = 0
        self.errors = 0
        self.last_error = ""

    def _resolve(self):
        now = time.ticks_us()
        if now < self._next_resolve_us:
            return False
        try:  # an IP literal resolves without any network traffic; a host name may block once here
            self.addr = socket.getaddrinfo(self.host, self.port, socket.AF_INET, socket.SOCK_DGRAM)[0][4]
            return True
        except OSError as exc:
            self._next_resolve_us = now + int(self.retry_s * 1e6)
            self.errors += 1
            self.last_error = f"resolve {self.host}: {exc}"
            return False

    def send(self, datagram):
        if self.addr is None and not self._resolve():
            return False
        try:
            self.sock.sendto(datagram, self.addr)
            self.sent += 1
            return True
        except OSError as exc:  # EAGAIN (buffer full), ENETUNREACH (Wi-Fi down), ECONNREFUSED (ICMP), ...
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            return False


class IouTracker:
    """Small track ids that stay stable across frames; pairs are matched by decreasing IoU."""

    def __init__(self, iou_th=0.3, max_missed=5):
        self.iou_th, self.max_missed = iou_th, max_missed
        self.tracks = {}  # id -> [x, y, w, h, missed]
        self._next_id = 1

    @staticmethod
    def _iou(a, b):
        ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
        iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
        if ix <= 0 or iy <= 0:
            return 0.0
        inter = ix * iy
        return inter / float(a[2] * a[3] + b[2] * b[3] - inter)

    def update(self, faces):
        pairs = []
        for tid, t in self.tracks.items():
            for i, f in enumerate(faces):
                iou = self._iou(t, (f.x, f.y, f.w, f.h))
                if iou >= self.iou_th:
                    pairs.append((iou, tid, i))
        pairs.sort(reverse=True)
        used_t, used_f = set(), set()
        for _, tid, i in pairs:
            if tid in used_t or i in used_f:
                continue
            used_t.add(tid)
            used_f.add(i)
            faces[i].track_id = tid
            f = faces[i]
            self.tracks[tid] = [f.x, f.y, f.w, f.h, 0]
        for tid in list(self.tracks):
            if tid not in used_t:
                self.tracks[tid][4] += 1
                if self.tracks[tid][4] > self.max_missed:
                    del self.tracks[tid]
        for i, f in enumerate(faces):
            if i not in used_f:
                tid = self._next_id
                self._next_id = self._next_id % 0xFFFF + 1  # 1..65535, 0 means "no track"
                f.track_id = tid
                self.tracks[tid] = [f.x, f.y, f.w, f.h, 0]


def aligned_crop(aligner, source, box, points):
    """A face warped onto the model's template (fer_maix_align.FaceAligner), at the classifier's input size.

    ``source`` is the frame already in the classifier's format; ``box`` (x, y, w, h) and ``points`` (10 values,
    -1 = invalid) as the detector gives them.
    """
    matrix, _ = aligner.transform(box, points)
    pad = aligner.border_pad(matrix, source.width(), source.height())
    if pad:  # the face reaches past the frame: replicate its edge, as the PC's warp does, instead of black
        source = replicate_border(source, pad)
        matrix = aligner.shifted(matrix, pad, pad)
    k, src, dst, width, height = aligner.warp_plan(matrix)
    crop = source.affine(src, dst, width, height, image.ResizeMethod.BILINEAR)
    if k > 1:  # warped at k times the size: area-reduce, as the PC does
        crop = crop.resize(aligner.width, aligner.height, image.Fit.FIT_FILL, image.ResizeMethod.AREA)
    return crop


def class_scores(classifier, crop, temperature, class_count):
    """``(probabilities in label order, top class or None)`` of one crop.

    With temperature 1 these are ``classify(softmax=True)``'s scores. A fer_ros model calibrated on the PC
    (``fer_ros_temperature`` in its .mud) gets ``softmax(logits / temperature)`` from the raw output, as the PC
    computes its probabilities, so that a score means the same on both.
    """
    res = classifier.classify(crop, softmax=temperature == 1.0)
    scores = [0.0] * class_count
    for idx, score in res:
        if 0 <= idx < class_count:
            scores[idx] = score
    if temperature != 1.0:
        peak = max(scores)
        exps = [math.exp((v - peak) / temperature) for v in scores]
        total = sum(exps)
        scores = [e / total for e in exps]
    top = res[0][0] if res and 0 <= res[0][0] < class_count else None
    return scores, top


def replicate_border(img, pad):
    """``img`` inside a frame of ``pad`` pixels that repeat its edge rows and columns (OpenCV's BORDER_REPLICATE),
    with MaixPy's Image(), crop, resize (nearest) and draw_image."""
    w, h = img.width(), img.height()

    def stretched(strip, width, height):  # a 1-pixel row or column repeated (nearest-neighbour resize)
        return strip.resize(width, height, image.Fit.FIT_FILL, image.ResizeMethod.NEAREST)

    out = image.Image(w + 2 * pad, h + 2 * pad, img.format())
    out.draw_image(pad, pad, img)
    out.draw_image(pad, 0, stretched(img.crop(0, 0, w, 1), w, pad))
    out.draw_image(pad, h + pad, stretched(img.crop(0, h - 1, w, 1), w, pad))
    tall = h + 2 * pad  # the columns, corners included, from the rows already padded
    out.draw_image(0, 0, stretched(out.crop(pad, 0, 1, tall), pad, tall))
    out.draw_image(w + pad, 0, stretched(out.crop(w + pad - 1, 0, 1, tall), pad, tall))
    return out


def read_temperature_c():
    try:
        with open("/sys/class/thermal/thermal_zone0/temp") as f:
            return round(int(f.read().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def device_model():
    try:
        return maix_sys.device_name() if maix_sys is not None else "MaixCAM"
    except Exception:  # noqa: BLE001 - informative only
        return "MaixCAM"


def maixpy_version():
    try:
        import maix

        return str(getattr(maix, "__version__", "unknown"))
    except Exception:  # noqa: BLE001
        return "unknown"


# ---------------------------------------------------------------------------------------------- the app


class ExpressionStreamer:
    """Owns the models, the camera and the sender; ``step()`` processes one frame."""

    def __init__(self, cfg, disp=None):
        self.cfg = cfg
        det = cfg["detector"]
        self.model_name = device_model()
        if self.model_name.lower() == "maixcam2":
            self.detector_model = det["model_maixcam2"]
            self.detector = nn.YOLO11(model=self.detector_model, dual_buff=False)
        else:
            self.detector_model = det["model"]
            self.detector = nn.YOLOv8(model=self.detector_model, dual_buff=False)
        self.classifier_model = choose_classifier(cfg["classifier"].get("model"))
        self.classifier = nn.Classifier(model=self.classifier_model, dual_buff=False)
        info = align.read_mud(self.classifier_model) if os.path.exists(self.classifier_model) else None
        self.classifier_name = info.name if info else os.path.basename(self.classifier_model).rsplit(".", 1)[0]
        cls_w, cls_h = self.classifier.input_width(), self.classifier.input_height()
        if info is not None and info.template is not None:
            # a fer_ros model: faces aligned as on the PC, onto the template its .mud carries
            if info.input_size and tuple(info.input_size) != (cls_w, cls_h):
                raise ValueError(
                    f"{self.classifier_model}: fer_ros_input_size {info.input_size} but the model takes "
                    f"{cls_w}x{cls_h}"
                )
            self.aligner = align.FaceAligner(info.template, cls_w, cls_h, info.crop_scale)
            self.landmarks = None
            self.alignment = "similarity"
            self.crop_scale = info.crop_scale
            self.temperature = info.temperature
        else:  # MaixPy's own model: its own crop (only crop_image is used: no landmarks model is loaded)
            self.aligner = None
            self.landmarks = nn.FaceLandmarks(model="")
            self.alignment = "crop_image"
            self.crop_scale = float(cfg["classifier"]["crop_scale"])
            self.temperature = 1.0
        self.labels = canonical_labels(self.classifier.labels, cfg.get("label_map") or {})
        self.class_count = len(self.labels)
        self.labels_crc = proto.labels_checksum(self.labels)
        self.cam = camera.Camera(
            self.detector.input_width(), self.detector.input_height(), self.detector.input_format()
        )
        self.disp = disp if cfg.get("display") else None
        dest = cfg["destination"]
        self.sender = UdpSender(dest["host"], int(dest["port"]), float(cfg["resolve_retry_s"]))
        self.key = cfg.get("hmac_key") or None
        self.device_id = cfg["device_name"]
        # protocol 1.1: a session id larger than any earlier one of this device (a receiver refuses older ones)
        session_file = cfg.get("session_file") or os.path.join(app_data_dir(), "session_id")
        self.session_id = proto.next_session_id(session_file)
        self.seq = 0
        self.tracker = IouTracker()
        self.started_us = time.ticks_us()
        self.meta_interval_us = int(float(cfg["meta_interval_s"]) * 1e6)
        self.next_meta_us = 0
        self.frames = 0
        self.faces_total = 0
        self.eyes_invalid = 0
        self.frame_errors = 0
        self._error_kinds = set()
        self._window_start_us = self.started_us
        self._window_frames = 0
        self._stage_sums = dict.fromkeys(STAGES, 0)
        self.fps = 0.0
        self.timings_ms = dict.fromkeys(STAGES, 0.0)

    # -- one frame
    def step(self):
        det = self.cfg["detector"]
        cls_w, cls_h = self.classifier.input_width(), self.classifier.input_height()
        cls_fmt = self.classifier.input_format()
        max_faces = int(self.cfg["max_faces"])

        t0 = time.ticks_us()
        img = self.cam.read()
        t_capture = time.ticks_us()
        objs = self.detector.detect(
            img, conf_th=det["conf_th"], iou_th=det["iou_th"], keypoint_th=det["keypoint_th"], sort=1
        )
        t_detect = time.ticks_us()
        crop_us = classify_us = 0
        source = None  # the frame in the classifier's format, converted once for all faces
        faces = []
        for i, obj in enumerate(objs):
            if max_faces > 0 and i >= max_faces:
                break
            pts = list(obj.points)[:10]
            pts += [-1] * (10 - len(pts))
            face = proto.Face(obj.x, obj.y, obj.w, obj.h, obj.score, pts)
            if min(pts[:4]) < 0:  # an eye is missing: the aligned crop would be meaningless
                face.flags |= proto.FACE_EYES_INVALID
                self.eyes_invalid += 1
            else:
                ta = time.ticks_us()
                if self.aligner is not None:
                    if source is None:  # to_format to the same format raises: convert only when needed
                        source = img if img.format() == cls_fmt else img.to_format(cls_fmt)
                    crop = aligned_crop(self.aligner, source, (obj.x, obj.y, obj.w, obj.h), pts)
                else:
                    crop = self.landmarks.crop_image(
                        img, obj.x, obj.y, obj.w, obj.h, obj.points, cls_w, cls_h, self.crop_scale
                    )
                    if crop and crop.format() != cls_fmt:
                        crop = crop.to_format(cls_fmt)  # face_emotion.mud takes grayscale
                tb = time.ticks_us()
                crop_us += tb - ta
                if not crop:
                    face.flags |= proto.FACE_CROP_FAILED
                else:
                    scores, top = class_scores(self.classifier, crop, self.temperature, self.class_count)
                    classify_us += time.ticks_us() - tb
                    face.scores = scores
                    face.top_class = top
                    if face.top_class is not None:
                        face.flags |= proto.FACE_CLASSIFIED
            faces.append(face)
        self.tracker.update(faces)

        t_send = time.ticks_us()
        self.send_frame(faces, len(objs), t_capture, img.width(), img.height())
        t_sent = time.ticks_us()
        if self.disp is not None:
            self.draw(img, faces)
            self.disp.show(img)
        t_end = time.ticks_us()

        self.frames += 1
        self.faces_total += len(faces)
        self._window_frames += 1
        sums = self._stage_sums
        sums["capture"] += t_capture - t0
        sums["detect"] += t_detect - t_capture
        sums["crop"] += crop_us
        sums["classify"] += classify_us
        sums["send"] += t_sent - t_send
        sums["display"] += t_end - t_sent
        sums["total"] += t_end - t0
        if t_end >= self.next_meta_us:
            self.send_meta(t_end)

    def send_frame(self, faces, detected, capture_us, width, height):
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        datagram = proto.encode_frame(
            self.device_id,
            self.session_id,
            self.seq,
            time.ticks_us(),
            capture_us,
            width,
            height,
            self.labels_crc,
            self.class_count,
            faces,
            faces_detected=detected,
            key=self.key,
        )
        self.sender.send(datagram)

    def send_meta(self, now_us):
        elapsed = max(now_us - self._window_start_us, 1)
        if self._window_frames:
            self.fps = round(self._window_frames * 1e6 / elapsed, 2)
            self.timings_ms = {
                k: round(v / 1000.0 / self._window_frames, 2) for k, v in self._stage_sums.items()
            }
        self._window_start_us = now_us
        self._window_frames = 0
        self._stage_sums = dict.fromkeys(STAGES, 0)
        det = self.cfg["detector"]
        info = {
            "labels": self.labels,
            "app": APP_NAME,
            "app_version": APP_VERSION,
            "protocol": f"{proto.VERSION_MAJOR}.{proto.VERSION_MINOR}",
            "maixpy": maixpy_version(),
            "device_model": self.model_name,
            "models": {
                "detector": self.detector_model,
                "classifier": self.classifier_model,
                "classifier_name": self.classifier_name,
                "alignment": self.alignment,
                "temperature": self.temperature,
            },
            "thresholds": {
                "conf_th": det["conf_th"],
                "iou_th": det["iou_th"],
                "keypoint_th": det["keypoint_th"],
                "crop_scale": self.crop_scale,
                "max_faces": self.cfg["max_faces"],
            },
            "frame": [self.cam.width(), self.cam.height()],
            "fps": self.fps,
            "timings_ms": self.timings_ms,
            "temperature_c": read_temperature_c(),
            "uptime_s": round((now_us - self.started_us) / 1e6, 1),
            "frames": self.frames,
            "faces": self.faces_total,
            "eyes_invalid": self.eyes_invalid,
            "frame_errors": self.frame_errors,
            "send_errors": self.sender.errors,
            "last_send_error": self.sender.last_error[:80],
        }
        self.seq = (self.seq + 1) & 0xFFFFFFFF
        self.sender.send(
            proto.encode_meta(self.device_id, self.session_id, self.seq, time.ticks_us(), info, key=self.key)
        )
        self.next_meta_us = now_us + self.meta_interval_us

    def draw(self, img, faces):
        for face in faces:
            ok = face.top_class is not None
            color = image.COLOR_GREEN if ok else image.COLOR_RED
            img.draw_rect(face.x, face.y, face.w, face.h, color, 2)
            text = f"{self.labels[face.top_class]} {face.scores[face.top_class]:.2f}" if ok else "?"
            img.draw_string(face.x, max(face.y - 16, 0), text, color)
        img.draw_string(
            2, 2, f"{self.fps:.1f} fps -> {self.sender.host}:{self.sender.port}", image.COLOR_WHITE
        )

    def note_error(self, exc):
        """A frame that failed: count it, print the first of each kind, go on with the next frame."""
        self.frame_errors += 1
        kind = type(exc).__name__
        if kind not in self._error_kinds:
            self._error_kinds.add(kind)
            print(f"frame error ({kind}): {exc}")


def show_fatal(message, hold_s, disp=None):
    """Print a failure, show it on the screen for ``hold_s`` seconds (or until the user exits).

    ``disp`` is the display the app already opened, if any: each ``display.Display()`` takes a video-output
    channel, so a second one may never show anything. Opened here only when the app has none yet.
    """
    print(message)
    try:
        if disp is None:
            disp = display.Display()
        img = image.Image(disp.width(), disp.height())
        img.draw_string(0, 0, message[-600:], image.COLOR_WHITE)
        disp.show(img)
        end = time.ticks_ms() + int(hold_s * 1000)
        while not app.need_exit() and time.ticks_ms() < end:
            time.sleep_ms(100)
    except Exception:  # noqa: BLE001 - the message is already printed
        pass


def main(argv=None):
    disp = None
    paths = [explicit_config_path(argv) or "(none)"]
    try:
        paths, camera_file = config_sources(argv)
        cfg = load_config(paths)
        if camera_file and write_camera_config(paths[-1], cfg):
            print(f"fer_ros app: wrote this camera's settings to {paths[-1]}: edit destination and device_name there")
        if cfg.get("display"):
            disp = display.Display()  # the one display of the app, also used by show_fatal
        streamer = ExpressionStreamer(cfg, disp)
    except Exception:  # noqa: BLE001 - any start-up failure is shown to the user, then the app ends
        import traceback

        show_fatal(
            f"fer_ros app failed to start (config {paths[-1]}):\n{traceback.format_exc()}",
            float(DEFAULT_CONFIG["error_hold_s"]),
            disp,
        )
        return 1
    print(
        f"fer_ros MaixCAM app {APP_VERSION}: device {streamer.device_id} session {streamer.session_id:08x} "
        f"-> {streamer.sender.host}:{streamer.sender.port}, classifier {streamer.classifier_name} "
        f"({streamer.alignment}), labels {','.join(streamer.labels)}"
    )
    streamer.send_meta(time.ticks_us())  # labels first, so the bridge can publish the very first frame
    while not app.need_exit():
        try:
            streamer.step()
        except Exception as exc:  # noqa: BLE001 - one bad frame must not end the stream
            streamer.note_error(exc)
            if streamer.frame_errors > 1000 and streamer.frame_errors > 10 * max(streamer.frames, 1):
                show_fatal(f"fer_ros app: too many frame errors, last: {exc!r}", float(cfg["error_hold_s"]), disp)
                return 1
    print(
        f"fer_ros MaixCAM app: {streamer.frames} frames, {streamer.sender.sent} datagrams sent, "
        f"{streamer.sender.errors} send errors, {streamer.frame_errors} frame errors"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
