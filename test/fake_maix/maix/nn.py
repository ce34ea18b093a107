"""maix.nn: the three models the MaixCAM app uses, backed by onnxruntime on the PC.

* ``YOLOv8`` / ``YOLO11`` (face model): YuNet (``FAKE_MAIX_YUNET``). Input 320x224 RGB888 like MaixPy's
  ``yolov8n_face.mud``; objects carry ``x, y, w, h`` (int), ``score``, ``class_id`` = 0 and ``points`` =
  10 ints (image-left eye, image-right eye, nose, image-left / image-right mouth corner).
* ``FaceLandmarks(model="")``: only ``crop_image``, reproducing MaixCDK's rotated-square affine crop
  (centre of the box, side ``int(max(w, h) * scale)``, rotated by the eye line, nearest-neighbour sampling).
* ``Classifier``: a ``.mud`` that exists is read as MaixCDK reads it ([extra] ``model_type = classifier``,
  ``input_type``, ``mean``, ``scale``, ``labels``), with the ONNX model of the same name beside it (or
  ``FAKE_MAIX_CLASSIFIER``) as its network, fed ``(pixel - mean) * scale`` as the NPU is; any other path (the
  device's ``/root/models/face_emotion.mud``) stands for MaixPy's stock model: the peer mini-Xception
  (``FAKE_MAIX_CLASSIFIER``, default ``shared/models/peers``), labels ``angry, disgust, fear, happy, sad,
  surprise, neutral``. ``classify`` returns every class as ``(index, score)`` sorted by score, highest first.

Where MaixCDK's behaviour matters to the app, the fake follows its sources (sipeed/MaixCDK, read at the commits
given; functions and statements are quoted instead of line numbers, which move):

1. Keypoints: ``components/nn/include/maix_nn_yolov8.hpp`` (ac493fa), ``YOLOv8::_decode_keypoints``: ``float score =
   _sigmoid(...)``, ``int x = -1; int y = -1; if (score > _keypoint_th) { x = ...; y = ...; }``: a keypoint whose
   confidence is <= ``keypoint_th`` is ``-1, -1``, wherever it lies. YuNet has no keypoint confidence, so the
   fake gives each keypoint one: the detection score when it lies inside the frame, 0 outside (a point the
   camera does not see is labelled not visible in pose training), and applies that rule.
2. Softmax: ``maix_nn_classifier.hpp`` (6bfbf96), ``Classifier::classify``: ``if (softmax) maix::nn::F::softmax(tensor,
   true);`` on the network's raw output, nothing else. The fake does the same; the stand-in network for
   ``face_emotion.mud`` (which, like the real one, outputs raw scores) is the peer's log-probabilities.
3. ``Image.to_format`` to the same format raises (see ``image.py``).
4. Boxes: ``maix_nn_yolov8.hpp``, ``YOLOv8::_nms`` and ``_correct_bbox`` (``CORRECT_BBOX_RANGE_YOLOV8``): a box
   is clamped to the image (``if (obj->x < 0) { obj->w += obj->x; obj->x = 0; }`` ..., ``if (obj->x + obj->w >
   img_w) obj->w = img_w - obj->x;``); keypoints are not clamped.
5. Results: ``YOLOv8::detect`` returns ``nn::Objects *`` (``maix_nn_object.hpp`` (53edc3d), ``class Objects``: ``add``,
   ``remove``, ``at``, ``__getitem__(int idx)`` via ``objs.at(idx)``, ``__len__``, ``__iter__``): indexable by
   int only, no slicing, no negative indices.
"""

from __future__ import annotations

import configparser
import json
import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from . import _env, err, image

# MaixPy's face_emotion.mud labels (FER2013 order).
FACE_EMOTION_LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _session(path: Path) -> ort.InferenceSession:
    if not path.is_file():
        raise err.Exception(f"fake maix.nn: model file {path} not found")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = _env.env_int("FAKE_MAIX_THREADS", 1)
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _check_mud(model: str) -> None:
    # The app passes the device's .mud path: the fake does not read it, but insists on the real call's shape.
    if not model.endswith(".mud"):
        raise err.Exception(f"fake maix.nn: MaixPy models are .mud files, got {model!r}")


class Object:
    def __init__(
        self,
        x: int = 0,
        y: int = 0,
        w: int = 0,
        h: int = 0,
        class_id: int = 0,
        score: float = 0,
        points: list[int] | None = None,
        angle: float = -9999,
    ):
        self.x, self.y, self.w, self.h = int(x), int(y), int(w), int(h)
        self.class_id = int(class_id)
        self.score = float(score)
        self.points = list(points or [])
        self.angle = angle

    def __str__(self) -> str:
        return (
            f"x: {self.x}, y: {self.y}, w: {self.w}, h: {self.h}, class_id: {self.class_id}, "
            f"score: {self.score}"
        )


