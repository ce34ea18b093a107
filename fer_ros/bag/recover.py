"""Reading a truncated MCAP file: a recording stopped before its writer closed it (killed, power lost) has no
summary and no footer, which rosbags refuses. The MCAP reference library's stream reader reads its records in
order up to the cut; every complete chunk is recovered, the last, incomplete one is lost.

:class:`TruncatedMcapReader` offers the part of rosbags' Reader interface that fer_ros uses (``connections``,
``messages``, ``close``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RecoveredConnection:
    """A channel of the file: topic, message type, and how many complete messages it has."""

    id: int
    topic: str
    msgtype: str
    msgcount: int


class TruncatedMcapReader:
    """The complete messages of a truncated ROS 2 MCAP file (two sequential passes: index, then messages)."""

    storage = None  # no rosbag2 metadata

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        types: dict[int, str] = {}
        topics: dict[int, tuple[str, int]] = {}
        counts: Counter = Counter()
        for record in self._records():
            kind = type(record).__name__
            if kind == "Schema":
                types[record.id] = record.name
            elif kind == "Channel":
                topics[record.id] = (record.topic, record.schema_id)
            elif kind == "Message":
                counts[record.channel_id] += 1
        self.connections = [
            RecoveredConnection(cid, topic, types.get(schema_id, ""), counts[cid])
            for cid, (topic, schema_id) in sorted(topics.items())
        ]
        self.message_count = sum(counts.values())

    def _records(self) -> Iterator[object]:
        from mcap.exceptions import EndOfFile, McapError
        from mcap.stream_reader import StreamReader

        with self.path.open("rb") as handle:
            try:
                yield from StreamReader(handle, skip_magic=False, emit_chunks=False).records
            except (EndOfFile, EOFError):
                return
            except McapError as error:
                if "end of file" in str(error).lower():
                    return
                raise

    def messages(self, connections: Collection[RecoveredConnection] = ()) -> Iterator[tuple[object, int, bytes]]:
        """(connection, receive time ns, CDR bytes) of the wanted connections (all by default), in file order."""
        wanted = {c.id: c for c in (connections or self.connections)}
        for record in self._records():
            if type(record).__name__ == "Message" and record.channel_id in wanted:
                yield wanted[record.channel_id], record.log_time, record.data

    def close(self) -> None:
        """Nothing stays open between passes."""
