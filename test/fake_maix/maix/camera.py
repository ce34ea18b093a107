"""maix.camera: frames from a video, an image or a folder of images instead of a sensor.

Source: ``FAKE_MAIX_MEDIA`` (a file, a folder of images, or several of these separated by ``os.pathsep``),
default the shared single-face video. Each frame is centre-cropped to the requested aspect ratio and resized,
as a sensor configured for that resolution would deliver it. ``FAKE_MAIX_LOOP=1`` (default) loops the media;
``FAKE_MAIX_FPS`` paces ``read()`` like a real sensor (0 = as fast as possible).
"""

from __future__ import annotations

import os
import time as _time
from pathlib import Path

import cv2
import numpy as np

from . import _env, app, err, image

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def _default_media() -> str:
    return str(_env.shared_dir() / "media" / "pyfeat" / "single_face.mp4")


class _Media:
    """Iterates BGR frames over a list of videos and images."""

    def __init__(self, spec: str, loop: bool):
        self._items: list[Path] = []
        for part in spec.split(os.pathsep):
            p = Path(part)
            if p.is_dir():
                self._items += sorted(q for q in p.iterdir() if q.suffix.lower() in _IMAGE_SUFFIXES)
            elif p.is_file():
                self._items.append(p)
            else:
                raise err.Exception(f"fake camera: no media at {p}")
        if not self._items:
            raise err.Exception(f"fake camera: no images or videos in {spec}")
        self._loop = loop
        self._index = 0
        self._cap: cv2.VideoCapture | None = None

    def next(self) -> np.ndarray | None:
        for _ in range(2 * len(self._items) + 1):
            if self._index >= len(self._items):
                if not self._loop:
                    return None
                self._index = 0
            path = self._items[self._index]
            if path.suffix.lower() in _IMAGE_SUFFIXES:
                self._index += 1
                frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if frame is not None:
                    return frame
                continue
            if self._cap is None:
                self._cap = cv2.VideoCapture(str(path))
            ok, frame = self._cap.read()
            if ok:
                return frame
            self._cap.release()
            self._cap = None
            self._index += 1
        return None


class Camera:
    def __init__(
        self,
        width: int = -1,
        height: int = -1,
        format: image.Format = image.Format.FMT_RGB888,  # noqa: A002
        device: str | None = None,
        fps: float = -1,
        buff_num: int = 3,
        open: bool = True,  # noqa: A002
        raw: bool = False,
    ):
        self._width = 640 if width <= 0 else int(width)
        self._height = 480 if height <= 0 else int(height)
        self._format = image.Format(format)
        if self._format not in (image.Format.FMT_RGB888, image.Format.FMT_BGR888, image.Format.FMT_GRAYSCALE):
            raise err.Exception(f"fake camera: unsupported format {self._format.name}")
        self._media = _Media(
            os.environ.get("FAKE_MAIX_MEDIA") or _default_media(), _env.env_int("FAKE_MAIX_LOOP", 1) != 0
        )
        pace = _env.env_float("FAKE_MAIX_FPS", 0.0)
        self._period = 1.0 / pace if pace > 0 else 0.0
        self._next_t = _time.monotonic()
        self.frames_read = 0

    def width(self) -> int:
        return self._width

    def height(self) -> int:
        return self._height

    def format(self) -> image.Format:
        return self._format

    def is_opened(self) -> bool:
        return True

    def read(self) -> image.Image:
        if self._period:
            delay = self._next_t - _time.monotonic()
            if delay > 0:
                _time.sleep(delay)
            self._next_t = max(self._next_t + self._period, _time.monotonic() - self._period)
        frame = self._media.next()
        if frame is None:
            app.set_exit_flag(True)  # the media ended: like a camera unplugged, the app must stop
            frame = np.zeros((self._height, self._width, 3), np.uint8)
        else:
            frame, _ = image.fit_array(frame, self._width, self._height, image.Fit.FIT_COVER)
        self.frames_read += 1
        app._count_frame()
        img = image.Image.from_array(frame, image.Format.FMT_BGR888)
        return img if self._format == image.Format.FMT_BGR888 else img.to_format(self._format)

    def close(self) -> None:
        pass
