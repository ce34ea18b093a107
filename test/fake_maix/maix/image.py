"""maix.image: an image backed by a numpy array (RGB888, BGR888 or GRAYSCALE) with MaixPy's method names.

Where the fake's behaviour matters to the app it follows MaixCDK (sipeed/MaixCDK; declarations from
``maix_image.hpp`` at b7f9389 and ``maix_image_def.hpp`` at 170ed0d, code from ``maix_image.cpp``; functions and
statements are quoted instead of line numbers, which move):

* ``Image.to_format`` (``components/vision/src/maix_image.cpp``, ``Image::to_format(format, buff, size)``): a
  conversion to the image's own format is not in its switch and raises ``err::Exception(ERR_NOT_IMPL, "not
  support format")``; RGB888 -> GRAYSCALE is computed as ``(R*38 + G*75 + B*15) >> 7``, not OpenCV's weights.
* ``Image.affine`` (``components/vision/include/maix_image.hpp``, declared as ``image::Image *affine(
  std::vector<int> src_points, std::vector<int> dst_points, int width = -1, int height = -1,
  image::ResizeMethod method = image::ResizeMethod::BILINEAR)``; implemented in ``maix_image.cpp`` as
  ``cv::getAffineTransform`` of the three integer point pairs then ``cv::warpAffine(img, dst, warp_mat,
  dst.size(), (cv::InterpolationFlags)method)``, i.e. a constant black border).
* ``ResizeMethod`` (``maix_image_def.hpp``: ``NEAREST = 0, BILINEAR, BICUBIC, AREA, LANCZOS, HAMMING``), passed
  to OpenCV as its interpolation flag, and ``Image.resize(width, height, object_fit = FIT_FILL, method =
  NEAREST)`` (``maix_image.hpp``).
"""

from __future__ import annotations

import enum

import cv2
import numpy as np

from . import err


class Format(enum.IntEnum):
    FMT_RGB888 = 0
    FMT_BGR888 = 1
    FMT_RGBA8888 = 2
    FMT_BGRA8888 = 3
    FMT_RGB565 = 4
    FMT_BGR565 = 5
    FMT_YUV422SP = 6
    FMT_YUV422P = 7
    FMT_YVU420SP = 8
    FMT_YUV420SP = 9
    FMT_YVU420P = 10
    FMT_YUV420P = 11
    FMT_GRAYSCALE = 12
    FMT_INVALID = 0xFF


class Fit(enum.IntEnum):
    FIT_NONE = -1
    FIT_FILL = 0
    FIT_CONTAIN = 1
    FIT_COVER = 2


class ResizeMethod(enum.IntEnum):
    NEAREST = 0
    BILINEAR = 1
    BICUBIC = 2
    AREA = 3
    LANCZOS = 4
    HAMMING = 5


class Color:
    def __init__(self, r: int, g: int, b: int):
        self.r, self.g, self.b = int(r), int(g), int(b)

    @staticmethod
    def from_rgb(r: int, g: int, b: int) -> Color:
        return Color(r, g, b)


COLOR_WHITE = Color(255, 255, 255)
COLOR_BLACK = Color(0, 0, 0)
COLOR_RED = Color(255, 0, 0)
COLOR_GREEN = Color(0, 255, 0)
COLOR_BLUE = Color(0, 0, 255)
COLOR_YELLOW = Color(255, 255, 0)
COLOR_ORANGE = Color(255, 127, 0)
COLOR_GRAY = Color(127, 127, 127)


class Size:
    def __init__(self, width: int = 0, height: int = 0):
        self._w, self._h = int(width), int(height)

    def width(self) -> int:
        return self._w

    def height(self) -> int:
        return self._h


_CHANNELS = {Format.FMT_RGB888: 3, Format.FMT_BGR888: 3, Format.FMT_GRAYSCALE: 1}


def string_size(string: str, scale: float = 1, thickness: int = 1, font: str = "") -> Size:
    (w, h), _ = cv2.getTextSize(string, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, max(1, thickness))
    return Size(w, h + 4)


