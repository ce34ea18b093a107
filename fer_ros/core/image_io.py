"""Reading image files and normalising in-memory images to 8-bit BGR (no ROS import)."""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np

from fer_ros.core.errors import ImageReadError, InvalidImageError

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def uint16_to_uint8(image: np.ndarray) -> np.ndarray:
    """16-bit pixels as 8-bit: the high byte (the one rule for files, arrays and ROS images alike)."""
    return (image >> 8).astype(np.uint8)


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a contiguous uint8 BGR array ``(H, W, 3)``.

    Accepts gray ``(H, W)`` / ``(H, W, 1)``, BGR, BGRA, uint8, uint16 (:func:`uint16_to_uint8`) and float in
    0..1.
    The input is returned unchanged (no copy) when it already is contiguous 8-bit BGR.
    Raises InvalidImageError for empty arrays and unsupported shapes or dtypes.
    """
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"expected a numpy array, got {type(image).__name__}")
    if image.size == 0 or image.ndim < 2:
        raise InvalidImageError(f"empty image (shape {image.shape})")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise InvalidImageError(f"unsupported image shape {image.shape}: expected HxW, HxWx1, HxWx3 or HxWx4")
    if image.dtype == np.uint16:
        image = uint16_to_uint8(image)
    elif image.dtype in (np.float32, np.float64):
        image = cv2.convertScaleAbs(np.nan_to_num(image), alpha=255.0)
    elif image.dtype != np.uint8:
        raise InvalidImageError(f"unsupported image dtype {image.dtype}: expected uint8, uint16 or float")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(image)


def _png_chunks_ok(data: bytes) -> bool:
    """True when the PNG's chunks follow each other up to IEND with matching CRCs.

    Checked here because libpng prints its own lines on stderr for a broken file before OpenCV gives up.
    """
    pos = len(_PNG_MAGIC)
    while pos + 12 <= len(data):
        end = pos + 12 + int.from_bytes(data[pos : pos + 4], "big")
        if end > len(data) or zlib.crc32(data[pos + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            return False
        if data[pos + 4 : pos + 8] == b"IEND":
            return True
        pos = end
    return False


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, ...) to 8-bit BGR; raise ImageReadError when impossible."""
    if len(data) == 0:
        raise ImageReadError(f"{name}: empty file")
    if data.startswith(_JPEG_MAGIC) and b"\xff\xd9" not in data[-4096:]:
        raise ImageReadError(f"{name}: truncated JPEG (no end-of-image marker)")
    if data.startswith(_PNG_MAGIC) and b"IEND" not in data[-64:]:
        raise ImageReadError(f"{name}: truncated PNG (no IEND chunk)")
    if data.startswith(_PNG_MAGIC) and not _png_chunks_ok(data):
        raise ImageReadError(f"{name}: corrupt PNG (chunk lengths or checksums do not match)")
    # JPEG: IMREAD_COLOR applies the EXIF orientation; others keep depth/alpha and are converted below.
    flags = cv2.IMREAD_COLOR if data.startswith(_JPEG_MAGIC) else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if image is None:
        raise ImageReadError(f"{name}: cannot decode image (not an image, corrupt or unsupported format)")
    try:
        return to_bgr8(image)
    except InvalidImageError as exc:
        raise ImageReadError(f"{name}: {exc}") from exc


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as 8-bit BGR; raise ImageReadError with a one-line reason when it can't be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a directory") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_image(data, str(path))