class Objects:
    """``nn.Objects``: what ``detect`` returns. Int indices only (``std::vector::at``), no slices."""

    def __init__(self) -> None:
        self._objs: list[Object] = []

    def add(
        self,
        x: int = 0,
        y: int = 0,
        w: int = 0,
        h: int = 0,
        class_id: int = 0,
        score: float = 0,
        points: list[int] | None = None,
        angle: float = -1,
    ) -> Object:
        obj = Object(x, y, w, h, class_id, score, points, angle)
        self._objs.append(obj)
        return obj

    def remove(self, idx: int) -> err.Err:
        if not isinstance(idx, int) or not 0 <= idx < len(self._objs):
            return err.Err.ERR_ARGS
        del self._objs[idx]
        return err.Err.ERR_NONE

    def at(self, idx: int) -> Object:
        if not isinstance(idx, int):
            raise TypeError("at(): incompatible function arguments (idx: int)")
        if not 0 <= idx < len(self._objs):  # size_t index: a negative one is out of range too
            raise IndexError("vector::_M_range_check")
        return self._objs[idx]

    def __getitem__(self, idx: int) -> Object:
        return self.at(idx)

    def __len__(self) -> int:
        return len(self._objs)

    def __iter__(self) -> Iterator[Object]:
        return iter(list(self._objs))


class YOLOv8:
    """Face detector with MaixPy's YOLOv8 interface, computed by YuNet."""

    INPUT_SIZE = (320, 224)

    def __init__(self, model: str = "", dual_buff: bool = True):
        _check_mud(model)
        self.model_path = model
        self.dual_buff = dual_buff
        self.labels = ["face"]
        self.label_path = ""
        self.mean = [0.0, 0.0, 0.0]
        self.scale = [1.0, 1.0, 1.0]
        default = _env.shared_dir() / "models" / "yunet" / "yunet_n_dynamic.onnx"
        self._session = _session(_env.env_path("FAKE_MAIX_YUNET", default))
        self._input_name = self._session.get_inputs()[0].name
        self._output_names = [o.name for o in self._session.get_outputs()]

    def input_width(self) -> int:
        return self.INPUT_SIZE[0]

    def input_height(self) -> int:
        return self.INPUT_SIZE[1]

    def input_size(self) -> image.Size:
        return image.Size(*self.INPUT_SIZE)

    def input_format(self) -> image.Format:
        return image.Format.FMT_RGB888

    def detect(
        self,
        img: image.Image,
        conf_th: float = 0.5,
        iou_th: float = 0.45,
        fit: image.Fit = image.Fit.FIT_CONTAIN,
        keypoint_th: float = 0.5,
        sort: int = 0,
    ) -> Objects:
        if img.format() != self.input_format():
            raise err.Exception(
                f"image format not match, input_type: FMT_RGB888, image format: {img.format().name}"
            )
        w_in, h_in = self.INPUT_SIZE
        net_img, (scale, pad_x, pad_y) = image.fit_array(img.array(), w_in, h_in, image.Fit(fit))
        blob = cv2.cvtColor(net_img, cv2.COLOR_RGB2BGR).astype(np.float32).transpose(2, 0, 1)[None]
        outs = dict(
            zip(
                self._output_names,
                self._session.run(self._output_names, {self._input_name: blob}),
                strict=False,
            )
        )
        boxes, scores, kps = [], [], []
        for s in (8, 16, 32):
            cls = outs[f"cls_{s}"][0, :, 0]
            obj = outs[f"obj_{s}"][0, :, 0]
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            keep = np.nonzero(score > conf_th)[0]
            if keep.size == 0:
                continue
            cols = w_in // s
            row, col = np.divmod(keep, cols)
            bb = outs[f"bbox_{s}"][0, keep]
            cx, cy = (col + bb[:, 0]) * s, (row + bb[:, 1]) * s
            bw, bh = np.exp(bb[:, 2]) * s, np.exp(bb[:, 3]) * s
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, bw, bh], 1))
            k = outs[f"kps_{s}"][0, keep].reshape(-1, 5, 2)
            kps.append(np.stack([(col[:, None] + k[:, :, 0]) * s, (row[:, None] + k[:, :, 1]) * s], 2))
            scores.append(score[keep])
        result = Objects()
        if not boxes:
            return result
        boxes_a, scores_a, kps_a = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
        idx = cv2.dnn.NMSBoxes(boxes_a.tolist(), scores_a.tolist(), conf_th, iou_th)
        idx = np.array(idx, dtype=int).reshape(-1)
        sx = 1.0 / scale
        img_w, img_h = img.width(), img.height()
        found = []
        for i in idx:
            x, y, bw, bh = boxes_a[i]
            pts: list[int] = []
            for px, py in kps_a[i]:
                ix, iy = int((px - pad_x) * sx), int((py - pad_y) * sx)
                confidence = float(scores_a[i]) if 0 <= ix < img_w and 0 <= iy < img_h else 0.0
                pts += [ix, iy] if confidence > keypoint_th else [-1, -1]
            bx, by = int((x - pad_x) * sx), int((y - pad_y) * sx)
            bw, bh = int(bw * sx), int(bh * sx)
            if bx < 0:  # CORRECT_BBOX_RANGE_YOLOV8
                bw, bx = bw + bx, 0
            if by < 0:
                bh, by = bh + by, 0
            bw = min(bw, img_w - bx)
            bh = min(bh, img_h - by)
            found.append((bx, by, bw, bh, float(scores_a[i]), pts))
        if sort:
            found.sort(key=lambda o: o[2] * o[3], reverse=sort > 0)
        for bx, by, bw, bh, score, pts in found:
            result.add(bx, by, bw, bh, 0, score, pts)
        return result


