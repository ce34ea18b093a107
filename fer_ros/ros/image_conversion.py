"""sensor_msgs/Image and CompressedImage <-> numpy arrays, without cv_bridge.

Arrays keep the message's own layout: ``bgr8``/``rgb8`` -> HxWx3 uint8, ``bgra8``/``rgba8`` -> HxWx4
uint8, ``mono8``/``8UC1`` -> HxW uint8, ``mono16``/``16UC1`` -> HxW uint16 (native byte order),
``yuv422``/``uyvy`` and ``yuv422_yuy2``/``yuyv`` -> HxWx2 uint8 (the packed 4:2:2 bytes, as OpenCV's YUV
conversions expect).
:func:`to_bgr8` turns any of them into the HxWx3 BGR uint8 image the pipeline works on.

``step`` (bytes per row, possibly padded) and ``is_bigendian`` are honoured when reading; written messages
have unpadded rows, little-endian unless asked otherwise. Inconsistent messages raise
:class:`ImageConversionError`, whose ``kind`` names the problem (a diagnostics counter key).

Images off a topic are not trusted: a CompressedImage is decoded only when its ``format`` names JPEG or PNG
(as image_transport writes it: ``"jpeg"``, ``"png"``, ``"bgr8; jpeg compressed bgr8"``...), its bytes are
that codec, and its header's width x height is within the pixel budget (``max_pixels``, read before
anything is decoded: a 600-byte JPEG can claim 30000 x 30000). Raw images over the budget are refused too,
and 8-bit colour images whose bytes repeat with another pixel size than their encoding's (bgr8 bytes
labelled yuv422, say) are refused as ``layout_mismatch`` where the image is colourful enough to tell.

:func:`get_converter` picks the real cv_bridge when it imports and works, else this module.
"""

from __future__ import annotations

import array as pyarray
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from fer_ros.core.errors import FerRosError
from fer_ros.core.image_io import uint16_to_uint8

_LOG = logging.getLogger(__name__)


DEFAULT_MAX_PIXELS = 4096 * 4096  # 16.8 Mpx: a 4K camera fits; a decompression bomb does not


class ImageConversionError(FerRosError, ValueError):
    """A ROS image message cannot be converted (unknown encoding, wrong data length, undecodable bytes...).

    ``kind``: a short stable name of the problem when known (``image_too_large``, ``unsupported_format``...).
    """

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


def failure_kind(error: BaseException) -> str:
    """The diagnostics counter key of a failed conversion: the error's ``kind``, else ``invalid_image``."""
    return getattr(error, "kind", "") or "invalid_image"


@dataclass(frozen=True)
class _Layout:
    dtype: np.dtype
    channels: int
    to_bgr: int | None  # cv2.cvtColor code to BGR; None: already BGR (or mono16, handled apart)


_U8 = np.dtype(np.uint8)
_U16 = np.dtype(np.uint16)

ENCODINGS: dict[str, _Layout] = {
    "bgr8": _Layout(_U8, 3, None),
    "8UC3": _Layout(_U8, 3, None),
    "rgb8": _Layout(_U8, 3, cv2.COLOR_RGB2BGR),
    "bgra8": _Layout(_U8, 4, cv2.COLOR_BGRA2BGR),
    "8UC4": _Layout(_U8, 4, cv2.COLOR_BGRA2BGR),
    "rgba8": _Layout(_U8, 4, cv2.COLOR_RGBA2BGR),
    "mono8": _Layout(_U8, 1, cv2.COLOR_GRAY2BGR),
    "8UC1": _Layout(_U8, 1, cv2.COLOR_GRAY2BGR),
    "mono16": _Layout(_U16, 1, cv2.COLOR_GRAY2BGR),
    "16UC1": _Layout(_U16, 1, cv2.COLOR_GRAY2BGR),
    # Packed 4:2:2. sensor_msgs' "yuv422" is UYVY, "yuv422_yuy2" is YUYV; newer distros add the aliases.
    "yuv422": _Layout(_U8, 2, cv2.COLOR_YUV2BGR_UYVY),
    "uyvy": _Layout(_U8, 2, cv2.COLOR_YUV2BGR_UYVY),
    "yuv422_yuy2": _Layout(_U8, 2, cv2.COLOR_YUV2BGR_YUY2),
    "yuyv": _Layout(_U8, 2, cv2.COLOR_YUV2BGR_YUY2),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(ENCODINGS)
_PACKED_YUV = {"yuv422", "uyvy", "yuv422_yuy2", "yuyv"}


def _layout(encoding: str) -> _Layout:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}",
            "unsupported_encoding",
        ) from None


def _check_budget(width: int, height: int, max_pixels: int, what: str) -> None:
    if width * height > max_pixels:
        raise ImageConversionError(
            f"{what} of {width}x{height} = {width * height} pixels is over the budget of {max_pixels} "
            "(parameter max_image_pixels)",
            "image_too_large",
        )


