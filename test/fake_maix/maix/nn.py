"""maix.nn: the three models the MaixCAM app uses, backed by onnxruntime on the PC.

* ``YOLOv8`` / ``YOLO11`` (face model): YuNet (``FAKE_MAIX_YUNET``). Input 320x224 RGB888 like MaixPy's
  ``yolov8n_face.mud``; objects carry ``x, y, w, h`` (int), ``score``, ``class_id`` = 0 and ``points`` =
  10 ints
  (image-left eye, image-right eye, nose, image-left / image-right mouth corner). YuNet has no per-keypoint
  confidence, so a keypoint outside the frame stands for one under ``keypoint_th``: ``-1, -1`` as in MaixPy.
* ``FaceLandmarks(model="")``: only ``crop_image``, reproducing MaixCDK's rotated-square affine crop
  (centre of the box, side ``int(max(w, h) * scale)``, rotated by the eye line, nearest-neighbour sampling).
* ``Classifier``: an ONNX expression model (``FAKE_MAIX_CLASSIFIER``, default the peer mini-Xception) standing
  for ``face_emotion.mud``: grayscale input, labels ``angry, disgust, fear, happy, sad, surprise, neutral``,
  ``classify`` returns every class as ``(index, score)`` sorted by score, highest first.
"""

from __future__ import annotations

import json
import math
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
    ) -> list[Object]:
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
        if not boxes:
            return []
        boxes_a, scores_a, kps_a = np.concatenate(boxes), np.concatenate(scores), np.concatenate(kps)
        idx = cv2.dnn.NMSBoxes(boxes_a.tolist(), scores_a.tolist(), conf_th, iou_th)
        idx = np.array(idx, dtype=int).reshape(-1)
        sx = 1.0 / scale
        objs = []
        for i in idx:
            x, y, bw, bh = boxes_a[i]
            pts: list[int] = []
            for px, py in kps_a[i]:
                ix, iy = int((px - pad_x) * sx), int((py - pad_y) * sx)
                if 0 <= ix < img.width() and 0 <= iy < img.height():
                    pts += [ix, iy]
                else:
                    pts += [-1, -1]
            objs.append(
                Object((x - pad_x) * sx, (y - pad_y) * sx, bw * sx, bh * sx, 0, float(scores_a[i]), pts)
            )
        if sort:
            objs.sort(key=lambda o: o.w * o.h, reverse=sort > 0)
        return objs


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
    """Expression classifier standing for ``face_emotion.mud``."""

    def __init__(self, model: str = "", dual_buff: bool = True):
        _check_mud(model)
        self.model_path = model
        self.dual_buff = dual_buff
        default = _env.shared_dir() / "models" / "peers" / "fer_mini_xception_64.onnx"
        path = _env.env_path("FAKE_MAIX_CLASSIFIER", default)
        self._session = _session(path)
        inp = self._session.get_inputs()[0]
        self._input_name = inp.name
        shape = inp.shape
        meta = self._session.get_modelmeta().custom_metadata_map
        self._nhwc = meta.get("fer_ros.layout", "NHWC" if shape[-1] in (1, 3) else "NCHW") == "NHWC"
        size = (
            json.loads(meta["fer_ros.input_size"])
            if "fer_ros.input_size" in meta
            else ([shape[2], shape[1]] if self._nhwc else [shape[3], shape[2]])
        )
        self._w, self._h = int(size[0]), int(size[1])
        self._gray = meta.get("fer_ros.color", "gray") == "gray"
        self._mean = float(json.loads(meta.get("fer_ros.mean", "[0.5]"))[0])
        self._std = float(json.loads(meta.get("fer_ros.std", "[0.5]"))[0])
        self.labels = (
            json.loads(meta["fer_ros.labels"]) if "fer_ros.labels" in meta else list(FACE_EMOTION_LABELS)
        )
        self.label_path = ""
        self.mean = [self._mean * 255.0]
        self.scale = [1.0 / (self._std * 255.0)]

    def input_width(self) -> int:
        return self._w

    def input_height(self) -> int:
        return self._h

    def input_size(self) -> image.Size:
        return image.Size(self._w, self._h)

    def input_format(self) -> image.Format:
        return image.Format.FMT_GRAYSCALE if self._gray else image.Format.FMT_RGB888

    def input_shape(self) -> list[int]:
        return (
            [1, self._h, self._w, 1 if self._gray else 3]
            if self._nhwc
            else [1, 1 if self._gray else 3, self._h, self._w]
        )

    def classify(
        self, img: image.Image, softmax: bool = True, fit: image.Fit = image.Fit.FIT_COVER
    ) -> list[tuple[int, float]]:
        if img.format() != self.input_format():
            raise err.Exception(
                f"image format not match, input_type: {self.input_format().name}, "
                f"image format: {img.format().name}"
            )
        arr, _ = image.fit_array(img.array(), self._w, self._h, image.Fit(fit))
        x = (arr.astype(np.float32) / 255.0 - self._mean) / self._std
        x = x[..., None] if x.ndim == 2 else x
        x = x[None] if self._nhwc else x.transpose(2, 0, 1)[None]
        out = self._session.run(None, {self._input_name: x})[0].reshape(-1).astype(np.float64)
        if softmax:
            if out.min() >= 0.0 and abs(out.sum() - 1.0) < 1e-3:
                out = np.log(
                    np.maximum(out, 1e-12)
                )  # a model that already ends in softmax: undo before MaixPy's
            out = np.exp(out - out.max())
            out /= out.sum()
        order = np.argsort(-out, kind="stable")
        return [(int(i), float(out[i])) for i in order]