class YOLO11(YOLOv8):
    """MaixCAM2's face model (``yolo11s_face.mud``): same interface."""


class FaceLandmarks:
    def __init__(self, model: str = ""):
        if model:
            raise err.Exception("fake maix.nn.FaceLandmarks only supports model='' (crop_image)")
        self.landmarks_num = 0
        self.mean: list[float] = []
        self.scale: list[float] = []

    def crop_image(
        self,
        img: image.Image,
        x: int,
        y: int,
        w: int,
        h: int,
        points: list[int],
        new_width: int = -1,
        new_height: int = -1,
        scale: float = 1.2,
    ) -> image.Image | None:
        if new_width <= 0 or new_height <= 0:
            raise err.Exception("fake FaceLandmarks has no model: give new_width and new_height")
        if len(points) < 4:
            raise err.Exception("crop_image needs at least the two eye points")
        src = img.array()
        if src.ndim != 3:
            raise err.Exception("crop_image needs a 3-channel image")
        cx, cy = int(x + w * 0.5), int(y + h * 0.5)
        side = int(max(w, h) * scale)
        theta = math.atan2(points[3] - points[1], points[2] - points[0])
        rot = np.array([[math.cos(theta), math.sin(theta)], [-math.sin(theta), math.cos(theta)]], np.float32)
        corners = np.array([[-1, -1], [-1, 1], [1, 1], [1, -1]], np.float32) @ rot * (side * 0.5)
        corners += np.array([cx, cy], np.float32)
        dst = np.array([[0, 0], [0, new_height], [new_width, new_height]], np.float32)
        m = cv2.getAffineTransform(corners[:3], dst)
        out = cv2.warpAffine(src, m, (int(new_width), int(new_height)), flags=cv2.INTER_NEAREST)
        return image.Image.from_array(out, image.Format.FMT_RGB888)


