"""``fer-ros bag report``: per-face expression segments of a bag's ``faces`` topics, as CSV, JSON and a
timeline picture (one row per face, colour = expression, opacity = confidence, time in seconds).

A segment is a run of one face's frames with the same expression and no gap longer than ``max_gap_s``. Each
frame lasts until the face's next frame (at most ``max_gap_s``); the last one of a run lasts the face's median
frame interval, so that single frames still show.
"""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fer_ros.bag.process import COMPLETE_KEY
from fer_ros.bag.source import BagError, iter_messages, reading
from fer_ros.bag.types import FACE_EXPRESSION_ARRAY, typestore

DEFAULT_MAX_GAP_S = 1.0


@dataclass
class FaceFrame:
    """One face in one message: the time from the start of the bag, s, its expression and confidence."""

    time_s: float
    expression: str
    confidence: float


@dataclass
class Segment:
    """One face showing one expression from ``start_s`` to ``end_s`` (seconds from the bag's first stamp)."""

    topic: str
    face_id: str
    start_s: float
    end_s: float
    expression: str
    mean_confidence: float
    frames: int

    def to_dict(self) -> dict:
        values = asdict(self)
        for key in ("start_s", "end_s", "mean_confidence"):
            values[key] = round(values[key], 4)
        values["duration_s"] = round(self.end_s - self.start_s, 4)
        return values


@dataclass
class Timeline:
    """What a bag's faces topics say, face by face."""

    bag: str
    start_stamp_ns: int
    duration_s: float
    labels: list[str]
    partial: bool
    notes: list[str]
    faces: dict[tuple[str, str], list[FaceFrame]] = field(default_factory=dict)
    segments: list[Segment] = field(default_factory=list)


def read_timeline(path: str | Path, topics: list[str] | None = None, max_gap_s: float = DEFAULT_MAX_GAP_S) -> Timeline:
    """Every face of the bag's FaceExpressionArray topics (or of ``topics``), and their segments."""
    store = typestore()
    with reading(path) as bag:
        connections = [c for c in bag.reader.connections if c.msgtype == FACE_EXPRESSION_ARRAY]
        if topics:
            missing = sorted(set(topics) - {c.topic for c in connections})
            if missing:
                raise BagError(f"{bag.path}: no fer_ros/msg/FaceExpressionArray topic {', '.join(missing)}")
            connections = [c for c in connections if c.topic in topics]
        if not connections:
            found = sorted({f"{c.topic} [{c.msgtype}]" for c in bag.reader.connections}) or ["none"]
            raise BagError(
                f"{bag.path}: no fer_ros/msg/FaceExpressionArray topic (run `fer-ros bag process` on it first); "
                f"topics: {', '.join(found)}"
            )
        raw_faces: dict[tuple[str, str], list[tuple[int, str, float]]] = defaultdict(list)
        labels: list[str] = []
        first_ns: int | None = None
        last_ns: int | None = None
        bad = 0
        for connection, log_ns, raw in iter_messages(bag, connections):
            try:
                msg = store.deserialize_cdr(raw, connection.msgtype)
            except Exception:
                bad += 1
                continue
            stamp_ns = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec) or log_ns
            first_ns = stamp_ns if first_ns is None else min(first_ns, stamp_ns)
            last_ns = stamp_ns if last_ns is None else max(last_ns, stamp_ns)
            labels = labels or list(msg.labels)
            for face in msg.faces:
                raw_faces[(connection.topic, face.face_id)].append(
                    (stamp_ns, str(face.expression), float(face.confidence))
                )
        notes = list(bag.notes)
        if bad:
            notes.append(f"{bad} damaged messages skipped")
        partial = bag.custom_data.get(COMPLETE_KEY) == "false"
        if partial:
            notes.append("the bag is partial (its processing was interrupted)")
    start = first_ns or 0
    timeline = Timeline(
        bag=str(path),
        start_stamp_ns=start,
        duration_s=((last_ns or start) - start) / 1e9,
        labels=labels,
        partial=partial,
        notes=notes,
    )
    for key in sorted(raw_faces, key=_face_order):
        frames = sorted(raw_faces[key])
        timeline.faces[key] = [FaceFrame((t - start) / 1e9, e, c) for t, e, c in frames]
        timeline.segments += face_segments(key[0], key[1], timeline.faces[key], max_gap_s)
    return timeline


def _face_order(key: tuple[str, str]) -> tuple[str, int, str]:
    topic, face_id = key
    digits = re.search(r"(\d+)$", face_id)
    return (topic, int(digits.group(1)) if digits else 1 << 62, face_id)


def frame_ends(frames: list[FaceFrame], max_gap_s: float) -> list[float]:
    """When each frame's reading stops holding (see the module doc)."""
    times = np.array([f.time_s for f in frames])
    gaps = np.diff(times)
    typical = float(np.median(gaps[gaps > 0])) if np.any(gaps > 0) else 0.1
    typical = min(typical, max_gap_s)
    ends = []
    for i, t in enumerate(times):
        if i + 1 < len(times) and times[i + 1] - t <= max_gap_s:
            ends.append(float(times[i + 1]))
        else:
            ends.append(float(t + typical))
    return ends


def face_segments(topic: str, face_id: str, frames: list[FaceFrame], max_gap_s: float) -> list[Segment]:
    """Runs of one expression without a gap longer than ``max_gap_s``."""
    segments: list[Segment] = []
    ends = frame_ends(frames, max_gap_s)
    run: list[int] = []

    def close() -> None:
        if run:
            confidences = [frames[i].confidence for i in run]
            segments.append(
                Segment(
                    topic,
                    face_id,
                    frames[run[0]].time_s,
                    ends[run[-1]],
                    frames[run[0]].expression,
                    float(np.mean(confidences)),
                    len(run),
                )
            )

    for i, frame in enumerate(frames):
        previous = frames[run[-1]] if run else None
        if previous and (frame.expression != previous.expression or frame.time_s - previous.time_s > max_gap_s):
            close()
            run = []
        run.append(i)
    close()
    return segments


CSV_COLUMNS = ("topic", "face_id", "start_s", "end_s", "duration_s", "expression", "mean_confidence", "frames")


def write_report(timeline: Timeline, out_dir: str | Path, stem: str = "timeline") -> dict[str, Path]:
    """``<stem>.png``, ``<stem>.csv`` and ``<stem>.json`` in ``out_dir``; returns their paths."""
    from fer_ros.bag.timeline_image import write_timeline_png

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / f"{stem}.{kind}" for kind in ("png", "csv", "json")}
    rows = [segment.to_dict() for segment in timeline.segments]
    with paths["csv"].open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows({key: row[key] for key in CSV_COLUMNS} for row in rows)
    document: dict[str, Any] = {
        "bag": timeline.bag,
        "start_stamp_ns": timeline.start_stamp_ns,
        "duration_s": round(timeline.duration_s, 4),
        "partial": timeline.partial,
        "labels": timeline.labels,
        "notes": timeline.notes,
        "faces": [
            {"topic": topic, "face_id": face_id, "frames": len(frames)}
            for (topic, face_id), frames in timeline.faces.items()
        ],
        "segments": rows,
    }
    paths["json"].write_text(json.dumps(document, indent=2) + "\n")
    write_timeline_png(timeline, paths["png"])
    return paths