def check_image(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The rows of a sensor_msgs/Image's data (``height x row bytes``, padding cut) once its encoding, size,
    step, data length and pixel budget are checked; ImageConversionError with the kind of problem otherwise."""
    layout = _layout(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"empty image ({width}x{height})", "empty_image")
    _check_budget(width, height, max_pixels, f"a {msg.encoding} image")
    if msg.encoding in _PACKED_YUV and width % 2:
        raise ImageConversionError(
            f"{msg.encoding} image with an odd width {width} (pixels come in pairs)", "invalid_image"
        )
    bytes_per_pixel = layout.dtype.itemsize * layout.channels
    row_bytes = width * bytes_per_pixel
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than one {msg.encoding} row of {width} pixels ({row_bytes} bytes)",
            "size_mismatch",
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size != step * height:
        raise ImageConversionError(
            f"data holds {data.size} bytes, expected step*height = {step}*{height} = {step * height} "
            f"for a {width}x{height} {msg.encoding} image",
            "size_mismatch",
        )
    return data.reshape(height, step)[:, :row_bytes]


def image_to_numpy(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The pixels of a sensor_msgs/Image as a new array in the message's own layout (see module doc)."""
    rows = check_image(msg, max_pixels)
    layout = ENCODINGS[msg.encoding]
    height, width = int(msg.height), int(msg.width)
    if layout.dtype == _U8 and layout.channels > 1:
        _check_layout(rows, msg.encoding, 4 if layout.channels in (2, 4) else 3)
    dtype = layout.dtype
    if dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width, layout.channels)
    if layout.channels == 1:
        pixels = pixels[:, :, 0]
    return np.ascontiguousarray(pixels.astype(layout.dtype, copy=False))


def numpy_to_image(array: np.ndarray, encoding: str, header=None, is_bigendian: bool = False):
    """A sensor_msgs/Image holding ``array`` (layout as :func:`image_to_numpy` returns) with unpadded rows."""
    from sensor_msgs.msg import Image

    layout = _layout(encoding)
    array = np.asarray(array)
    expected_ndim = 2 if layout.channels == 1 else 3
    if (
        array.dtype != layout.dtype
        or array.ndim != expected_ndim
        or (expected_ndim == 3 and array.shape[2] != layout.channels)
    ):
        shape = "HxW" if layout.channels == 1 else f"HxWx{layout.channels}"
        raise ImageConversionError(
            f"{encoding} needs a {shape} {layout.dtype} array, got shape {array.shape} {array.dtype}"
        )
    height, width = array.shape[:2]
    if encoding in _PACKED_YUV and width % 2:
        raise ImageConversionError(f"{encoding} image with an odd width {width} (pixels come in pairs)")
    if layout.dtype.itemsize > 1:
        array = array.astype(layout.dtype.newbyteorder(">" if is_bigendian else "<"), copy=False)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian = int(bool(is_bigendian) and layout.dtype.itemsize > 1)
    msg.step = width * layout.channels * layout.dtype.itemsize
    # array.array("B"): the message setter keeps it as is, even with ROS_PYTHON_CHECK_FIELDS=1 (bytes are
    # checked value by value there, ~80 ms for 640x480).
    msg.data = pyarray.array("B", np.ascontiguousarray(array).tobytes())
    return msg


def numpy_to_bgr8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Convert an array in ``encoding``'s layout to HxWx3 uint8 BGR (16-bit: :func:`uint16_to_uint8`)."""
    layout = _layout(encoding)
    if layout.dtype == _U16:
        array = uint16_to_uint8(array)
    if layout.to_bgr is None:
        return np.ascontiguousarray(array)
    return cv2.cvtColor(array, layout.to_bgr)


_LAYOUT_SAMPLE_ROWS = 48
_LAYOUT_RATIO = 2.5  # how much worse the claimed byte period must be than the other one to refuse