class Image:
    """``Image(width, height, format)`` makes a black image; the fake's own modules use ``from_array``."""

    def __init__(self, width: int, height: int, format: Format = Format.FMT_RGB888, bg: Color | None = None):  # noqa: A002
        fmt = Format(format)
        if fmt not in _CHANNELS:
            raise err.Exception(f"fake maix.image supports RGB888, BGR888 and GRAYSCALE, not {fmt.name}")
        shape = (height, width) if fmt == Format.FMT_GRAYSCALE else (height, width, 3)
        self._data = np.zeros(shape, np.uint8)
        self._fmt = fmt
        if bg is not None:
            self.draw_rect(0, 0, width, height, bg, -1)

    @classmethod
    def from_array(cls, array: np.ndarray, fmt: Format) -> Image:
        img = cls.__new__(cls)
        img._data = np.ascontiguousarray(array, dtype=np.uint8)
        img._fmt = Format(fmt)
        return img

    # -- the numpy side, for the fake's own modules
    def array(self) -> np.ndarray:
        return self._data

    # -- MaixPy API
    def width(self) -> int:
        return int(self._data.shape[1])

    def height(self) -> int:
        return int(self._data.shape[0])

    def size(self) -> Size:
        return Size(self.width(), self.height())

    def format(self) -> Format:
        return self._fmt

    def data_size(self) -> int:
        return int(self._data.nbytes)

    def to_bytes(self, copy: bool = True) -> bytes:
        return self._data.tobytes()

    def copy(self) -> Image:
        return Image.from_array(self._data.copy(), self._fmt)

    def to_format(self, format: Format) -> Image:  # noqa: A002
        fmt = Format(format)
        if fmt == self._fmt:  # MaixCDK has no same-format case: it raises
            raise err.Exception(f"convert format failed: {self._fmt.name} to {fmt.name} is not supported")
        if (self._fmt, fmt) == (Format.FMT_RGB888, Format.FMT_GRAYSCALE):
            rgb = self._data.astype(np.uint16)
            gray = (rgb[..., 0] * 38 + rgb[..., 1] * 75 + rgb[..., 2] * 15) >> 7
            return Image.from_array(gray.astype(np.uint8), fmt)
        conv = {
            (Format.FMT_RGB888, Format.FMT_GRAYSCALE): cv2.COLOR_RGB2GRAY,
            (Format.FMT_BGR888, Format.FMT_GRAYSCALE): cv2.COLOR_BGR2GRAY,
            (Format.FMT_RGB888, Format.FMT_BGR888): cv2.COLOR_RGB2BGR,
            (Format.FMT_BGR888, Format.FMT_RGB888): cv2.COLOR_BGR2RGB,
            (Format.FMT_GRAYSCALE, Format.FMT_RGB888): cv2.COLOR_GRAY2RGB,
            (Format.FMT_GRAYSCALE, Format.FMT_BGR888): cv2.COLOR_GRAY2BGR,
        }.get((self._fmt, fmt))
        if conv is None:
            raise err.Exception(f"cannot convert {self._fmt.name} to {fmt.name}")
        return Image.from_array(cv2.cvtColor(self._data, conv), fmt)

    def resize(
        self, width: int, height: int, object_fit: Fit = Fit.FIT_FILL, method: ResizeMethod = ResizeMethod.NEAREST
    ) -> Image:
        if Fit(object_fit) == Fit.FIT_FILL:
            out = cv2.resize(self._data, (int(width), int(height)), interpolation=int(ResizeMethod(method)))
            return Image.from_array(out, self._fmt)
        return Image.from_array(fit_array(self._data, width, height, Fit(object_fit))[0], self._fmt)

    def affine(
        self,
        src_points: list[int],
        dst_points: list[int],
        width: int = -1,
        height: int = -1,
        method: ResizeMethod = ResizeMethod.BILINEAR,
    ) -> Image:
        if width < 0 and height < 0:
            raise err.Exception("width and height can't both be -1")
        if len(src_points) < 6 or len(dst_points) < 6:
            raise err.Exception("affine needs three source and three destination points")
        if not all(isinstance(v, int) for v in list(src_points[:6]) + list(dst_points[:6])):
            raise TypeError("affine(): incompatible function arguments (points are list[int])")  # as pybind11
        if width == -1:
            width = height * self.width() // self.height()
        elif height == -1:
            height = width * self.height() // self.width()
        src = np.array(src_points[:6], np.float32).reshape(3, 2)
        dst = np.array(dst_points[:6], np.float32).reshape(3, 2)
        m = cv2.getAffineTransform(src, dst)
        out = cv2.warpAffine(self._data, m, (int(width), int(height)), flags=int(ResizeMethod(method)))
        return Image.from_array(out, self._fmt)

    def crop(self, x: int, y: int, w: int, h: int) -> Image:
        return Image.from_array(self._data[max(y, 0) : y + h, max(x, 0) : x + w].copy(), self._fmt)

    def _color(self, color: Color) -> tuple:
        if self._fmt == Format.FMT_GRAYSCALE:
            return (int(0.299 * color.r + 0.587 * color.g + 0.114 * color.b),)
        if self._fmt == Format.FMT_BGR888:
            return (color.b, color.g, color.r)
        return (color.r, color.g, color.b)

    def draw_rect(self, x: int, y: int, w: int, h: int, color: Color, thickness: int = 1) -> Image:
        cv2.rectangle(
            self._data,
            (int(x), int(y)),
            (int(x + w - 1), int(y + h - 1)),
            self._color(color),
            -1 if thickness < 0 else max(1, int(thickness)),
        )
        return self

    def draw_line(self, x1: int, y1: int, x2: int, y2: int, color: Color, thickness: int = 1) -> Image:
        cv2.line(
            self._data, (int(x1), int(y1)), (int(x2), int(y2)), self._color(color), max(1, int(thickness))
        )
        return self

    def draw_circle(self, x: int, y: int, radius: int, color: Color, thickness: int = 1) -> Image:
        cv2.circle(
            self._data,
            (int(x), int(y)),
            int(radius),
            self._color(color),
            -1 if thickness < 0 else max(1, int(thickness)),
        )
        return self

    def draw_string(
        self,
        x: int,
        y: int,
        textstring: str,
        color: Color = COLOR_WHITE,
        scale: float = 1,
        thickness: int = -1,
        wrap: bool = True,
        wrap_space: int = 4,
        font: str = "",
    ) -> Image:
        size = string_size(textstring, scale)
        cv2.putText(
            self._data,
            textstring,
            (int(x), int(y) + size.height() - 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * scale,
            self._color(color),
            1,
            cv2.LINE_AA,
        )
        return self

    def draw_image(self, x: int, y: int, img: Image) -> Image:
        src = img.to_format(self._fmt).array() if img.format() != self._fmt else img.array()
        x, y = int(x), int(y)
        h = min(src.shape[0], self.height() - y)
        w = min(src.shape[1], self.width() - x)
        if h > 0 and w > 0 and x >= 0 and y >= 0:
            self._data[y : y + h, x : x + w] = src[:h, :w]
        return self

    def save(self, path: str, quality: int = 95) -> None:
        arr = self._data
        if self._fmt == Format.FMT_RGB888:
            arr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
        cv2.imwrite(path, arr)

    def __str__(self) -> str:
        return f"Image({self.width()}x{self.height()}, {self._fmt.name})"


def fit_array(
    array: np.ndarray, width: int, height: int, fit: Fit
) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Resize ``array`` to width x height; return it and (scale, pad_x, pad_y) mapping source -> result."""
    h, w = array.shape[:2]
    if (w, h) == (width, height):
        return array, (1.0, 0.0, 0.0)
    if fit == Fit.FIT_FILL:
        return cv2.resize(array, (width, height), interpolation=cv2.INTER_LINEAR), (width / w, 0.0, 0.0)
    scale = min(width / w, height / h) if fit == Fit.FIT_CONTAIN else max(width / w, height / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    resized = cv2.resize(array, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    if fit == Fit.FIT_CONTAIN:
        out = np.zeros((height, width) + array.shape[2:], np.uint8)
        px, py = (width - nw) // 2, (height - nh) // 2
        out[py : py + nh, px : px + nw] = resized
        return out, (scale, float(px), float(py))
    px, py = (nw - width) // 2, (nh - height) // 2
    return np.ascontiguousarray(resized[py : py + height, px : px + width]), (scale, float(-px), float(-py))


def load(path: str, format: Format = Format.FMT_RGB888) -> Image:  # noqa: A002
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise err.Exception(f"cannot load image {path}")
    img = Image.from_array(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), Format.FMT_RGB888)
    return img if Format(format) == Format.FMT_RGB888 else img.to_format(format)


def cv2image(array: np.ndarray, bgr: bool = True, copy: bool = True) -> Image:
    if array.ndim == 2:
        return Image.from_array(array.copy() if copy else array, Format.FMT_GRAYSCALE)
    return Image.from_array(array.copy() if copy else array, Format.FMT_BGR888 if bgr else Format.FMT_RGB888)


def image2cv(img: Image, ensure_bgr: bool = True, copy: bool = True) -> np.ndarray:
    arr = img.array()
    if ensure_bgr and img.format() == Format.FMT_RGB888:
        return cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    return arr.copy() if copy else arr
