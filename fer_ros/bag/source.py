"""Opening rosbag2 bags for reading, with a clear error for each way a bag can be unusable, and choosing their
image topics. An interrupted recording (no or damaged metadata.yaml) is read from its storage file directly."""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_ros.bag.types import COMPRESSED_IMAGE, IMAGE_TYPES
from fer_ros.core.errors import FerRosError

STORAGE_SUFFIXES = (".mcap", ".db3")
_LOG = logging.getLogger(__name__)


class BagError(FerRosError, ValueError):
    """A bag cannot be read or used (missing, corrupt, truncated, no usable topic...)."""


def _reading_errors() -> tuple[type[BaseException], ...]:
    """Exceptions rosbags and its storage back ends raise on damaged files."""
    from rosbags.rosbag2 import ReaderError
    from rosbags.typesys import TypesysError

    errors: list[type[BaseException]] = [ReaderError, TypesysError, struct.error, OSError, EOFError, KeyError]
    try:
        from mcap.exceptions import McapError

        errors.append(McapError)
    except ImportError:
        pass
    try:
        import apsw

        errors.append(apsw.Error)
    except ImportError:
        pass
    return tuple(errors)


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if "end magic" in text or "Truncated record" in text:
        text += " (the MCAP file is truncated: was the recording interrupted before it was closed?)"
    return text


def storage_files(directory: Path) -> list[Path]:
    """The storage files (.mcap, .db3) in a bag directory, sorted by name."""
    return sorted(p for p in directory.iterdir() if p.suffix in STORAGE_SUFFIXES and p.is_file())


@dataclass
class OpenedBag:
    """An open rosbags Reader and what was noticed while opening it."""

    reader: Any
    path: Path
    notes: list[str] = field(default_factory=list)

    @property
    def custom_data(self) -> dict[str, str]:
        """metadata.yaml's custom_data (empty when read from a storage file alone)."""
        metadata = getattr(self.reader.storage, "metadata", None)
        return dict(getattr(metadata, "custom", None) or {})


def _open_reader(path: Path) -> Any:
    from rosbags.rosbag2 import Reader

    reader = Reader(path)
    reader.open()
    return reader


def open_bag(path: str | Path) -> OpenedBag:
    """Open a bag directory (or a single .mcap/.db3 file) for reading.

    A directory whose metadata.yaml is missing or unreadable (an interrupted recording) is read from its one
    storage file, with a note saying so. Raises BagError naming the problem.
    """
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such bag (neither a rosbag2 directory nor a .mcap/.db3 file)")
    errors = _reading_errors()
    notes: list[str] = []
    if path.is_dir():
        metadata = path / "metadata.yaml"
        try:
            if not metadata.is_file():
                raise FileNotFoundError("metadata.yaml is missing")
            return OpenedBag(_open_reader(path), path, notes)
        except (*errors, ValueError, TypeError, AttributeError) as error:
            files = storage_files(path)
            if not files:
                raise BagError(
                    f"{path}: not a rosbag2 bag ({_describe(error)}; no .mcap or .db3 file in it)"
                ) from None
            if len(files) > 1:
                raise BagError(
                    f"{path}: {_describe(error)}, and it holds {len(files)} storage files: open them one by one"
                ) from None
            notes.append(
                f"{path}: {_describe(error)}; reading {files[0].name} directly (an interrupted recording?)"
            )
            path = files[0]
    elif path.suffix not in STORAGE_SUFFIXES:
        raise BagError(f"{path}: not a bag (expected a rosbag2 directory, a .mcap or a .db3 file)")
    try:
        return OpenedBag(_open_reader(path), path, notes)
    except (*errors, ValueError, TypeError, AttributeError) as error:
        if path.suffix == ".mcap" and "truncated" in _describe(error):
            recovered = _recover(path)
            if recovered is not None:
                notes.append(
                    f"{path.name} is truncated (the recording was interrupted before it was closed): read "
                    f"sequentially, {recovered.message_count} complete messages recovered, the last incomplete "
                    "chunk is lost"
                )
                return OpenedBag(recovered, path, notes)
        raise BagError(f"{path}: cannot read the bag: {_describe(error)}") from None


