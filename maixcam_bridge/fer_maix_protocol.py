"""fer_ros MaixCAM wire protocol: one UDP datagram per processed frame, plus a 1 Hz META message.

This single module is the only definition of the format. It is copied as is into the MaixPy app folder
(the device runs CPython 3.11) and installed as the top-level module ``fer_maix_protocol`` for the ROS 2
bridge node. Standard library only (struct, zlib/binascii, hmac, hashlib, json, math, os, re, time): no numpy, no
fer_ros.

Layout (little-endian; the full table with offsets is in maixcam_bridge/PROTOCOL.md)::

    datagram = header(header_len bytes) body crc32(4) [hmac_sha256(32) when FLAG_HMAC]
    FRAME body = face_count records of record_len bytes each
    META body  = UTF-8 JSON object (labels, models, thresholds, timings, temperature, versions)

Decoding either returns a :class:`FrameMessage` / :class:`MetaMessage` or raises exactly one
:class:`ProtocolError` subclass naming what is wrong; it never raises anything else on any input. Encoding
either returns bytes or raises :class:`EncodeError`. Everything read off the wire is bounded: strict JSON
(no NaN, Infinity or overflowing numbers, no duplicate keys, limited depth and string length), printable
labels, times below 2**53 us, capture time not after send time.

Version 1.1 (this one) changes two things over 1.0, which is still decoded: the labels checksum is
unambiguous (length-prefixed labels, see :func:`labels_checksum`), and ``session_id`` moves forward at every
app start (:func:`next_session_id`), so that a receiver can refuse a replayed older session.
"""

import hmac
import json
import math
import os
import re
import struct
import time

try:  # zlib is in every CPython build we know of; binascii.crc32 is the same CRC-32 (IEEE 802.3)
    from zlib import crc32
except ImportError:  # pragma: no cover - minimal interpreters only
    from binascii import crc32

__all__ = [
    "MAGIC",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "MSG_FRAME",
    "MSG_META",
    "FLAG_TRUNCATED",
    "FLAG_HMAC",
    "FACE_CLASSIFIED",
    "FACE_EYES_INVALID",
    "FACE_CROP_FAILED",
    "NO_CLASS",
    "NO_TRACK",
    "MAX_DATAGRAM",
    "MAX_DECODE",
    "HMAC_SIZE",
    "CRC_SIZE",
    "COMMON_HEADER_SIZE",
    "FRAME_HEADER_SIZE",
    "META_HEADER_SIZE",
    "FACE_RECORD_BASE_SIZE",
    "ProtocolError",
    "TruncatedError",
    "OversizeError",
    "BadMagicError",
    "UnsupportedVersionError",
    "UnknownMessageTypeError",
    "LengthError",
    "ChecksumError",
    "AuthenticationError",
    "FieldError",
    "EncodeError",
    "Face",
    "FrameMessage",
    "MetaMessage",
    "labels_checksum",
    "valid_label",
    "next_session_id",
    "MAX_TIME_US",
    "quantize_score",
    "record_size",
    "max_faces_for",
    "encode_frame",
    "encode_meta",
    "decode",
    "valid_device_id",
]

MAGIC = b"FERM"
VERSION_MAJOR = 1
VERSION_MINOR = 1  # 1.1: length-prefixed labels checksum, forward-moving session ids (1.0 still decoded)

MSG_FRAME = 1
MSG_META = 2

# header flags
FLAG_TRUNCATED = 0x01  # more faces were detected than the datagram carries
FLAG_HMAC = 0x02  # a 32-byte HMAC-SHA256 tag follows the CRC

# per-face flags
FACE_CLASSIFIED = 0x01  # scores and top_class are valid
FACE_EYES_INVALID = 0x02  # an eye keypoint was invalid, classification skipped
FACE_CROP_FAILED = 0x04  # the aligned crop could not be made, classification skipped

NO_CLASS = 0xFF
NO_TRACK = 0

# Label spellings of on-device models (MaixPy's face_emotion.mud says "disgust", "fear", "surprise") -> the
# ROS4HRI spellings that META carries (fer_ros/core/labels.py).
LABEL_ALIASES = {
    "happiness": "happy",
    "joy": "happy",
    "sadness": "sad",
    "anger": "angry",
    "surprise": "surprised",
    "disgust": "disgusted",
    "fear": "scared",
    "fearful": "scared",
    "afraid": "scared",
}