class Classifier:
    """``nn.Classifier``: a fer_ros ``.mud`` read as MaixCDK reads it, or the stand-in for ``face_emotion.mud``."""

    def __init__(self, model: str = "", dual_buff: bool = True):
        _check_mud(model)
        self.model_path = model
        self.dual_buff = dual_buff
        self.label_path = ""
        mud = Path(model)
        if mud.is_file():
            self._load_mud(mud)
        elif model.startswith("/root/models/"):  # the device's model folder: stands for MaixPy's model
            self._load_stand_in()
        else:
            raise err.Exception(f"load model failed: {model} not found")

    def _load_mud(self, mud: Path) -> None:
        """MaixCDK ``Classifier::load``: [extra] model_type must be classifier; input_type rgb, bgr or gray;
        mean and scale (comma-separated floats); labels split on "," (a single name without "," or "." is one
        label). The network: ``<mud stem>.onnx`` beside it, else ``FAKE_MAIX_CLASSIFIER``."""
        ini = configparser.ConfigParser(interpolation=None)
        ini.read(mud, encoding="utf-8")
        if not ini.has_section("extra"):
            raise err.Exception(f"load model failed: {mud} has no [extra] section")
        extra = ini["extra"]
        if extra.get("model_type") != "classifier":
            raise err.Exception(f"load model failed: model_type not match, expect 'classifier' in {mud}")
        input_type = extra.get("input_type", "")
        if input_type not in ("rgb", "bgr", "gray"):
            raise err.Exception(f"load model failed: unknown input type: {input_type!r}")
        self._format = {
            "rgb": image.Format.FMT_RGB888,
            "bgr": image.Format.FMT_BGR888,
            "gray": image.Format.FMT_GRAYSCALE,
        }[input_type]
        try:
            self.mean = [float(v) for v in extra["mean"].split(",")]
            self.scale = [float(v) for v in extra["scale"].split(",")]
        except (KeyError, ValueError):
            raise err.Exception("load model failed: mean/scale missing or not floats") from None
        labels = extra.get("labels", "")
        self.labels = labels.split(",") if "," in labels else [labels]
        onnx_path = mud.with_suffix(".onnx")
        if not onnx_path.is_file():
            onnx_path = _env.env_path("FAKE_MAIX_CLASSIFIER", onnx_path)
        self._session = _session(onnx_path)
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        self._nhwc = False
        self._h, self._w = int(inp.shape[2]), int(inp.shape[3])
        self._log_of_output = False

    def _load_stand_in(self) -> None:
        default = _env.shared_dir() / "models" / "peers" / "fer_mini_xception_64.onnx"
        path = _env.env_path("FAKE_MAIX_CLASSIFIER", default)
        self._session = _session(path)
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        shape = inp.shape
        meta = self._session.get_modelmeta().custom_metadata_map
        sidecar = Path(__file__).resolve().parents[3] / "fer_ros" / "models" / "sidecars" / f"{path.stem}.json"
        if not any(k.startswith("fer_ros.") for k in meta) and sidecar.is_file():
            meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in json.loads(sidecar.read_text()).items()}
        self._nhwc = meta.get("fer_ros.layout", "NHWC" if shape[-1] in (1, 3) else "NCHW") == "NHWC"
        size = (
            json.loads(meta["fer_ros.input_size"])
            if "fer_ros.input_size" in meta
            else ([shape[2], shape[1]] if self._nhwc else [shape[3], shape[2]])
        )
        self._w, self._h = int(size[0]), int(size[1])
        gray = meta.get("fer_ros.color", "gray") == "gray"
        self._format = image.Format.FMT_GRAYSCALE if gray else image.Format.FMT_RGB888
        mean = float(json.loads(meta.get("fer_ros.mean", "[0.5]"))[0])
        std = float(json.loads(meta.get("fer_ros.std", "[0.5]"))[0])
        self.mean = [mean * 255.0]
        self.scale = [1.0 / (std * 255.0)]
        self.labels = list(FACE_EMOTION_LABELS)
        # face_emotion.mud outputs raw scores: a stand-in ending in softmax gives its log-probabilities instead
        self._log_of_output = meta.get("fer_ros.output", "probabilities") == "probabilities"

    def input_width(self) -> int:
        return self._w

    def input_height(self) -> int:
        return self._h

    def input_size(self) -> image.Size:
        return image.Size(self._w, self._h)

    def input_format(self) -> image.Format:
        return self._format

    def input_shape(self) -> list[int]:
        channels = 1 if self._format == image.Format.FMT_GRAYSCALE else 3
        return [1, self._h, self._w, channels] if self._nhwc else [1, channels, self._h, self._w]

    def _network(self, x: np.ndarray) -> np.ndarray:
        """The model's raw output for one preprocessed input (H, W, C) float."""
        x = x[None] if self._nhwc else x.transpose(2, 0, 1)[None]
        out = self._session.run(None, {self._input_name: x.astype(np.float32)})[0].reshape(-1).astype(np.float64)
        return np.log(np.maximum(out, 1e-12)) if self._log_of_output else out

    def classify(
        self, img: image.Image, softmax: bool = True, fit: image.Fit = image.Fit.FIT_COVER
    ) -> list[tuple[int, float]]:
        if img.format() != self.input_format():
            raise err.Exception(
                f"image format not match, input_type: {self.input_format().name}, "
                f"image format: {img.format().name}"
            )
        arr, _ = image.fit_array(img.array(), self._w, self._h, image.Fit(fit))
        arr = arr[..., None] if arr.ndim == 2 else arr
        # the NPU's input: (pixel - mean) * scale per channel, with the .mud's values
        x = (arr.astype(np.float32) - np.array(self.mean, np.float32)) * np.array(self.scale, np.float32)
        out = self._network(x)
        if softmax:  # maix::nn::F::softmax on the raw output, and nothing else
            out = np.exp(out - out.max())
            out /= out.sum()
        order = np.argsort(-out, kind="stable")
        return [(int(i), float(out[i])) for i in order]