def _recover(path: Path) -> Any | None:
    """A TruncatedMcapReader of ``path`` when it holds at least one complete message, else None."""
    from fer_ros.bag.recover import TruncatedMcapReader

    try:
        reader = TruncatedMcapReader(path)
    except (*_reading_errors(), ValueError) as error:
        _LOG.debug("cannot recover %s: %s", path, error)
        return None
    return reader if reader.message_count else None


@contextmanager
def reading(path: str | Path) -> Iterator[OpenedBag]:
    """``open_bag`` as a context manager that closes the reader."""
    bag = open_bag(path)
    try:
        yield bag
    finally:
        try:
            bag.reader.close()
        except Exception:  # closing a reader of a damaged file must not hide the real error
            pass


def iter_messages(bag: OpenedBag, connections: list[Any]) -> Iterator[tuple[Any, int, bytes]]:
    """``reader.messages(connections)`` with damaged-file errors turned into BagError."""
    errors = _reading_errors()
    count = 0
    try:
        for item in bag.reader.messages(connections=connections):
            count += 1
            yield item
    except errors as error:
        raise BagError(f"{bag.path}: damaged after {count} messages: {_describe(error)}") from None


def results_namespace(topic: str, msgtype: str) -> str:
    """The namespace results of an image topic go under: ``/cam/image_raw`` and ``/cam/image_raw/compressed``
    -> ``/cam``; ``/image`` -> ``""``."""
    base = topic.rstrip("/")
    if msgtype == COMPRESSED_IMAGE and base.endswith("/compressed"):
        base = base[: -len("/compressed")]
    return base.rsplit("/", 1)[0]


def choose_image_topics(bag: OpenedBag, wanted: list[str] | None = None) -> tuple[dict[str, list[Any]], list[str]]:
    """Image topics to process -> their connections, and notes on the topics left out.

    With ``wanted``, exactly those (each must be an Image or CompressedImage topic of the bag). Without,
    every image topic, except fer_ros's own overlays and the ``/compressed`` twin of a raw topic also there.
    Raises BagError when nothing is left.
    """
    by_topic: dict[str, list[Any]] = {}
    for connection in bag.reader.connections:
        by_topic.setdefault(connection.topic, []).append(connection)
    types = {topic: {c.msgtype for c in conns} for topic, conns in by_topic.items()}
    notes: list[str] = []
    if wanted:
        chosen = {}
        for topic in wanted:
            if topic not in by_topic:
                raise BagError(f"{bag.path}: no topic {topic!r} in the bag (topics: {_topic_list(types)})")
            image_conns = [c for c in by_topic[topic] if c.msgtype in IMAGE_TYPES]
            if not image_conns:
                raise BagError(
                    f"{bag.path}: topic {topic!r} is {', '.join(sorted(types[topic]))}, not "
                    "sensor_msgs/msg/Image or CompressedImage"
                )
            chosen[topic] = image_conns
    else:
        chosen = {
            topic: [c for c in conns if c.msgtype in IMAGE_TYPES]
            for topic, conns in sorted(by_topic.items())
            if any(c.msgtype in IMAGE_TYPES for c in conns)
        }
        for topic in list(chosen):
            if "/overlay/" in f"{topic}/":
                notes.append(f"skipping {topic}: an overlay (annotated images), not a camera")
                del chosen[topic]
            elif topic.endswith("/compressed") and topic[: -len("/compressed")] in chosen:
                notes.append(f"skipping {topic}: the compressed twin of {topic[: -len('/compressed')]}")
                del chosen[topic]
        if not chosen:
            raise BagError(
                f"{bag.path}: no image topics (sensor_msgs/msg/Image or CompressedImage) in the bag "
                f"(topics: {_topic_list(types)})"
            )
    namespaces: dict[str, str] = {}
    for topic, conns in chosen.items():
        namespace = results_namespace(topic, conns[0].msgtype)
        if namespace in namespaces:
            raise BagError(
                f"{topic} and {namespaces[namespace]} would both write {namespace or ''}/faces: "
                "choose one with --topic"
            )
        namespaces[namespace] = topic
    return chosen, notes


def _topic_list(types: dict[str, set[str]]) -> str:
    if not types:
        return "none"
    return ", ".join(f"{topic} [{', '.join(sorted(t))}]" for topic, t in sorted(types.items()))