MAX_DATAGRAM = 1400  # what a sender may emit: fits an Ethernet/Wi-Fi MTU without IP fragmentation
MAX_DECODE = 65507  # the largest UDP payload; anything longer is not one of ours
MAX_TIME_US = 1 << 53  # device times (us) at or above this are refused: 285 years of uptime, exact as a float
CRC_SIZE = 4
HMAC_SIZE = 32
SCORE_SCALE = 65535

_COMMON = struct.Struct(
    "<4sBBBBH16sIIQ"
)  # magic major minor type flags header_len device session seq send_us
_FRAME_EXT = struct.Struct(
    "<QHHIBBBBH"
)  # capture_us w h labels_crc faces detected classes reserved record_len
_FRAME_HEADER = struct.Struct("<4sBBBBH16sIIQQHHIBBBBH")
_FACE_BASE = struct.Struct("<hhhh10hHBBH")
_U32 = struct.Struct("<I")

COMMON_HEADER_SIZE = _COMMON.size  # 42
FRAME_HEADER_SIZE = _FRAME_HEADER.size  # 64
META_HEADER_SIZE = COMMON_HEADER_SIZE
FACE_RECORD_BASE_SIZE = _FACE_BASE.size  # 34, then 2 bytes per class

_DEVICE_ID_RE = re.compile(rb"[A-Za-z0-9_.\-]{1,16}")
_MAX_LABELS = 64
_MAX_LABEL_LEN = 32
_INV_SCALE = 1.0 / SCORE_SCALE
# META JSON bounds
_JSON_MAX_DEPTH = 8
_JSON_MAX_STRING = 1024
_JSON_MAX_INT_DIGITS = 19  # |n| < 10**19: beyond any counter the device keeps
_PLAUSIBLE_EPOCH_S = 1_600_000_000  # a wall clock before Sept 2020 is not set (the device has no RTC)


class ProtocolError(Exception):
    """Base class: the datagram is not a valid fer_ros MaixCAM message."""


class TruncatedError(ProtocolError):
    """Shorter than its own header says (or shorter than the smallest header)."""


class OversizeError(ProtocolError):
    """Longer than any UDP payload."""


class BadMagicError(ProtocolError):
    """Does not start with the protocol magic: some other sender."""


class UnsupportedVersionError(ProtocolError):
    """A major version this decoder does not know (minor versions are forward compatible)."""


class UnknownMessageTypeError(ProtocolError):
    """A message type this decoder does not know."""


class LengthError(ProtocolError):
    """Header length, record length or face count inconsistent with the datagram size."""


class ChecksumError(ProtocolError):
    """CRC32 mismatch: corrupted in transit."""


class AuthenticationError(ProtocolError):
    """HMAC tag missing, or not made with the shared key."""


class FieldError(ProtocolError):
    """A field holds a value the format forbids (device id characters, class index, META JSON...)."""


class EncodeError(ProtocolError, ValueError):
    """The sender asked for something the format cannot carry."""


class Face:
    """One detected face as carried on the wire (pixel coordinates of the source frame)."""

    __slots__ = ("x", "y", "w", "h", "score", "keypoints", "top_class", "flags", "track_id", "scores")

    def __init__(
        self, x, y, w, h, score, keypoints=(-1,) * 10, top_class=None, flags=0, track_id=NO_TRACK, scores=()
    ):
        self.x = x
        self.y = y
        self.w = w
        self.h = h
        self.score = score  # detection confidence 0..1
        self.keypoints = keypoints  # (x0, y0, ..., x4, y4); -1 = invalid
        self.top_class = top_class  # index into the label list, or None when not classified
        self.flags = flags
        self.track_id = track_id
        self.scores = scores  # per-class probabilities in label order (empty/zeros when not classified)

    @property
    def classified(self):
        return bool(self.flags & FACE_CLASSIFIED)

    def __repr__(self):
        return (
            f"Face(x={self.x!r}, y={self.y!r}, w={self.w!r}, h={self.h!r}, score={self.score:.3f}, "
            f"top_class={self.top_class!r}, flags={self.flags}, track_id={self.track_id})"
        )


