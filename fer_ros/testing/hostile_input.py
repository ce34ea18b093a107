"""Hostile inputs for tests and the soak benchmark (issue 17): a simulated live MaixCAM, replayed and spoofed
datagrams, malformed META, and decompression bombs built from tiny real images.

No ROS import; numpy and OpenCV only for the images.
"""

from __future__ import annotations

import random
import struct
import time
import zlib

import cv2
import numpy as np

from maixcam_bridge import fer_maix_protocol as P

LABELS = ["angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral"]


class SimulatedCamera:
    """A MaixCAM app stand-in: META and FRAME datagrams of one session, timed on this host's monotonic clock
    (so the bridge maps them to fresh stamps)."""

    def __init__(self, device: str = "cam-live", session: int = 1000, key: bytes | None = None) -> None:
        self.device, self.session, self.key = device, session, key
        self.seq = 0
        self.crc = P.labels_checksum(LABELS)

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def meta(self, **extra) -> bytes:
        now = time.monotonic_ns() // 1000
        info = {"labels": LABELS, "fps": 20.0, "temperature_c": 50.0, **extra}
        return P.encode_meta(self.device, self.session, self._next(), now, info, key=self.key)

    def frame(self) -> bytes:
        now = time.monotonic_ns() // 1000
        face = P.Face(
            50, 40, 60, 70, 0.9, (60, 60, 90, 60, 75, 75, 65, 90, 85, 90), 3, P.FACE_CLASSIFIED, 1,
            [0.02, 0.02, 0.02, 0.88, 0.02, 0.02, 0.02],
        )  # fmt: skip
        return P.encode_frame(
            self.device, self.session, self._next(), now, now - 3000, 320, 224, self.crc, 7, [face], key=self.key
        )


def reseal(body: bytes) -> bytes:
    """``body`` (header + payload, no trailer) with a valid CRC and no tag."""
    return body + struct.pack("<I", zlib.crc32(body))


def raw_meta(device: str, session: int, seq: int, payload: bytes, minor: int = P.VERSION_MINOR) -> bytes:
    """A META datagram with any payload bytes (a valid CRC, no tag): for JSON the encoder would refuse."""
    header = bytearray(P.encode_meta(device, session, seq, time.monotonic_ns() // 1000, {"labels": ["x"]}))
    header[5] = minor
    return reseal(bytes(header[: P.META_HEADER_SIZE]) + payload)


def bignum_metas(device: str, session: int, seq: int) -> list[bytes]:
    """The reproducers of issue 17 (1, 5): 400-digit integers, NaN, Infinity, 1e999, newline labels."""
    big = b"1" + b"0" * 400
    payloads = [
        b'{"labels": ["happy"], "fps": ' + big + b"}",
        b'{"labels": ["happy"], "temperature_c": -' + big + b"}",
        b'{"labels": ["happy"], "fps": NaN, "temperature_c": Infinity}',
        b'{"labels": ["happy"], "fps": 1e999}',
        b'{"labels": ["a\\nb", "c"]}',
    ]
    return [raw_meta(device, session, seq + i, p) for i, p in enumerate(payloads)]


def hostile_frames(device: str, session: int, seq: int) -> list[bytes]:
    """FRAME datagrams with capture times 10**12 us after sending and 2**64 - 1 (valid CRC)."""
    cam = SimulatedCamera(device, session)
    cam.seq = seq
    out = []
    for capture in (None, 2**64 - 1):
        body = bytearray(cam.frame()[:-4])
        send = struct.unpack_from("<Q", body, 34)[0]
        struct.pack_into("<Q", body, 42, send + 10**12 if capture is None else capture)
        out.append(reseal(bytes(body)))
    return out


def random_datagrams(rng: random.Random, base: list[bytes], count: int) -> list[bytes]:
    """Random bytes and mutated copies of ``base`` (re-checksummed half of the time)."""
    out = []
    for _ in range(count):
        if rng.random() < 0.3 or not base:
            out.append(rng.randbytes(rng.randrange(1, 1500)))
            continue
        data = bytearray(rng.choice(base))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        out.append(reseal(bytes(data[:-4])) if rng.random() < 0.5 else bytes(data))
    return out


# -- images ---------------------------------------------------------------------------------------------


def tiny_jpeg() -> bytes:
    image = np.full((16, 16, 3), 128, np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def jpeg_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A real 16x16 JPEG whose frame header (SOF0) is patched to claim ``width`` x ``height``."""
    data = bytearray(tiny_jpeg())
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A real 16x16 PNG whose IHDR (with its CRC fixed) claims ``width`` x ``height``."""
    data = bytearray(cv2.imencode(".png", np.zeros((16, 16, 3), np.uint8))[1].tobytes())
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def bmp_rle_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A 30000x30000 8-bit RLE BMP of about a kilobyte (OpenCV would decode it)."""
    rle = b"\x00\x01"  # end of bitmap at once
    palette = b"\x00\x00\x00\x00" * 256
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rle), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(rle), 0, 0, offset) + info + palette + rle


def hdr_header(width: int = 30000, height: int = 30000) -> bytes:
    """A Radiance HDR header claiming ``width`` x ``height`` and no pixels."""
    return b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n" + f"-Y {height} +X {width}\n".encode()
