"""sensor_msgs/Image and CompressedImage <-> numpy arrays, without cv_bridge.

Arrays keep the message's own layout: ``bgr8``/``rgb8`` -> HxWx3 uint8, ``bgra8``/``rgba8`` -> HxWx4
uint8, ``mono8``/``8UC1`` -> HxW uint8, ``mono16``/``16UC1`` -> HxW uint16 (native byte order),
``yuv422``/``uyvy`` and ``yuv422_yuy2``/``yuyv`` -> HxWx2 uint8 (the packed 4:2:2 bytes, as OpenCV's YUV
conversions expect).
:func:`to_bgr8` turns any of them into the HxWx3 BGR uint8 image the pipeline works on.

``step`` (bytes per row, possibly padded) and ``is_bigendian`` are honoured when reading; written messages
have unpadded rows, little-endian unless asked otherwise. Inconsistent messages raise
:class:`ImageConversionError`.

:func:`get_converter` picks the real cv_bridge when it imports and works, else this module.
"""

from __future__ import annotations

import array as pyarray
import logging
from dataclasses import dataclass

import cv2
import numpy as np

from fer_ros.core.errors import FerRosError

_LOG = logging.getLogger(__name__)


class ImageConversionError(FerRosError, ValueError):
    """A ROS image message cannot be converted (unknown encoding, wrong data length, undecodable bytes...)."""


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
            f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        ) from None


def image_to_numpy(msg) -> np.ndarray:
    """The pixels of a sensor_msgs/Image as a new array in the message's own layout (see module doc)."""
    layout = _layout(msg.encoding)
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"empty image ({width}x{height})")
    if msg.encoding in _PACKED_YUV and width % 2:
        raise ImageConversionError(f"{msg.encoding} image with an odd width {width} (pixels come in pairs)")
    bytes_per_pixel = layout.dtype.itemsize * layout.channels
    row_bytes = width * bytes_per_pixel
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than one {msg.encoding} row of {width} pixels ({row_bytes} bytes)"
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size != step * height:
        raise ImageConversionError(
            f"data holds {data.size} bytes, expected step*height = {step}*{height} = {step * height} "
            f"for a {width}x{height} {msg.encoding} image"
        )
    rows = data.reshape(height, step)[:, :row_bytes]
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
    """Convert an array in ``encoding``'s layout to HxWx3 uint8 BGR (16-bit values are scaled by 1/256)."""
    layout = _layout(encoding)
    if layout.dtype == _U16:
        array = (array >> 8).astype(np.uint8)
    if layout.to_bgr is None:
        return np.ascontiguousarray(array)
    return cv2.cvtColor(array, layout.to_bgr)


def to_bgr8(msg) -> np.ndarray:
    """Any supported sensor_msgs/Image, or a CompressedImage, as an HxWx3 uint8 BGR array."""
    if hasattr(msg, "format") and not hasattr(msg, "encoding"):
        return compressed_to_bgr8(msg)
    return numpy_to_bgr8(image_to_numpy(msg), msg.encoding)


def _decode(msg, flags: int) -> np.ndarray:
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageConversionError(f"empty compressed image (format {msg.format!r})")
    image = cv2.imdecode(data, flags)
    if image is None or image.size == 0:
        raise ImageConversionError(
            f"cannot decode the {data.size}-byte compressed image (format {msg.format!r})"
        )
    return image


def compressed_to_numpy(msg) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg, png) keeping its depth and channels (gray, BGR, BGRA,
    16-bit png)."""
    return _decode(msg, cv2.IMREAD_UNCHANGED)


def compressed_to_bgr8(msg) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (jpeg, png) to HxWx3 uint8 BGR."""
    return _decode(msg, cv2.IMREAD_COLOR)


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
    """The project's own converter (this module)."""

    name = "fer_ros"

    def to_bgr8(self, msg) -> np.ndarray:
        """Image or CompressedImage -> HxWx3 uint8 BGR."""
        return to_bgr8(msg)

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
        try:
            if hasattr(msg, "format") and not hasattr(msg, "encoding"):
                return self._bridge.compressed_imgmsg_to_cv2(msg, "bgr8")
            return self._bridge.imgmsg_to_cv2(msg, "bgr8")
        except (self._error_type, cv2.error, TypeError, ValueError) as error:
            raise ImageConversionError(f"cv_bridge cannot convert the image: {error}") from error

    def to_image(self, array: np.ndarray, encoding: str = "bgr8", header=None):
        """Array -> sensor_msgs/Image via cv_bridge."""
        try:
            return self._bridge.cv2_to_imgmsg(array, encoding, header)
        except (self._error_type, TypeError, ValueError) as error:
            raise ImageConversionError(f"cv_bridge cannot convert the array: {error}") from error


def get_converter(prefer_cv_bridge: bool = True) -> NumpyImageConverter:
    """The real cv_bridge when it imports and works, else this module's converter."""
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
