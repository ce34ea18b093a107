"""Fuzz the MaixCAM decoder: random, truncated, mutated and re-checksummed datagrams, and META JSON with
hostile values (issue 17: NaN, Infinity, 1e999, 400-digit integers, deep nesting, control characters).

The decoder must return a message or raise a ProtocolError subclass, nothing else, on every input, and
whatever it returns must be bounded (finite numbers, printable labels, capture <= send). Mutations are
re-sealed with a correct CRC (and HMAC) in most cases, so they reach the length and field checks instead of
stopping at the checksum. The receiver and its diagnostics then take the same stream without raising.
"""

from __future__ import annotations

import hmac
import json
import math
import random
import struct
import time
import zlib
from collections import Counter

from maixcam_bridge import fer_maix_protocol as P

FUZZ_INPUTS = 250_000
HOSTILE_JSON = [
    b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1" + b"0" * 400, b"-" + b"9" * 25, b"1e308",
    b'"' + b"x" * 2000 + b'"', b"[" * 50 + b"]" * 50, b'{"a":' * 20 + b"1" + b"}" * 20, b'"\\ud800"',
    b'"a\\nb"', b"true", b"null", b"[]", b"{}", b'"\\u0000"',
]  # fmt: skip
KEY = b"fuzz key"


def seeds() -> list[bytes]:
    labels = ["neutral", "happy", "surprised", "sad", "angry", "disgusted", "scared", "contempt"]
    crc = P.labels_checksum(labels)
    out = []
    for n in (0, 1, 3, 26):
        faces = [
            P.Face(
                10 * i,
                5 * i,
                40,
                50,
                0.8,
                tuple(range(10)),
                i % 8 if i % 3 else None,
                P.FACE_CLASSIFIED if i % 3 else P.FACE_EYES_INVALID,
                i,
                [1 / 8] * 8 if i % 3 else [],
            )
            for i in range(n)
        ]
        out.append(P.encode_frame("dev", 1, n, 10, 5, 640, 480, crc, 8, faces))
    out.append(P.encode_meta("dev", 1, 9, 10, {"labels": labels, "fps": 20.0, "timings_ms": {"a": 1}}))
    out.append(P.encode_frame("dev", 1, 2, 4, 3, 5, 6, crc, 8, [], key=KEY))
    return out


def reseal(body: bytes, with_tag: bool) -> bytes:
    if with_tag:
        body = body[: -P.HMAC_SIZE - 4]
        body += struct.pack("<I", zlib.crc32(body))
        return body + hmac.digest(KEY, body, "sha256")
    body = body[:-4]
    return body + struct.pack("<I", zlib.crc32(body))


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(6)
    if kind == 0 and b:  # flip bytes
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:  # overwrite a header field with an extreme value
        off = rng.choice([4, 5, 6, 7, 8, 9, 42, 50, 52, 58, 59, 60, 61, 62, 63])
        if off < len(b):
            b[off] = rng.choice([0, 1, 2, 0x7F, 0x80, 0xFE, 0xFF])
    elif kind == 2:  # cut
        del b[rng.randrange(len(b) + 1) :]
    elif kind == 3:  # insert junk
        pos = rng.randrange(len(b) + 1)
        b[pos:pos] = rng.randbytes(rng.randint(1, 64))
    elif kind == 4:  # replace the META payload / record area with random bytes
        start = rng.randrange(P.COMMON_HEADER_SIZE, max(P.COMMON_HEADER_SIZE + 1, len(b)))
        b[start:] = rng.randbytes(len(b) - start)
    else:  # duplicate a chunk (e.g. a record)
        if len(b) > 70:
            s = rng.randrange(64, len(b) - 4)
            b[s:s] = b[s : s + rng.randint(1, 60)]
    return bytes(b)


def hostile_meta(rng: random.Random) -> bytes:
    """A META whose JSON has a hostile value in a known key, an unknown key or the labels."""
    value = rng.choice(HOSTILE_JSON)
    key = rng.choice([b"fps", b"temperature_c", b"send_errors", b"timings_ms", b"frame", b"new_key"])
    labels = rng.choice([b'["happy","sad"]', b'["a\\nb","c"]', b"[" + value + b"]", value])
    payload = b'{"labels":' + labels + b',"' + key + b'":' + value + b"}"
    if rng.random() < 0.3:
        payload = b'{"labels":["happy"],"labels":["sad"]}'
    header = P.encode_meta("dev", 1, rng.randrange(1 << 32), 10, {"labels": ["x"]})[: P.META_HEADER_SIZE]
    return reseal(header + payload + b"\0\0\0\0", False)