class FrameMessage:
    """A decoded FRAME datagram."""

    __slots__ = (
        "version_minor",
        "flags",
        "device_id",
        "session_id",
        "seq",
        "send_time_us",
        "capture_time_us",
        "width",
        "height",
        "labels_crc",
        "faces_detected",
        "class_count",
        "faces",
        "authenticated",
    )
    msg_type = MSG_FRAME

    def __init__(
        self,
        version_minor,
        flags,
        device_id,
        session_id,
        seq,
        send_time_us,
        capture_time_us,
        width,
        height,
        labels_crc,
        faces_detected,
        class_count,
        faces,
        authenticated,
    ):
        self.version_minor = version_minor
        self.flags = flags
        self.device_id = device_id
        self.session_id = session_id
        self.seq = seq
        self.send_time_us = send_time_us
        self.capture_time_us = capture_time_us
        self.width = width
        self.height = height
        self.labels_crc = labels_crc
        self.faces_detected = faces_detected
        self.class_count = class_count
        self.faces = faces
        self.authenticated = authenticated

    @property
    def truncated(self):
        return bool(self.flags & FLAG_TRUNCATED)

    def __repr__(self):
        return (
            f"FrameMessage(device_id={self.device_id!r}, session_id={self.session_id}, seq={self.seq}, "
            f"faces={len(self.faces)}/{self.faces_detected}, {self.width}x{self.height})"
        )


class MetaMessage:
    """A decoded META datagram: the JSON object plus the common header."""

    __slots__ = (
        "version_minor",
        "flags",
        "device_id",
        "session_id",
        "seq",
        "send_time_us",
        "info",
        "labels",
        "labels_crc",
        "authenticated",
    )
    msg_type = MSG_META

    def __init__(
        self,
        version_minor,
        flags,
        device_id,
        session_id,
        seq,
        send_time_us,
        info,
        labels,
        labels_crc,
        authenticated,
    ):
        self.version_minor = version_minor
        self.flags = flags
        self.device_id = device_id
        self.session_id = session_id
        self.seq = seq
        self.send_time_us = send_time_us
        self.info = info  # the whole JSON object (dict)
        self.labels = labels  # tuple of str
        self.labels_crc = labels_crc
        self.authenticated = authenticated

    def __repr__(self):
        return (
            f"MetaMessage(device_id={self.device_id!r}, session_id={self.session_id}, seq={self.seq}, "
            f"labels={self.labels!r})"
        )


# ---------------------------------------------------------------------------------------------- helpers


def valid_label(label):
    """True for a str of 1..32 printable characters (no newline, tab or other control character)."""
    return isinstance(label, str) and 0 < len(label) <= _MAX_LABEL_LEN and label.isprintable()


def labels_checksum(labels, version_minor=VERSION_MINOR):
    """CRC32 that ties a FRAME's class indices to a META label list.

    1.1: over the label count then each label as (UTF-8 byte length, bytes), so that no two label lists share
    the checksum input. 1.0: over the labels joined by newlines (ambiguous when a label holds a newline,
    which receivers refuse). Raises EncodeError for more than 255 labels or a label longer than 255 bytes,
    UnicodeError for text without a UTF-8 form.
    """
    if version_minor < 1:
        return crc32("\n".join(labels).encode("utf-8")) & 0xFFFFFFFF
    if len(labels) > 255:
        raise EncodeError(f"{len(labels)} labels; at most 255")
    out = bytearray([len(labels)])
    for label in labels:
        raw = label.encode("utf-8")
        if len(raw) > 255:
            raise EncodeError(f"label {label[:20]!r}... is longer than 255 bytes")
        out.append(len(raw))
        out += raw
    return crc32(bytes(out)) & 0xFFFFFFFF


def next_session_id(path, now_s=None):
    """The session id of a new app start: larger than every earlier one of this device (1.1).

    ``max(counter in path + 1, wall-clock seconds when the clock looks set)``, written back to ``path``
    (atomically). The wall clock keeps ids moving forward if the file is lost on a device whose clock is set;
    a file that cannot be read counts as 0, one that cannot be written is ignored (the id is still returned).
    """
    previous = 0
    try:
        with open(path) as f:
            previous = int(f.read().strip() or "0")
    except (OSError, ValueError):
        previous = 0
    wall = int(time.time() if now_s is None else now_s)
    session = max(previous + 1, wall if wall >= _PLAUSIBLE_EPOCH_S else 0, 1)
    if session > 0xFFFFFFFF:  # not before the year 2106
        session = 1
    try:
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(f"{session}\n")
        os.replace(tmp, path)
    except OSError:
        pass
    return session


