"""The MaixCAM wire protocol: round trip, golden bytes, limits, forward compatibility, errors, HMAC."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from maixcam_bridge import fer_maix_protocol as P

GOLDEN = Path(__file__).parent / "data" / "maixcam_golden_frame_1_1.hex"
GOLDEN_1_0 = Path(__file__).parent / "data" / "maixcam_golden_frame.hex"
LABELS7 = ["angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral"]


def golden_bytes(path: Path = GOLDEN) -> bytes:
    text = "".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
    return bytes.fromhex(text)


def face(i: int = 0, classes: int = 7, top: int | None = 3) -> P.Face:
    scores = [0.0] * classes
    if top is not None:
        scores = [0.02] * classes
        scores[top] = 1.0 - 0.02 * (classes - 1)
    return P.Face(
        10 + i,
        20 + i,
        30,
        40,
        0.9,
        (1, 2, 3, 4, 5, 6, 7, 8, 9, 10),
        top,
        P.FACE_CLASSIFIED if top is not None else P.FACE_EYES_INVALID,
        i + 1,
        scores,
    )


def frame(faces: list[P.Face], key=None, **kw) -> bytes:
    args = dict(
        device_id="cam-1",
        session_id=99,
        seq=5,
        send_time_us=2_000_000,
        capture_time_us=1_990_000,
        width=320,
        height=224,
        labels_crc=P.labels_checksum(LABELS7),
        class_count=7,
    )
    args.update(kw)
    return P.encode_frame(faces=faces, key=key, **args)


def test_golden_frame_bytes_are_the_encoder_output_and_decode_back() -> None:
    data = golden_bytes()
    labels = ["neutral", "happy", "sad"]
    assert zlib.crc32(b"\x03\x07neutral\x05happy\x03sad") == P.labels_checksum(labels)
    encoded = P.encode_frame(
        "cam-1",
        0x12345678,
        7,
        1_000_000,
        990_000,
        320,
        224,
        P.labels_checksum(labels),
        3,
        [
            P.Face(
                100,
                50,
                80,
                96,
                0.75,
                (120, 80, 160, 81, 140, 100, 125, 120, 155, 121),
                1,
                P.FACE_CLASSIFIED,
                3,
                [0.25, 0.5, 0.25],
            )
        ],
    )
    assert encoded == data
    msg = P.decode(data)
    assert isinstance(msg, P.FrameMessage)
    assert (msg.device_id, msg.session_id, msg.seq) == ("cam-1", 0x12345678, 7)
    assert (msg.send_time_us, msg.capture_time_us, msg.width, msg.height) == (1_000_000, 990_000, 320, 224)
    assert (msg.faces_detected, msg.class_count, msg.truncated, msg.authenticated) == (1, 3, False, False)
    (f,) = msg.faces
    assert (f.x, f.y, f.w, f.h, f.top_class, f.flags, f.track_id) == (
        100,
        50,
        80,
        96,
        1,
        P.FACE_CLASSIFIED,
        3,
    )
    assert f.keypoints == (120, 80, 160, 81, 140, 100, 125, 120, 155, 121)
    assert f.score == pytest.approx(0.75, abs=1e-4)
    assert f.scores == pytest.approx((0.25, 0.5, 0.25), abs=1e-4)


def test_version_1_0_golden_frame_still_decodes_with_its_own_checksum() -> None:
    msg = P.decode(golden_bytes(GOLDEN_1_0))
    assert msg.version_minor == 0 and (msg.device_id, msg.seq, msg.class_count) == ("cam-1", 7, 3)
    assert msg.labels_crc == zlib.crc32(b"neutral\nhappy\nsad") == P.labels_checksum(["neutral", "happy", "sad"], 0)
    assert golden_bytes(GOLDEN_1_0)[P.FRAME_HEADER_SIZE :] == golden_bytes()[P.FRAME_HEADER_SIZE :-4] + (
        golden_bytes(GOLDEN_1_0)[-4:]
    )  # same records: only the minor version, the labels checksum and the CRC differ


def test_labels_checksum_is_unambiguous_and_newlines_are_refused() -> None:
    assert P.labels_checksum(["a\nb", "c"], 0) == P.labels_checksum(["a", "b\nc"], 0)  # the 1.0 flaw
    assert P.labels_checksum(["a\nb", "c"]) != P.labels_checksum(["a", "b\nc"])
    assert P.labels_checksum(["ab", "c"]) != P.labels_checksum(["a", "bc"])
    meta = P.encode_meta("cam-1", 1, 1, 1, {"labels": ["a"]})
    for labels in (["a\nb", "c"], ["tab\there"], ["x" * 33], [""], ["ok"] * 65, ["bell\u0007"]):
        payload = json.dumps({"labels": labels}).encode()
        with pytest.raises(P.FieldError):
            P.decode(reseal(meta[: P.META_HEADER_SIZE] + payload))
        with pytest.raises(P.EncodeError):
            P.encode_meta("cam-1", 1, 1, 1, {"labels": labels})


@pytest.mark.parametrize(
    "payload",
    [
        b'{"labels": ["a"], "fps": NaN}',
        b'{"labels": ["a"], "fps": Infinity}',
        b'{"labels": ["a"], "fps": -Infinity}',
        b'{"labels": ["a"], "fps": 1e999}',
        b'{"labels": ["a"], "fps": ' + b"9" * 400 + b"}",
        b'{"labels": ["a"], "temperature_c": -' + b"1" * 20 + b"}",
        b'{"labels": ["a"], "labels": ["b"]}',
        b'{"labels": ["a"], "x": ' + b"[" * 9 + b"]" * 9 + b"}",
        b'{"labels": ["a"], "app": "' + b"x" * 1025 + b'"}',
    ],
)
def test_meta_json_is_strict(payload: bytes) -> None:
    meta = P.encode_meta("cam-1", 1, 1, 1, {"labels": ["a"]})
    with pytest.raises(P.FieldError):
        P.decode(reseal(meta[: P.META_HEADER_SIZE] + payload))


@pytest.mark.parametrize(
    "info",
    [
        {"labels": ["a"], "fps": float("nan")},
        {"labels": ["a"], "fps": float("inf")},
        {"labels": ["a"], "frames": 10**400},
        {"labels": ["a"], "blob": object()},
        {"labels": ["a"], "deep": [[[[[[[[[[1]]]]]]]]]]},
    ],
)
def test_meta_encoder_refuses_what_the_decoder_would(info: dict) -> None:
    with pytest.raises(P.EncodeError):
        P.encode_meta("cam-1", 1, 1, 1, info)


@pytest.mark.parametrize(
    "bad_face",
    [
        P.Face(float("nan"), 0, 1, 1, 0.5, (0,) * 10),
        P.Face(0, float("inf"), 1, 1, 0.5, (0,) * 10),
        P.Face(0, 0, 1, 1, 0.5, (0,) * 9 + (float("-inf"),)),
        P.Face(0, 0, 1, 1, 0.5, (0,) * 9 + (float("nan"),)),
        P.Face("x", 0, 1, 1, 0.5, (0,) * 10),
        P.Face(0, 0, 1, 1, 0.5, (0,) * 10, "happy", P.FACE_CLASSIFIED, 0, [0.1] * 7),
    ],
)
def test_every_encode_failure_is_an_encode_error(bad_face: P.Face) -> None:
    with pytest.raises(P.EncodeError):
        frame([bad_face])


@pytest.mark.parametrize(
    "fields",
    [
        {"send_time_us": -1},
        {"send_time_us": 2**64 - 1},
        {"send_time_us": 1.5},
        {"capture_time_us": 2_000_001},  # after the send time
        {"session_id": "one"},
        {"seq": None},
    ],
)
def test_encoder_refuses_out_of_range_header_fields(fields: dict) -> None:
    with pytest.raises(P.EncodeError):
        frame([face()], **fields)


def test_capture_after_send_and_times_beyond_2_53_are_refused_by_the_decoder() -> None:
    good = bytearray(frame([face()])[:-4])
    future = bytearray(good)
    struct.pack_into("<Q", future, 42, 2_000_000 + 10**12)  # capture 11.6 days after sending
    with pytest.raises(P.FieldError):
        P.decode(reseal(bytes(future)))
    huge = bytearray(good)
    struct.pack_into("<QQ", huge, 34, 2**64 - 1, 2**64 - 1)
    with pytest.raises(P.FieldError):
        P.decode(reseal(bytes(huge)))


def test_next_session_id_moves_forward_and_survives_a_lost_file(tmp_path: Path) -> None:
    path = tmp_path / "session"
    first = P.next_session_id(str(path), now_s=0)  # clock not set: a counter
    assert [first, P.next_session_id(str(path), now_s=0)] == [1, 2]
    assert path.read_text().strip() == "2"
    path.unlink()  # lost: a set wall clock keeps it moving forward
    assert P.next_session_id(str(path), now_s=1_700_000_000) == 1_700_000_000
    assert P.next_session_id(str(path), now_s=1_700_000_000) == 1_700_000_001
    assert P.next_session_id(str(tmp_path / "no" / "dir"), now_s=0) == 1  # unwritable: still an id


def test_round_trip_frame_with_classified_and_skipped_faces() -> None:
    faces = [face(0), face(1, top=None), face(2, top=6)]
    faces[1].keypoints = (-1, -1, 50, 60, 70, 80, -1, -1, 90, 95)
    msg = P.decode(frame(faces, faces_detected=3))
    assert [f.top_class for f in msg.faces] == [3, None, 6]
    assert msg.faces[1].keypoints == (-1, -1, 50, 60, 70, 80, -1, -1, 90, 95)
    assert msg.faces[1].scores == (0.0,) * 7 and not msg.faces[1].classified
    assert [f.track_id for f in msg.faces] == [1, 2, 3]
    for sent, got in zip(faces, msg.faces, strict=True):
        if sent.top_class is not None:
            assert got.scores == pytest.approx(sent.scores, abs=1.0 / 65535)


def test_zero_faces_is_a_valid_frame() -> None:
    data = frame([])
    assert len(data) == P.FRAME_HEADER_SIZE + P.CRC_SIZE
    msg = P.decode(data)
    assert msg.faces == [] and msg.faces_detected == 0 and not msg.truncated


def test_values_are_clamped_not_wrapped() -> None:
    f = P.Face(
        -40000, 40000, 5, 5, float("nan"), (-5,) * 10, 0, P.FACE_CLASSIFIED, 70000, [2.0, -1.0, 0, 0, 0, 0, 0]
    )
    got = P.decode(frame([f])).faces[0]
    assert (got.x, got.y, got.score) == (-32768, 32767, 0.0)
    assert got.scores[:2] == (1.0, 0.0)
    assert got.track_id == 70000 & 0xFFFF


@pytest.mark.parametrize(("classes", "with_hmac"), [(7, False), (8, False), (8, True), (1, False)])
def test_faces_are_capped_to_fit_1400_bytes_and_flagged_truncated(classes: int, with_hmac: bool) -> None:
    key = b"k" * 16 if with_hmac else None
    cap = P.max_faces_for(classes, with_hmac)
    faces = [face(i, classes, top=0) for i in range(cap + 5)]
    data = frame(faces, key=key, class_count=classes, labels_crc=1)
    assert len(data) <= P.MAX_DATAGRAM
    assert len(data) + P.record_size(classes) > P.MAX_DATAGRAM or cap == 255
    msg = P.decode(data, key)
    assert len(msg.faces) == cap and msg.faces_detected == min(cap + 5, 255) and msg.truncated
    exact = P.decode(frame(faces[:cap], key=key, class_count=classes, labels_crc=1), key)
    assert not exact.truncated


def test_detected_faces_not_processed_set_truncated() -> None:
    msg = P.decode(frame([face(0)], faces_detected=4))
    assert msg.truncated and msg.faces_detected == 4 and len(msg.faces) == 1


def test_meta_round_trip_and_label_checksum() -> None:
    info = {"labels": LABELS7, "fps": 24.5, "temperature_c": 51.2, "timings_ms": {"detect": 12.0}}
    msg = P.decode(P.encode_meta("cam-1", 99, 6, 123, info))
    assert isinstance(msg, P.MetaMessage)
    assert msg.labels == tuple(LABELS7) and msg.info == info
    assert msg.labels_crc == P.labels_checksum(LABELS7) != zlib.crc32("\n".join(LABELS7).encode())
    assert msg.version_minor == P.VERSION_MINOR == 1


def test_meta_too_large_is_refused_by_the_encoder() -> None:
    with pytest.raises(P.EncodeError):
        P.encode_meta("cam-1", 1, 1, 1, {"labels": ["a"], "blob": "x" * 1400})


@pytest.mark.parametrize("bad", ["", "x" * 17, "héllo", "a b", "a/b"])
def test_device_id_must_be_short_ascii(bad: str) -> None:
    with pytest.raises(P.EncodeError):
        frame([], device_id=bad)


def test_encoder_rejects_inconsistent_faces() -> None:
    with pytest.raises(P.EncodeError):
        frame([P.Face(0, 0, 1, 1, 0.5, (0,) * 8)])
    with pytest.raises(P.EncodeError):
        frame([P.Face(0, 0, 1, 1, 0.5, (0,) * 10, 9, P.FACE_CLASSIFIED, 0, [0.1] * 7)])
    with pytest.raises(P.EncodeError):
        frame([P.Face(0, 0, 1, 1, 0.5, (0,) * 10, 1, P.FACE_CLASSIFIED, 0, [0.1] * 6)])


# -- forward compatibility --------------------------------------------------------------------------------


def reseal(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def test_longer_header_and_records_of_a_newer_minor_are_skipped() -> None:
    """A 1.3 sender appends 6 bytes to the header and 4 to each record: a 1.0 decoder reads what it knows."""
    old = frame([face(0), face(1, top=5)])[:-4]
    header = bytearray(old[: P.FRAME_HEADER_SIZE])
    header[5] = 3  # minor
    struct.pack_into("<H", header, 8, P.FRAME_HEADER_SIZE + 6)
    rec_len = P.record_size(7)
    struct.pack_into("<H", header, 62, rec_len + 4)
    records = old[P.FRAME_HEADER_SIZE :]
    new_records = b"".join(
        records[i : i + rec_len] + b"\xaa\xbb\xcc\xdd" for i in range(0, len(records), rec_len)
    )
    msg = P.decode(reseal(bytes(header) + b"\x11" * 6 + new_records))
    assert msg.version_minor == 3
    assert [f.top_class for f in msg.faces] == [3, 5]
    assert msg.faces[1].scores == P.decode(frame([face(0), face(1, top=5)])).faces[1].scores


def test_meta_with_longer_header_and_unknown_keys() -> None:
    body = bytearray(P.encode_meta("cam-1", 1, 2, 3, {"labels": ["happy"]})[: P.META_HEADER_SIZE])
    struct.pack_into("<H", body, 8, P.META_HEADER_SIZE + 2)
    payload = json.dumps({"labels": ["happy", "sad"], "new_field": {"x": 1}}).encode()
    msg = P.decode(reseal(bytes(body) + b"\0\0" + payload))
    assert msg.labels == ("happy", "sad") and msg.info["new_field"] == {"x": 1}


def test_unknown_major_version_is_rejected() -> None:
    data = bytearray(frame([face()])[:-4])
    data[4] = 2
    with pytest.raises(P.UnsupportedVersionError):
        P.decode(reseal(bytes(data)))


def test_unknown_message_type_is_rejected() -> None:
    data = bytearray(frame([])[:-4])
    data[6] = 9
    with pytest.raises(P.UnknownMessageTypeError):
        P.decode(reseal(bytes(data)))


# -- one error kind per failure ---------------------------------------------------------------------------


def test_each_failure_has_its_own_error() -> None:
    good = frame([face(0), face(1)])
    with pytest.raises(P.TruncatedError):
        P.decode(good[:20])
    with pytest.raises(P.BadMagicError):
        P.decode(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + b"-" * 40)
    with pytest.raises(P.ChecksumError):
        P.decode(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(P.ChecksumError):
        P.decode(good[:100] + bytes([good[100] ^ 0x10]) + good[101:])
    with pytest.raises(P.LengthError):  # one record missing, CRC recomputed: only the length check can tell
        P.decode(reseal(good[: -4 - P.record_size(7)]))
    with pytest.raises(P.OversizeError):
        P.decode(good + b"\0" * 70000)
    with pytest.raises(P.FieldError):
        P.decode(reseal(good[:10] + b"bad id!" + b"\0" * 9 + good[26:-4]))
    bad_top = bytearray(good[:-4])
    bad_top[P.FRAME_HEADER_SIZE + 30] = 7  # top_class of face 0 = class_count
    with pytest.raises(P.FieldError):
        P.decode(reseal(bytes(bad_top)))
    meta = P.encode_meta("cam-1", 1, 1, 1, {"labels": ["x"]})
    with pytest.raises(P.FieldError):
        P.decode(reseal(meta[: P.META_HEADER_SIZE] + b'{"labels": "not a list"}'))
    with pytest.raises(P.FieldError):
        P.decode(reseal(meta[: P.META_HEADER_SIZE] + b"[" * 1300))
    with pytest.raises(P.FieldError):
        P.decode(reseal(meta[: P.META_HEADER_SIZE] + b'{"labels": ["\\ud800"]}'))
    with pytest.raises(P.FieldError):
        P.decode("a str, not bytes")  # type: ignore[arg-type]


def test_all_errors_are_protocol_errors() -> None:
    for cls in (
        P.TruncatedError,
        P.OversizeError,
        P.BadMagicError,
        P.UnsupportedVersionError,
        P.UnknownMessageTypeError,
        P.LengthError,
        P.ChecksumError,
        P.AuthenticationError,
        P.FieldError,
        P.EncodeError,
    ):
        assert issubclass(cls, P.ProtocolError)


# -- HMAC ------------------------------------------------------------------------------------------------


def test_hmac_accept_and_reject() -> None:
    key = b"shared secret"
    signed = frame([face()], key=key)
    assert len(signed) == len(frame([face()])) + P.HMAC_SIZE
    assert P.decode(signed, key).authenticated
    assert P.decode(signed, key.decode()).authenticated  # str keys are UTF-8
    assert not P.decode(signed).authenticated  # no key here: the tag is skipped, not trusted
    with pytest.raises(P.AuthenticationError):
        P.decode(signed, b"another key")
    with pytest.raises(P.AuthenticationError):
        P.decode(frame([face()]), key)  # unsigned datagram to a receiver that requires a tag
    forged = bytearray(signed)
    forged[P.FRAME_HEADER_SIZE] ^= 1  # change a box coordinate, fix the CRC, keep the old tag
    body = bytes(forged[: -P.HMAC_SIZE - 4])
    forged = body + struct.pack("<I", zlib.crc32(body)) + bytes(signed[-P.HMAC_SIZE :])
    with pytest.raises(P.AuthenticationError):
        P.decode(forged, key)
    meta = P.encode_meta("cam-1", 1, 1, 1, {"labels": ["a"]}, key=key)
    assert P.decode(meta, key).authenticated


def test_module_is_device_safe() -> None:
    """The device has only the standard library: the protocol module must import nothing else."""
    src = Path(P.__file__).read_text()
    imports = {
        line.split()[1].split(".")[0]
        for line in src.splitlines()
        if line.startswith(("import ", "from ")) and not line.startswith("from __future__")
    }
    assert imports <= {"hmac", "json", "math", "os", "re", "struct", "time", "zlib", "binascii"}, imports


def test_device_label_aliases_agree_with_the_canonical_labels() -> None:
    from fer_ros.core.labels import CANONICAL_LABELS, canonical_label

    for spelling, canonical in P.LABEL_ALIASES.items():
        assert canonical in CANONICAL_LABELS and canonical_label(spelling) == canonical