def _check_layout(rows: np.ndarray, encoding: str, period: int) -> None:
    """Refuse 8-bit colour bytes that repeat every ``7 - period`` bytes rather than every ``period``.

    Neighbouring pixels are alike, so the bytes of one channel differ little from the same channel one pixel
    on: every 3 bytes in bgr8/rgb8, every 4 in bgra8/rgba8 and packed 4:2:2 (U Y V Y). Bytes of a 3-byte
    layout labelled as a 4-byte one (or the reverse) show a much smaller difference at the other period.
    Grey images look alike at both periods and pass: the check only refuses what it can tell.
    """
    height = rows.shape[0]
    sample = rows[:: max(1, height // _LAYOUT_SAMPLE_ROWS)].astype(np.int16)
    if sample.shape[1] < 64:
        return
    claimed = float(np.abs(sample[:, period:] - sample[:, :-period]).mean())
    other_period = 7 - period
    other = float(np.abs(sample[:, other_period:] - sample[:, :-other_period]).mean())
    if claimed > _LAYOUT_RATIO * other + 2.0:
        raise ImageConversionError(
            f"the bytes of this {encoding} image repeat every {other_period} bytes, not every {period} "
            f"(mean neighbour difference {other:.1f} vs {claimed:.1f}): the encoding does not match the data",
            "layout_mismatch",
        )


def to_bgr8(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Any supported sensor_msgs/Image, or a CompressedImage, as an HxWx3 uint8 BGR array."""
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return compressed_to_bgr8(msg, max_pixels)
    return numpy_to_bgr8(image_to_numpy(msg, max_pixels), msg.encoding)


_CODECS = {"jpeg": "jpeg", "jpg": "jpeg", "png": "png"}
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def compressed_codec(image_format: str) -> str:
    """``"jpeg"`` or ``"png"``: the codec a CompressedImage ``format`` names, as image_transport's compressed
    plugin writes it (``"jpeg"``, ``"png"``, ``"bgr8; jpeg compressed bgr8"``, ``"mono8; png compressed
    mono8"``...); ImageConversionError (``unsupported_format``) for anything else."""
    text = str(image_format).strip().lower()
    words = text.rsplit(";", 1)[-1].split()
    codec = _CODECS.get(words[0]) if words and "compresseddepth" not in text else None
    if codec is None:
        raise ImageConversionError(
            f"compressed image format {image_format!r} names no codec decoded here (jpeg or png)",
            "unsupported_format",
        )
    return codec


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) of the one frame header (SOFn) before the first scan; ValueError when there is none,
    several, or the markers do not follow each other."""
    pos, size, frames = 2, len(data), []
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: the headers are over
            break
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2:
            raise ValueError(f"JPEG segment length {length} at byte {pos}")
        if marker in _JPEG_SOF:
            if pos + 9 > size:
                raise ValueError("JPEG frame header cut short")
            height = int.from_bytes(data[pos + 5 : pos + 7], "big")
            frames.append((int.from_bytes(data[pos + 7 : pos + 9], "big"), height))
        pos += 2 + length
    if len(frames) != 1:
        raise ValueError(f"{len(frames)} JPEG frame headers before the first scan (expected 1)")
    return frames[0]


def _png_size(data: bytes) -> tuple[int, int]:
    if len(data) < 24 or data[12:16] != b"IHDR":
        raise ValueError("the first PNG chunk is not IHDR")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def compressed_size(msg) -> tuple[str, int, int]:
    """(codec, width, height) of a CompressedImage from its ``format`` and its header, decoding nothing.

    ImageConversionError: ``empty_compressed``, ``unsupported_format`` (format names another codec),
    ``format_mismatch`` (the bytes are not that codec), ``undecodable_compressed`` (no readable size).
    """
    data = bytes(msg.data[:8]) if len(msg.data) else b""
    if not data:
        raise ImageConversionError(f"empty compressed image (format {msg.format!r})", "empty_compressed")
    codec = compressed_codec(msg.format)
    magic_ok = data.startswith(b"\xff\xd8") if codec == "jpeg" else data.startswith(_PNG_SIGNATURE)
    if not magic_ok:
        raise ImageConversionError(
            f"format {msg.format!r} says {codec}, but the data does not start like {codec} ({data[:8]!r})",
            "format_mismatch",
        )
    raw = msg.data if isinstance(msg.data, bytes) else memoryview(msg.data).tobytes()
    try:
        width, height = _jpeg_size(raw) if codec == "jpeg" else _png_size(raw)
    except ValueError as error:
        raise ImageConversionError(
            f"cannot decode the compressed image: unreadable {codec} header ({error})", "undecodable_compressed"
        ) from None
    if width == 0 or height == 0:
        raise ImageConversionError(
            f"cannot decode the compressed image: its {codec} header says {width}x{height}", "undecodable_compressed"
        )
    return codec, width, height


def check_compressed(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[str, int, int]:
    """:func:`compressed_size`, then the pixel budget (``image_too_large``)."""
    codec, width, height = compressed_size(msg)
    _check_budget(width, height, max_pixels, f"a {codec} image")
    return codec, width, height


def _decode(msg, flags: int, max_pixels: int) -> np.ndarray:
    check_compressed(msg, max_pixels)
    data = np.frombuffer(msg.data, dtype=np.uint8)
    image = cv2.imdecode(data, flags)
    if image is None or image.size == 0:
        raise ImageConversionError(
            f"cannot decode the {data.size}-byte compressed image (format {msg.format!r})",
            "undecodable_compressed",
        )
    return image


def compressed_to_numpy(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg, png) keeping its depth and channels (gray, BGR, BGRA,
    16-bit png)."""
    return _decode(msg, cv2.IMREAD_UNCHANGED, max_pixels)


def compressed_to_bgr8(msg, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg, png) to HxWx3 uint8 BGR."""
    return _decode(msg, cv2.IMREAD_COLOR, max_pixels)


def numpy_to_compressed(array: np.ndarray, image_format: str = "jpeg", header=None, jpeg_quality: int = 90):
    """Encode an image (gray, BGR or BGRA; uint16 for png) as a sensor_msgs/CompressedImage.

    ``format`` is set the way image_transport's compressed publisher does (``"bgr8; jpeg compressed bgr8"``).
    """
    from sensor_msgs.msg import CompressedImage

    image_format = image_format.lower()
    if image_format not in ("jpeg", "jpg", "png"):
        raise ImageConversionError(f"unsupported compressed format {image_format!r}; use 'jpeg' or 'png'")
    extension = ".png" if image_format == "png" else ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if extension == ".jpg" else []
    array = np.asarray(array)
    if array.size == 0:
        raise ImageConversionError("cannot encode an empty image")
    ok, encoded = cv2.imencode(extension, array, params)
    if not ok:
        raise ImageConversionError(f"cannot encode a {array.shape} {array.dtype} image as {image_format}")
    channels = 1 if array.ndim == 2 else array.shape[2]
    depth = 16 if array.dtype == np.uint16 else 8
    encoding = {1: f"mono{depth}", 3: "bgr8", 4: "bgra8"}.get(channels, "bgr8")
    codec = "png" if extension == ".png" else "jpeg"
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    msg.format = f"{encoding}; {codec} compressed {encoding}"
    msg.data = pyarray.array("B", encoded.tobytes())
    return msg


class NumpyImageConverter:
    """The project's own converter (this module); ``max_pixels``: the budget of images it reads."""

    name = "fer_ros"
    max_pixels = DEFAULT_MAX_PIXELS

    def to_bgr8(self, msg) -> np.ndarray:
        """Image or CompressedImage -> HxWx3 uint8 BGR."""
        return to_bgr8(msg, self.max_pixels)

    def to_image(self, array: np.ndarray, encoding: str = "bgr8", header=None):
        """Array -> sensor_msgs/Image."""
        return numpy_to_image(array, encoding, header)

    def to_compressed(self, array: np.ndarray, image_format: str = "jpeg", header=None):
        """Array -> sensor_msgs/CompressedImage."""
        return numpy_to_compressed(array, image_format, header)


class CvBridgeImageConverter(NumpyImageConverter):
    """The real cv_bridge, with its errors turned into ImageConversionError."""

    name = "cv_bridge"

    def __init__(self, bridge, error_type: type[Exception]) -> None:
        self._bridge = bridge
        self._error_type = error_type

    def to_bgr8(self, msg) -> np.ndarray:
        """Image or CompressedImage -> HxWx3 uint8 BGR via cv_bridge."""
        if hasattr(msg, "format") and not hasattr(msg, "encoding"):
            check_compressed(msg, self.max_pixels)  # cv_bridge decodes whatever it is given
        else:
            check_image(msg, self.max_pixels)
        try:
            if hasattr(msg, "format") and not hasattr(msg, "encoding"):
                return self._bridge.compressed_imgmsg_to_cv2(msg, "bgr8")
            return self._bridge.imgmsg_to_cv2(msg, "bgr8")
        except (self._error_type, cv2.error, TypeError, ValueError) as error:
            raise ImageConversionError(f"cv_bridge cannot convert the image: {error}", "invalid_image") from error

    def to_image(self, array: np.ndarray, encoding: str = "bgr8", header=None):
        """Array -> sensor_msgs/Image via cv_bridge."""
        try:
            return self._bridge.cv2_to_imgmsg(array, encoding, header)
        except (self._error_type, TypeError, ValueError) as error:
            raise ImageConversionError(f"cv_bridge cannot convert the array: {error}") from error


def get_converter(prefer_cv_bridge: bool = True, max_pixels: int = DEFAULT_MAX_PIXELS) -> NumpyImageConverter:
    """The real cv_bridge when it imports and works, else this module's converter."""
    converter = _make_converter(prefer_cv_bridge)
    converter.max_pixels = max_pixels
    return converter


def _make_converter(prefer_cv_bridge: bool) -> NumpyImageConverter:
    if prefer_cv_bridge:
        try:
            from cv_bridge import CvBridge, CvBridgeError

            return CvBridgeImageConverter(CvBridge(), CvBridgeError)
        except Exception as error:  # ImportError, or a broken binary build (undefined symbols, ABI)
            _LOG.debug(
                "cv_bridge unavailable (%s: %s); using fer_ros.ros.image_conversion",
                type(error).__name__,
                error,
            )
    return NumpyImageConverter()
