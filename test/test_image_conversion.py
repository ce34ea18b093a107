"""sensor_msgs/Image and CompressedImage <-> numpy: every encoding, row padding, byte order, errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from fer_ros.ros.image_conversion import (
    SUPPORTED_ENCODINGS,
    ImageConversionError,
    NumpyImageConverter,
    compressed_to_bgr8,
    compressed_to_numpy,
    get_converter,
    image_to_numpy,
    numpy_to_compressed,
    numpy_to_image,
    to_bgr8,
)

HEIGHT, WIDTH = 6, 10
CHANNELS = {"bgr8": 3, "8UC3": 3, "rgb8": 3, "bgra8": 4, "8UC4": 4, "rgba8": 4, "mono8": 1, "8UC1": 1,
            "mono16": 1, "16UC1": 1, "yuv422": 2, "uyvy": 2, "yuv422_yuy2": 2, "yuyv": 2}  # fmt: skip


def random_array(encoding: str, seed: int = 0, height: int = HEIGHT, width: int = WIDTH) -> np.ndarray:
    """Random pixels in ``encoding``'s layout."""
    rng = np.random.default_rng(seed)
    channels = CHANNELS[encoding]
    shape = (height, width) if channels == 1 else (height, width, channels)
    if encoding in ("mono16", "16UC1"):
        return rng.integers(0, 65536, size=shape, dtype=np.uint16)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def padded(msg: Image, extra: int) -> Image:
    """The same image with ``extra`` garbage bytes at the end of every row."""
    rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
    garbage = np.full((msg.height, extra), 0xAB, np.uint8)
    msg.data = np.hstack([rows, garbage]).tobytes()
    msg.step += extra
    return msg


def test_every_listed_encoding_is_tested() -> None:
    assert set(SUPPORTED_ENCODINGS) == set(CHANNELS)


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_round_trip(encoding: str) -> None:
    array = random_array(encoding)
    msg = numpy_to_image(array, encoding)
    assert (msg.height, msg.width, msg.encoding, msg.is_bigendian) == (HEIGHT, WIDTH, encoding, 0)
    assert msg.step == WIDTH * CHANNELS[encoding] * array.dtype.itemsize
    assert len(msg.data) == msg.step * HEIGHT
    back = image_to_numpy(msg)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_padded_rows_are_skipped(encoding: str) -> None:
    array = random_array(encoding, seed=1)
    msg = padded(numpy_to_image(array, encoding), extra=6)
    np.testing.assert_array_equal(image_to_numpy(msg), array)


@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_big_endian_16_bit(encoding: str) -> None:
    array = random_array(encoding, seed=2)
    msg = numpy_to_image(array, encoding, is_bigendian=True)
    assert msg.is_bigendian == 1
    assert bytes(msg.data[:2]) == int(array[0, 0]).to_bytes(2, "big")
    np.testing.assert_array_equal(image_to_numpy(msg), array)
    np.testing.assert_array_equal(image_to_numpy(padded(msg, extra=4)), array)


