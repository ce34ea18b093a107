"""Frames from a video file, an image file, a folder of images or a webcam, one at a time (no ROS import)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fer_ros.core.errors import FerRosError, ImageReadError
from fer_ros.core.image_io import read_image

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg")


class FrameSourceError(FerRosError, OSError):
    """A frame source cannot be opened (missing file, empty folder, no such camera...)."""


class FrameSource:
    """Base class: ``read()`` returns the next 8-bit BGR frame or None at the end; ``rewind()`` restarts."""

    description = "frames"
    can_rewind = True

    @property
    def fps(self) -> float | None:
        """The source's own frame rate when it has one."""
        return None

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def rewind(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device or file."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _CaptureSource(FrameSource):
    """Frames of an OpenCV ``VideoCapture`` (``self._capture``, opened by the subclass)."""

    _capture: cv2.VideoCapture
    _fps: float | None = None

    @property
    def fps(self) -> float | None:
        return self._fps

    def read(self) -> np.ndarray | None:
        ok, frame = self._capture.read()
        return frame if ok and frame is not None and frame.size else None

    def close(self) -> None:
        self._capture.release()


def _capture_fps(capture: cv2.VideoCapture) -> float | None:
    """The frame rate a capture reports, or None when it reports none or an implausible one."""
    fps = capture.get(cv2.CAP_PROP_FPS)
    return float(fps) if fps and 1.0 <= fps <= 1000.0 else None


class VideoFileSource(_CaptureSource):
    """A video file read with OpenCV."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = f"video {self.path}"
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise FrameSourceError(
                f"{self.path}: cannot open the video (not a video, or an unsupported codec)"
            )
        self._fps = _capture_fps(self._capture)

    def rewind(self) -> None:
        if not self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
            self._capture.release()
            self._capture = cv2.VideoCapture(str(self.path))


class ImageFilesSource(FrameSource):
    """Image files in name order (one file, or every image of a folder); unreadable files are skipped."""

    def __init__(self, paths: list[Path], description: str) -> None:
        if not paths:
            raise FrameSourceError(f"{description}: no image files")
        self.paths = paths
        self.description = description
        self.skipped: list[tuple[Path, str]] = []
        self._index = 0

    @classmethod
    def from_folder(cls, folder: str | Path) -> ImageFilesSource:
        folder = Path(folder)
        paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise FrameSourceError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)})")
        return cls(paths, f"{len(paths)} images in {folder}")

    def read(self) -> np.ndarray | None:
        while self._index < len(self.paths):
            path = self.paths[self._index]
            self._index += 1
            try:
                return read_image(path)
            except ImageReadError as error:
                self.skipped.append((path, str(error)))
        return None

    def rewind(self) -> None:
        self._index = 0
        if len(self.skipped) >= len(self.paths):
            raise FrameSourceError(f"{self.description}: no readable image")


class WebcamSource(_CaptureSource):
    """A camera device by index (``0`` is the first camera)."""

    can_rewind = False

    def __init__(self, index: int, width: int = 0, height: int = 0) -> None:
        self.description = f"webcam {index}"
        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            raise FrameSourceError(f"cannot open webcam {index} (no such camera, or it is busy)")
        if width > 0 and height > 0:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._fps = _capture_fps(self._capture)

    def rewind(self) -> None:
        """A live camera does not rewind."""


def open_frame_source(spec: str | Path) -> FrameSource:
    """A source from a string: a webcam index (``"0"``), an image file, an image folder, or a video."""
    text = str(spec).strip()
    if text.isdigit():
        return WebcamSource(int(text))
    path = Path(text).expanduser()
    if path.is_dir():
        return ImageFilesSource.from_folder(path)
    if not path.is_file():
        raise FrameSourceError(
            f"{path}: no such file or folder (expected a video, an image, a folder of images "
            "or a webcam index)"
        )
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageFilesSource([path], f"image {path}")
    return VideoFileSource(path)