def check_bounded(msg) -> None:
    """What a decoded message may hold: finite bounded numbers, printable labels, sane times."""
    assert msg.send_time_us < P.MAX_TIME_US
    if isinstance(msg, P.FrameMessage):
        assert msg.capture_time_us <= msg.send_time_us
        return
    assert all(P.valid_label(label) for label in msg.labels)

    def walk(value, depth=0):
        assert depth <= 8
        if isinstance(value, dict):
            for v in value.values():
                walk(v, depth + 1)
        elif isinstance(value, list):
            for v in value:
                walk(v, depth + 1)
        elif isinstance(value, float):
            assert math.isfinite(value)
        elif isinstance(value, int):
            assert abs(value) < 10**19
        elif isinstance(value, str):
            assert len(value) <= 1024

    walk(msg.info)
    json.dumps(msg.info, allow_nan=False)


def test_decoder_only_ever_raises_protocol_errors() -> None:
    rng = random.Random(20240617)
    base = seeds()
    outcomes: Counter[str] = Counter()
    unexpected: list[tuple[bytes, BaseException]] = []
    start = time.perf_counter()
    for i in range(FUZZ_INPUTS):
        mode = i % 5
        if mode == 4:
            data = hostile_meta(rng)
        elif mode == 0:
            data = rng.randbytes(rng.choice([0, 1, 3, 4, 10, 45, 46, 64, 68, 100, 1400, rng.randrange(2000)]))
            if rng.random() < 0.5:
                data = P.MAGIC + bytes([1]) + data[5:]
        elif mode == 1:
            seed = rng.choice(base)
            data = seed[: rng.randrange(len(seed) + 1)]
        else:
            seed = rng.choice(base)
            data = mutate(rng, seed)
            if mode == 3 and len(data) >= P.COMMON_HEADER_SIZE + 4:
                signed = bool(data[7] & P.FLAG_HMAC) and len(data) > P.HMAC_SIZE + 4
                data = reseal(data, signed)
        key = KEY if rng.random() < 0.2 else None
        if mode == 4:
            key = None
        try:
            msg = P.decode(data, key)
            check_bounded(msg)
            outcomes["ok:" + type(msg).__name__] += 1
        except P.ProtocolError as exc:
            outcomes[type(exc).__name__] += 1
        except BaseException as exc:  # noqa: BLE001 - exactly what this test hunts for
            unexpected.append((data, exc))
    elapsed = time.perf_counter() - start
    total = sum(outcomes.values()) + len(unexpected)
    print(f"\nfuzz: {total} datagrams in {elapsed:.1f} s, outcomes {dict(outcomes)}")
    assert total >= 200_000
    assert not unexpected, [(d.hex(), repr(e)) for d, e in unexpected[:5]]
    # the fuzzer must reach the deep checks, not only the magic and the CRC
    for kind in (
        "LengthError",
        "FieldError",
        "ChecksumError",
        "TruncatedError",
        "BadMagicError",
        "AuthenticationError",
        "UnsupportedVersionError",
        "UnknownMessageTypeError",
    ):
        assert outcomes[kind] > 0, kind
    assert outcomes["ok:FrameMessage"] > 0 and outcomes["ok:MetaMessage"] > 0


def test_receiver_and_diagnostics_take_any_datagram() -> None:
    """The bridge's logic without ROS: decoding, trust, sessions, clock, health reports, on fuzzed input."""
    from fer_ros.maixcam.health import BridgeHealth
    from fer_ros.maixcam.receiver import MaixReceiver, ReceiverConfig
    from fer_ros.testing.hostile_input import SimulatedCamera, bignum_metas, hostile_frames, random_datagrams

    rng = random.Random(17)
    for key in (None, KEY):
        rx = MaixReceiver(ReceiverConfig(hmac_key=key, max_age_ms=0, max_devices=8, max_devices_per_source=2))
        health = BridgeHealth(rx, 2.0, 0)
        cams = [SimulatedCamera(f"cam{i}", 1 + i, key) for i in range(3)]
        base = [c.meta() for c in cams] + [c.frame() for c in cams for _ in range(5)] + seeds()
        base += bignum_metas("cam0", 1, 50) + hostile_frames("cam0", 1, 60)
        host_ns = 10**12
        for n, data in enumerate(random_datagrams(rng, base, 20_000) + [hostile_meta(rng) for _ in range(5000)]):
            host_ns += rng.randrange(0, 5_000_000)
            rx.handle(data, f"10.0.0.{n % 5}", host_ns, n % 3)
            if n % 500 == 0:
                health.receiver_report(host_ns)
                health.device_reports(host_ns)
        assert rx.counters.datagrams == 25_000 and rx.counters.rejected > 0