def test_big_endian_message_built_by_hand() -> None:
    msg = Image(height=1, width=2, encoding="mono16", is_bigendian=1, step=4)
    msg.data = bytes([0x01, 0x02, 0xFF, 0x00])
    np.testing.assert_array_equal(image_to_numpy(msg), np.array([[0x0102, 0xFF00]], np.uint16))
    msg.is_bigendian = 0
    np.testing.assert_array_equal(image_to_numpy(msg), np.array([[0x0201, 0x00FF]], np.uint16))


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_to_bgr8(encoding: str) -> None:
    array = random_array(encoding, seed=3)
    bgr = to_bgr8(numpy_to_image(array, encoding))
    assert bgr.shape == (HEIGHT, WIDTH, 3) and bgr.dtype == np.uint8
    if encoding in ("bgr8", "8UC3"):
        expected = array
    elif encoding == "rgb8":
        expected = array[:, :, ::-1]
    elif encoding in ("bgra8", "8UC4"):
        expected = array[:, :, :3]
    elif encoding == "rgba8":
        expected = array[:, :, 2::-1]
    elif encoding in ("mono8", "8UC1"):
        expected = np.repeat(array[:, :, None], 3, axis=2)
    elif encoding in ("mono16", "16UC1"):
        expected = np.repeat((array >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
    else:
        expected = None  # packed YUV: checked against known colours below
    if expected is not None:
        np.testing.assert_array_equal(bgr, expected)


def _yuv_pixel_pair(encoding: str, y: int, u: int, v: int) -> list[int]:
    return [u, y, v, y] if encoding in ("yuv422", "uyvy") else [y, u, y, v]


@pytest.mark.parametrize("encoding", ["yuv422", "uyvy", "yuv422_yuy2", "yuyv"])
def test_packed_yuv_colours(encoding: str) -> None:
    # BT.601 video range (OpenCV's): Y=81,U=90,V=240 is pure red; Y=145,U=54,V=34 green; U=V=128 grey.
    rows = [
        _yuv_pixel_pair(encoding, 81, 90, 240) * 2,
        _yuv_pixel_pair(encoding, 145, 54, 34) * 2,
        _yuv_pixel_pair(encoding, 128, 128, 128) * 2,
    ]
    msg = Image(height=3, width=4, encoding=encoding, step=8)
    msg.data = bytes(np.array(rows, np.uint8).ravel())
    bgr = to_bgr8(msg).astype(int)
    assert np.all(np.abs(bgr[0] - [0, 0, 255]) <= 6), bgr[0]
    assert np.all(np.abs(bgr[1] - [0, 255, 0]) <= 6), bgr[1]
    assert np.all(np.abs(bgr[2] - [bgr[2, 0, 0]] * 3) == 0) and 120 <= bgr[2, 0, 0] <= 140


def test_header_is_kept() -> None:
    msg = numpy_to_image(random_array("bgr8"), "bgr8")
    msg.header.frame_id = "cam"
    again = numpy_to_image(image_to_numpy(msg), "bgr8", header=msg.header)
    assert again.header.frame_id == "cam"


# --- errors ---


def _error(msg: Image) -> str:
    with pytest.raises(ImageConversionError) as info:
        image_to_numpy(msg)
    return str(info.value)


def test_unknown_encoding() -> None:
    msg = numpy_to_image(random_array("bgr8"), "bgr8")
    msg.encoding = "bayer_rggb8"
    assert "unsupported image encoding 'bayer_rggb8'" in _error(msg)
    with pytest.raises(ImageConversionError, match="unsupported"):
        numpy_to_image(random_array("bgr8"), "32FC1")


def test_wrong_data_length() -> None:
    msg = numpy_to_image(random_array("bgr8"), "bgr8")
    msg.data = bytes(msg.data)[:-1]
    assert "expected step*height" in _error(msg)
    msg.data = bytes(msg.step * HEIGHT + 5)
    assert "expected step*height" in _error(msg)


def test_step_too_small() -> None:
    msg = numpy_to_image(random_array("rgb8"), "rgb8")
    msg.step -= 1
    msg.data = bytes(msg.step * msg.height)
    assert "step" in _error(msg)


def test_empty_and_odd_width() -> None:
    assert "empty image" in _error(Image(height=0, width=0, encoding="bgr8", step=0))
    odd = Image(height=1, width=3, encoding="yuyv", step=6)
    odd.data = bytes(6)
    assert "odd width" in _error(odd)


def test_array_that_does_not_fit_the_encoding() -> None:
    with pytest.raises(ImageConversionError, match="needs a HxWx3 uint8"):
        numpy_to_image(np.zeros((4, 4), np.uint8), "bgr8")
    with pytest.raises(ImageConversionError, match="uint16"):
        numpy_to_image(np.zeros((4, 4), np.uint8), "mono16")


# --- compressed images ---


def test_png_round_trip_is_exact() -> None:
    for array in (random_array("bgr8"), random_array("mono8"), random_array("mono16"), random_array("bgra8")):
        msg = numpy_to_compressed(array, "png")
        assert isinstance(msg, CompressedImage) and "png" in msg.format
        np.testing.assert_array_equal(compressed_to_numpy(msg), array)


def test_jpeg_round_trip_of_a_real_photo(shared_dir) -> None:
    photo = cv2.imread(str(shared_dir / "media" / "astronaut.png"), cv2.IMREAD_COLOR)
    msg = numpy_to_compressed(photo, "jpeg", jpeg_quality=95)
    assert msg.format == "bgr8; jpeg compressed bgr8"
    assert len(msg.data) < photo.nbytes / 4
    decoded = compressed_to_bgr8(msg)
    assert decoded.shape == photo.shape
    assert np.mean(np.abs(decoded.astype(int) - photo.astype(int))) < 3.0
    np.testing.assert_array_equal(to_bgr8(msg), decoded)


def test_gray_jpeg_decodes_to_bgr() -> None:
    gray = np.tile(np.arange(64, dtype=np.uint8) * 4, (32, 1))
    msg = numpy_to_compressed(gray, "jpeg")
    assert msg.format.startswith("mono8")
    assert compressed_to_bgr8(msg).shape == (32, 64, 3)


def test_corrupt_and_empty_compressed_images() -> None:
    msg = numpy_to_compressed(random_array("bgr8"), "jpeg")
    msg.data = bytes(msg.data)[:20]
    with pytest.raises(ImageConversionError, match="cannot decode"):
        compressed_to_bgr8(msg)
    with pytest.raises(ImageConversionError, match="empty compressed image"):
        compressed_to_bgr8(CompressedImage(format="jpeg"))
    with pytest.raises(ImageConversionError, match="unsupported compressed format"):
        numpy_to_compressed(random_array("bgr8"), "webp2")


def test_converter_selection() -> None:
    converter = get_converter()
    assert converter.name in ("cv_bridge", "fer_ros")
    array = random_array("rgb8", seed=5)
    np.testing.assert_array_equal(converter.to_bgr8(converter.to_image(array, "rgb8")), array[:, :, ::-1])
    own = get_converter(prefer_cv_bridge=False)
    assert isinstance(own, NumpyImageConverter) and own.name == "fer_ros"


# -- hostile images (issue 17) ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image_format", "make", "kind"),
    [
        ("jpeg", "jpeg_bomb", "image_too_large"),
        ("bgr8; jpeg compressed bgr8", "jpeg_bomb", "image_too_large"),
        ("png", "png_bomb", "image_too_large"),
        ("rgb8; png compressed rgb8", "png_bomb", "image_too_large"),
        ("jpeg", "bmp_rle_bomb", "format_mismatch"),
        ("bmp", "bmp_rle_bomb", "unsupported_format"),
        ("hdr", "hdr_header", "unsupported_format"),
        ("png", "hdr_header", "format_mismatch"),
        ("", "tiny_jpeg", "unsupported_format"),
        ("16UC1; compressedDepth png", "tiny_jpeg", "unsupported_format"),
    ],
)
def test_hostile_compressed_images_are_refused_before_decoding(image_format: str, make: str, kind: str) -> None:
    from fer_ros.testing import hostile_input

    msg = CompressedImage(format=image_format, data=getattr(hostile_input, make)())
    with pytest.raises(ImageConversionError) as error:
        compressed_to_bgr8(msg)
    assert error.value.kind == kind
    with pytest.raises(ImageConversionError):
        get_converter().to_bgr8(msg)  # cv_bridge too, when present


def test_compressed_format_names_and_the_pixel_budget() -> None:
    from fer_ros.ros.image_conversion import check_compressed, compressed_codec
    from fer_ros.testing.hostile_input import jpeg_bomb

    for name, codec in [("jpeg", "jpeg"), ("JPG", "jpeg"), ("bgr8; jpeg compressed bgr8", "jpeg"), ("png", "png")]:
        assert compressed_codec(name) == codec
    bomb = CompressedImage(format="jpeg", data=jpeg_bomb(5000, 4000))
    assert check_compressed(bomb, max_pixels=5000 * 4000) == ("jpeg", 5000, 4000)
    with pytest.raises(ImageConversionError, match="over the budget"):
        check_compressed(bomb, max_pixels=5000 * 4000 - 1)
    photo = numpy_to_compressed(random_array("bgr8"), "jpeg")
    assert compressed_to_bgr8(photo, max_pixels=WIDTH * HEIGHT).shape == (HEIGHT, WIDTH, 3)
    with pytest.raises(ImageConversionError) as error:
        compressed_to_bgr8(photo, max_pixels=WIDTH * HEIGHT - 1)
    assert error.value.kind == "image_too_large"
    raw = numpy_to_image(random_array("bgr8"), "bgr8")
    with pytest.raises(ImageConversionError) as error:
        to_bgr8(raw, max_pixels=WIDTH * HEIGHT - 1)
    assert error.value.kind == "image_too_large"


def test_bgr8_bytes_labelled_yuv422_are_refused(shared_dir) -> None:
    from fer_ros.core.image_io import read_image

    photo = read_image(shared_dir / "media" / "astronaut.png")
    width = photo.shape[1] // 4 * 4
    photo = np.ascontiguousarray(photo[:, :width])
    for encoding in ("bgr8", "rgb8", "bgra8", "yuv422", "yuv422_yuy2"):  # real layouts pass
        array = photo if encoding in ("bgr8", "rgb8") else cv2.cvtColor(photo, cv2.COLOR_BGR2BGRA)
        if encoding.startswith("yuv"):
            yuv = cv2.cvtColor(photo, cv2.COLOR_BGR2YUV)
            array = np.zeros((photo.shape[0], width, 2), np.uint8)
            luma, chroma = (1, 0) if encoding == "yuv422" else (0, 1)
            array[:, :, luma] = yuv[:, :, 0]
            array[:, 0::2, chroma], array[:, 1::2, chroma] = yuv[:, 0::2, 1], yuv[:, 0::2, 2]
        assert to_bgr8(numpy_to_image(array, encoding)).shape[:2] == (photo.shape[0], array.shape[1])
    mislabelled = numpy_to_image(photo, "bgr8")
    mislabelled.encoding, mislabelled.width = "yuv422", width * 3 // 2  # same byte count: consistent sizes
    with pytest.raises(ImageConversionError) as error:
        to_bgr8(mislabelled)
    assert error.value.kind == "layout_mismatch"