def quantize_score(value):
    """0..1 float -> u16 (NaN and out-of-range values are clamped)."""
    if not value > 0.0:  # also catches NaN
        return 0
    if value >= 1.0:
        return SCORE_SCALE
    return int(value * SCORE_SCALE + 0.5)


def record_size(class_count):
    """Bytes of one face record in this version."""
    return FACE_RECORD_BASE_SIZE + 2 * class_count


def max_faces_for(class_count, with_hmac=False, max_size=MAX_DATAGRAM):
    """How many face records fit in one datagram of at most ``max_size`` bytes."""
    room = max_size - FRAME_HEADER_SIZE - CRC_SIZE - (HMAC_SIZE if with_hmac else 0)
    return max(0, min(255, room // record_size(class_count)))


def valid_device_id(device_id):
    """True for 1..16 characters from [A-Za-z0-9_.-]."""
    try:
        raw = device_id.encode("ascii")
    except (AttributeError, UnicodeError):
        return False
    return _DEVICE_ID_RE.fullmatch(raw) is not None


def _device_bytes(device_id):
    if not valid_device_id(device_id):
        raise EncodeError(f"device id must be 1..16 characters from [A-Za-z0-9_.-], got {device_id!r}")
    return device_id.encode("ascii")


def _clamp_i16(v):
    if isinstance(v, float) and not math.isfinite(v):
        raise EncodeError(f"a coordinate is {v!r}; it must be a finite number")
    v = int(v)
    return -32768 if v < -32768 else 32767 if v > 32767 else v


def _u(value, bits, name):
    """An unsigned integer field, wrapped to ``bits`` (sequence numbers and ids wrap by design)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"{name} must be an integer, got {value!r}")
    return value & ((1 << bits) - 1)


def _time_us(value, name):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_TIME_US:
        raise EncodeError(f"{name} must be an integer in 0..2**53-1 us, got {value!r}")
    return value


def _key_bytes(key):
    if key is None or key == b"" or key == "":
        return None
    if isinstance(key, str):
        return key.encode("utf-8")
    return bytes(key)


def _seal(body, key):
    """Append CRC32 and, with a key, the HMAC-SHA256 tag (``body``: a bytearray, flags already set)."""
    body += _U32.pack(crc32(body) & 0xFFFFFFFF)
    if key is not None:
        body += hmac.digest(key, bytes(body), "sha256")
    return bytes(body)


# ---------------------------------------------------------------------------------------------- encoding


def encode_frame(
    device_id,
    session_id,
    seq,
    send_time_us,
    capture_time_us,
    width,
    height,
    labels_crc,
    class_count,
    faces,
    faces_detected=None,
    key=None,
    max_size=MAX_DATAGRAM,
):
    """Build one FRAME datagram.

    ``faces`` are :class:`Face` objects in priority order (the device sorts biggest first); those that do
    not fit in ``max_size`` bytes are left out and FLAG_TRUNCATED is set. ``faces_detected`` defaults to
    ``len(faces)``. ``key`` (bytes or str) adds an HMAC-SHA256 tag. Any value the format cannot carry
    (non-finite coordinate, capture after send, wrong types...) raises EncodeError.
    """
    try:
        return _encode_frame(
            device_id, session_id, seq, send_time_us, capture_time_us, width, height, labels_crc,
            class_count, faces, faces_detected, key, max_size,
        )  # fmt: skip
    except EncodeError:
        raise
    except (TypeError, ValueError, OverflowError, AttributeError, struct.error) as exc:
        raise EncodeError(f"cannot encode this frame: {type(exc).__name__}: {exc}") from exc


def _encode_frame(
    device_id,
    session_id,
    seq,
    send_time_us,
    capture_time_us,
    width,
    height,
    labels_crc,
    class_count,
    faces,
    faces_detected,
    key,
    max_size,
):
    dev = _device_bytes(device_id)
    send_time_us = _time_us(send_time_us, "send_time_us")
    capture_time_us = _time_us(capture_time_us, "capture_time_us")
    if capture_time_us > send_time_us:
        raise EncodeError(f"capture time {capture_time_us} us is after the send time {send_time_us} us")
    if not 1 <= class_count <= 255:
        raise EncodeError(f"class_count must be 1..255, got {class_count!r}")
    key = _key_bytes(key)
    if faces_detected is None:
        faces_detected = len(faces)
    capacity = max_faces_for(class_count, key is not None, max_size)
    n = min(len(faces), capacity)
    flags = FLAG_HMAC if key is not None else 0
    if n < len(faces) or faces_detected > n:
        flags |= FLAG_TRUNCATED
    rec_len = record_size(class_count)
    body = bytearray(
        _FRAME_HEADER.pack(
            MAGIC,
            VERSION_MAJOR,
            VERSION_MINOR,
            MSG_FRAME,
            flags,
            FRAME_HEADER_SIZE,
            dev,
            _u(session_id, 32, "session_id"),
            _u(seq, 32, "seq"),
            send_time_us,
            capture_time_us,
            min(max(int(width), 0), 0xFFFF),
            min(max(int(height), 0), 0xFFFF),
            _u(labels_crc, 32, "labels_crc"),
            n,
            min(max(faces_detected, n), 255),
            class_count,
            0,
            rec_len,
        )
    )
    scores_fmt = struct.Struct(f"<{class_count}H")
    zeros = (0,) * class_count
    for face in faces[:n]:
        kps = face.keypoints
        if len(kps) != 10:
            raise EncodeError(f"a face needs 10 keypoint values (5 points), got {len(kps)}")
        top = NO_CLASS if face.top_class is None else int(face.top_class)
        if top != NO_CLASS and not 0 <= top < class_count:
            raise EncodeError(f"top_class {top!r} outside 0..{class_count - 1}")
        scores = face.scores
        if scores:
            if len(scores) != class_count:
                raise EncodeError(f"a face has {len(scores)} scores for {class_count} classes")
            q = tuple(quantize_score(s) for s in scores)
        else:
            q = zeros
        body += _FACE_BASE.pack(
            _clamp_i16(face.x),
            _clamp_i16(face.y),
            _clamp_i16(face.w),
            _clamp_i16(face.h),
            *[_clamp_i16(v) for v in kps],
            quantize_score(face.score),
            top,
            int(face.flags) & 0xFF,
            int(face.track_id) & 0xFFFF,
        )
        body += scores_fmt.pack(*q)
    return _seal(body, key)


def encode_meta(device_id, session_id, seq, send_time_us, info, key=None, max_size=MAX_DATAGRAM):
    """Build one META datagram from a JSON-serialisable dict that has a ``labels`` list of 1..64 printable
    strings of 1..32 characters. Non-finite numbers and anything JSON cannot carry raise EncodeError."""
    dev = _device_bytes(device_id)
    labels = info.get("labels") if isinstance(info, dict) else None
    if not isinstance(labels, list) or not 1 <= len(labels) <= _MAX_LABELS or not all(map(valid_label, labels)):
        raise EncodeError(
            f"META info needs a 'labels' list of 1..{_MAX_LABELS} printable strings of 1..{_MAX_LABEL_LEN} "
            "characters"
        )
    send_time_us = _time_us(send_time_us, "send_time_us")
    key = _key_bytes(key)
    flags = FLAG_HMAC if key is not None else 0
    try:
        payload = json.dumps(info, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        _check_json(info, 0)
    except (TypeError, ValueError, RecursionError, UnicodeError, FieldError) as exc:
        raise EncodeError(f"META info is not strict JSON: {exc}") from None
    body = bytearray(
        _COMMON.pack(
            MAGIC,
            VERSION_MAJOR,
            VERSION_MINOR,
            MSG_META,
            flags,
            META_HEADER_SIZE,
            dev,
            _u(session_id, 32, "session_id"),
            _u(seq, 32, "seq"),
            send_time_us,
        )
    )
    body += payload
    size = len(body) + CRC_SIZE + (HMAC_SIZE if key is not None else 0)
    if size > max_size:
        raise EncodeError(f"META message is {size} bytes, more than {max_size}: shorten it")
    return _seal(body, key)


# ---------------------------------------------------------------------------------------------- decoding

_records_structs = {}


def _records_struct(class_count, face_count, rec_len):
    """One Struct for all records of a frame; unknown trailing bytes of each record are skipped as pad."""
    k = (class_count, face_count, rec_len)
    s = _records_structs.get(k)
    if s is None:
        pad = rec_len - FACE_RECORD_BASE_SIZE - 2 * class_count
        one = f"hhhh10hHBBH{class_count}H" + (f"{pad}x" if pad else "")
        s = struct.Struct("<" + one * face_count)
        if len(_records_structs) > 512:  # bounded: adversarial senders can vary the key
            _records_structs.clear()
        _records_structs[k] = s
    return s


def _device_id(raw):
    raw = raw.rstrip(b"\0")
    if _DEVICE_ID_RE.fullmatch(raw) is None:
        raise FieldError(f"device id {raw[:16]!r} is not 1..16 characters from [A-Za-z0-9_.-]")
    return raw.decode("ascii")


def decode(data, key=None):
    """Decode one datagram into a FrameMessage or MetaMessage; raise a ProtocolError subclass otherwise.

    With ``key`` (bytes or str, non-empty) only datagrams carrying a valid HMAC-SHA256 tag made with that
    key are accepted. Without a key a tag, if present, is skipped (``authenticated`` is then False).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise FieldError(f"a datagram must be bytes, got {type(data).__name__}")
    if isinstance(data, memoryview):
        data = data.tobytes()
    size = len(data)
    if size < COMMON_HEADER_SIZE + CRC_SIZE:
        if size >= 4 and data[:4] != MAGIC:
            raise BadMagicError(f"not a fer_ros MaixCAM datagram (magic {bytes(data[:4])!r})")
        raise TruncatedError(f"{size} bytes is shorter than the smallest message")
    if size > MAX_DECODE:
        raise OversizeError(f"{size} bytes is longer than any UDP payload")
    (magic, major, minor, msg_type, flags, header_len, dev_raw, session_id, seq, send_us) = (
        _COMMON.unpack_from(data, 0)
    )
    if magic != MAGIC:
        raise BadMagicError(f"not a fer_ros MaixCAM datagram (magic {magic!r})")
    if major != VERSION_MAJOR:
        raise UnsupportedVersionError(
            f"protocol version {major}.{minor}, this decoder reads {VERSION_MAJOR}.x"
        )
    key = _key_bytes(key)
    tag_len = HMAC_SIZE if flags & FLAG_HMAC else 0
    end = size - CRC_SIZE - tag_len  # end of header + body
    if end < COMMON_HEADER_SIZE:
        raise TruncatedError(f"{size} bytes cannot hold the header, CRC and HMAC tag")
    if tag_len:
        if key is not None:
            expected = hmac.digest(key, data[: size - HMAC_SIZE], "sha256")
            if not hmac.compare_digest(expected, data[size - HMAC_SIZE :]):
                raise AuthenticationError("HMAC tag does not match the shared key")
    elif key is not None:
        raise AuthenticationError("no HMAC tag, and this receiver requires one")
    if _U32.unpack_from(data, end)[0] != crc32(data[:end]) & 0xFFFFFFFF:
        raise ChecksumError("CRC32 mismatch")
    authenticated = key is not None
    device_id = _device_id(dev_raw)
    if send_us >= MAX_TIME_US:
        raise FieldError(f"send time {send_us} us is beyond 2**53")
    if msg_type == MSG_FRAME:
        return _decode_frame(
            data, minor, flags, header_len, end, device_id, session_id, seq, send_us, authenticated
        )
    if msg_type == MSG_META:
        return _decode_meta(
            data, minor, flags, header_len, end, device_id, session_id, seq, send_us, authenticated
        )
    raise UnknownMessageTypeError(f"message type {msg_type} is not known to this decoder")


def _decode_frame(data, minor, flags, header_len, end, device_id, session_id, seq, send_us, authenticated):
    if header_len < FRAME_HEADER_SIZE or header_len > end:
        raise LengthError(f"FRAME header length {header_len} outside {FRAME_HEADER_SIZE}..{end}")
    (capture_us, width, height, labels_crc, face_count, detected, class_count, _reserved, rec_len) = (
        _FRAME_EXT.unpack_from(data, COMMON_HEADER_SIZE)
    )
    if class_count == 0:
        raise FieldError("class count is 0")
    if capture_us > send_us:
        raise FieldError(f"capture time {capture_us} us is after the send time {send_us} us")
    base = FACE_RECORD_BASE_SIZE + 2 * class_count
    if rec_len < base:
        raise LengthError(f"record length {rec_len} shorter than {base} for {class_count} classes")
    if header_len + face_count * rec_len != end:
        raise LengthError(
            f"{face_count} faces of {rec_len} bytes after a {header_len}-byte header do not fill {end} bytes"
        )
    if detected < face_count:
        raise FieldError(f"faces_detected {detected} < face count {face_count}")
    faces = []
    if face_count:
        values = _records_struct(class_count, face_count, rec_len).unpack_from(data, header_len)
        inv = _INV_SCALE
        stride = 18 + class_count  # values per record
        for i in range(0, face_count * stride, stride):
            top = values[i + 15]
            if top == NO_CLASS:
                top = None
            elif top >= class_count:
                raise FieldError(f"top class {top} outside 0..{class_count - 1}")
            faces.append(
                Face(
                    values[i],
                    values[i + 1],
                    values[i + 2],
                    values[i + 3],
                    values[i + 14] * inv,
                    values[i + 4 : i + 14],
                    top,
                    values[i + 16],
                    values[i + 17],
                    tuple([q * inv for q in values[i + 18 : i + 18 + class_count]]),
                )
            )
    return FrameMessage(
        minor,
        flags,
        device_id,
        session_id,
        seq,
        send_us,
        capture_us,
        width,
        height,
        labels_crc,
        detected,
        class_count,
        faces,
        authenticated,
    )


def _decode_meta(data, minor, flags, header_len, end, device_id, session_id, seq, send_us, authenticated):
    if header_len < META_HEADER_SIZE or header_len > end:
        raise LengthError(f"META header length {header_len} outside {META_HEADER_SIZE}..{end}")
    try:
        info = _strict_json(bytes(data[header_len:end]).decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise FieldError(f"META payload is not strict UTF-8 JSON: {str(exc)[:200]}") from None
    if not isinstance(info, dict):
        raise FieldError("META payload is not a JSON object")
    _check_json(info, 0)
    labels = info.get("labels")
    if not isinstance(labels, list) or not 1 <= len(labels) <= _MAX_LABELS or not all(map(valid_label, labels)):
        raise FieldError(
            f"META labels must be a list of 1..{_MAX_LABELS} printable strings of 1..{_MAX_LABEL_LEN} characters"
        )
    labels = tuple(labels)
    try:
        labels_crc = labels_checksum(labels, minor)
    except UnicodeError:  # a lone surrogate escaped in the JSON ("\\ud800") has no UTF-8 form
        raise FieldError("META labels are not valid Unicode") from None
    return MetaMessage(
        minor, flags, device_id, session_id, seq, send_us, info, labels, labels_crc, authenticated
    )


# ---------------------------------------------------------------------------------------------- strict JSON


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} overflows a double")
    return value


def _bounded_int(text):
    if len(text.lstrip("-")) > _JSON_MAX_INT_DIGITS:
        raise ValueError(f"integer of {len(text)} digits; at most {_JSON_MAX_INT_DIGITS}")
    return int(text)


def _unique_keys(pairs):
    out = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k[:32]!r}")
        out[k] = v
    return out


def _strict_json(text):
    """json.loads without NaN/Infinity literals, overflowing floats, huge integers or duplicate keys."""
    return json.loads(
        text,
        parse_constant=_refuse_constant,
        parse_float=_finite_float,
        parse_int=_bounded_int,
        object_pairs_hook=_unique_keys,
    )


def _check_json(value, depth):
    """Depth, string length, key type and number range of a parsed (or to-be-sent) META object."""
    if depth > _JSON_MAX_DEPTH:
        raise FieldError(f"META JSON nested deeper than {_JSON_MAX_DEPTH}")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or len(k) > _JSON_MAX_STRING:
                raise FieldError("META JSON key is not a string of at most 1024 characters")
            _check_json(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_json(v, depth + 1)
    elif isinstance(value, str):
        if len(value) > _JSON_MAX_STRING:
            raise FieldError(f"META JSON string longer than {_JSON_MAX_STRING} characters")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError("META JSON number is not finite")
    elif isinstance(value, int) and not isinstance(value, bool):
        if not -(10**_JSON_MAX_INT_DIGITS) < value < 10**_JSON_MAX_INT_DIGITS:
            raise FieldError(f"META JSON integer beyond {_JSON_MAX_INT_DIGITS} digits")
    elif value is not None and not isinstance(value, bool):
        raise FieldError(f"META JSON value of type {type(value).__name__}")
