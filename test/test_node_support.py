"""The pieces the nodes are made of: newest-frame slot, stamp matcher, health verdicts, parameter specs,
bad-frame kinds, frame sources (no DDS)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rclpy.parameter import Parameter
from sensor_msgs.msg import CompressedImage, Image

from fer_ros.core.frame_source import FrameSourceError, ImageFilesSource, VideoFileSource, open_frame_source
from fer_ros.core.health import ERROR, OK, WARN, HealthLimits, ProcessingMonitor
from fer_ros.ros.diagnostics import to_diagnostic_status
from fer_ros.ros.frame_slot import LatestSlot
from fer_ros.ros.image_conversion import ImageConversionError, failure_kind, to_bgr8
from fer_ros.ros.parameters import ParamSpec, check_changes, descriptor, spec_table
from fer_ros.ros.stamp_matcher import StampMatcher

# -- newest frame wins --------------------------------------------------------------------------------------


def test_slot_keeps_only_the_newest_and_counts_the_rest() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True and slot.put(3) is True
    assert slot.take(0) == 3
    assert slot.take(0.01) is None


def test_slot_never_grows_under_a_fast_producer() -> None:
    slot: LatestSlot[int] = LatestSlot()
    taken: list[int] = []

    def consume() -> None:
        while not slot.closed:
            item = slot.take(0.05)
            if item is not None:
                taken.append(item)
                time.sleep(0.005)  # a slow worker

    worker = threading.Thread(target=consume)
    worker.start()
    skipped = sum(slot.put(i) for i in range(2000))
    time.sleep(0.05)
    slot.close()
    worker.join(5)
    assert taken == sorted(taken) and taken[-1] == 1999
    assert skipped + len(taken) == 2000 and skipped > 0


# -- stamp matching -----------------------------------------------------------------------------------------


def test_matcher_pairs_by_key_in_either_order_and_stays_bounded() -> None:
    matcher: StampMatcher[str, str] = StampMatcher(capacity=3)
    assert matcher.add_left(1, "img1") is None
    assert matcher.add_right(1, "res1") == ("img1", "res1")
    assert matcher.add_right(2, "res2") is None
    assert matcher.add_left(2, "img2") == ("img2", "res2")
    for key in range(10, 20):
        matcher.add_left(key, f"img{key}")
    assert len(matcher) == 3 and matcher.dropped_left == 7
    assert matcher.add_right(18, "res18") == ("img18", "res18")
    assert matcher.add_right(17, "late") is None  # image 17 was dropped when 18 matched (older)
    assert matcher.add_right(19, "res19") == ("img19", "res19")


# -- health -------------------------------------------------------------------------------------------------


def _monitor() -> ProcessingMonitor:
    return ProcessingMonitor(
        HealthLimits(input_timeout_s=1.0, max_skipped_ratio=0.3, max_latency_ms=50.0), 0.0
    )


def test_health_waits_for_the_first_image_then_runs() -> None:
    monitor = _monitor()
    assert monitor.report(1.0).level == WARN and "no image received yet" in monitor.report(1.0).message
    for i in range(30):
        t = 1.0 + i / 30
        monitor.on_received(t)
        monitor.on_started(t)
        monitor.on_processed(t + 0.01, 12.0, 10.0, faces=1)
    report = monitor.report(2.0)
    assert (report.level, report.message) == (OK, "running")
    assert float(report.values["input_rate_hz"]) == pytest.approx(30.0)
    assert report.values["latency_p50_ms"] == "12.0" and report.values["faces"] == "1"


def test_health_warns_when_input_stops_or_the_worker_falls_behind() -> None:
    monitor = _monitor()
    monitor.on_received(0.5)
    monitor.on_processed(0.51, 10.0, 9.0, 0)
    assert "input stopped" in monitor.report(2.0).message
    for i in range(10):
        monitor.on_received(2.0 + i / 10)
        if i % 2:
            monitor.on_skipped()
        else:
            monitor.on_processed(2.0 + i / 10, 10.0, 9.0, 0)
    report = monitor.report(3.0)
    assert report.level == WARN and "falling behind" in report.message


def test_health_counts_bad_frames_by_kind_and_errors_when_everything_fails() -> None:
    monitor = _monitor()
    for kind in ("size_mismatch", "size_mismatch", "undecodable_compressed"):
        monitor.on_received(0.5)
        monitor.on_bad_frame(kind)
    report = monitor.report(1.0)
    assert report.level == WARN and "unusable" in report.message
    assert report.values["bad_frames.size_mismatch"] == "2" and report.values["frames_bad"] == "3"
    monitor.on_received(1.5)
    monitor.on_failure("RuntimeError")
    assert monitor.report(2.0).level == ERROR
    status = to_diagnostic_status(monitor.report(3.0), "node: facial expressions", "camera")
    assert status.level == bytes([WARN]) and status.name == "node: facial expressions"
    assert {kv.key for kv in status.values} >= {"frames_bad", "failed_frames.RuntimeError"}


def test_health_errors_on_a_stalled_worker() -> None:
    monitor = _monitor()
    monitor.on_received(0.1)
    monitor.on_started(0.1)
    assert monitor.report(30.0).level == ERROR


# -- parameters ---------------------------------------------------------------------------------------------


def test_param_specs_check_type_range_and_choices() -> None:
    threshold = ParamSpec("threshold", 0.5, "a threshold", range=(0.0, 1.0), runtime=True)
    mode = ParamSpec("mode", "a", "a mode", choices=("a", "b"))
    assert threshold.check(0.7) is None and threshold.check(1) is None
    assert "in [0.0, 1.0]" in threshold.check(1.5) and "float" in threshold.check("x")
    assert "one of a, b" in mode.check("c")
    described = descriptor(threshold)
    assert described.floating_point_range[0].to_value == 1.0 and not described.read_only
    assert descriptor(mode).read_only and "one of: a, b" in descriptor(mode).additional_constraints
    specs = spec_table([threshold, mode])
    assert check_changes(specs, [Parameter("threshold", value=0.2)]) == ({"threshold": 0.2}, None)
    assert "read only" in check_changes(specs, [Parameter("mode", value="b")])[1]
    assert check_changes(specs, [Parameter("threshold", value=2.0)])[0] == {}


def test_node_parameter_tables_are_consistent() -> None:
    from fer_ros.nodes import camera_node, expression_node, mirror_node, overlay_node

    for module in (camera_node, expression_node, mirror_node, overlay_node):
        names = [spec.name for spec in module.PARAMETERS]
        assert len(names) == len(set(names)), module.__name__
        for spec in module.PARAMETERS:
            assert spec.description and spec.check(spec.default) is None, (module.__name__, spec.name)
    # every pipeline knob the node exposes exists in PipelineConfig and builds a valid config
    config = expression_node.pipeline_config({s.name: s.default for s in expression_node.PARAMETERS})
    assert config.keep_crops is False and config.classifier_model is None and config.tta_flip is None


# -- bad frames ---------------------------------------------------------------------------------------------


def _image(encoding: str, width: int, height: int, data: bytes, step: int | None = None) -> Image:
    msg = Image(encoding=encoding, width=width, height=height)
    msg.step = step if step is not None else width * 3
    msg.data = data
    return msg


@pytest.mark.parametrize(
    "msg, kind",
    [
        (_image("bgr8", 4, 4, bytes(10)), "size_mismatch"),
        (_image("bgr8", 4, 4, bytes(48), step=6), "size_mismatch"),
        (_image("weird16", 4, 4, bytes(48)), "unsupported_encoding"),
        (_image("bgr8", 0, 0, b""), "empty_image"),
        (CompressedImage(format="jpeg", data=b"\xff\xd8not a jpeg"), "undecodable_compressed"),
        (CompressedImage(format="jpeg", data=b""), "empty_compressed"),
    ],
)
def test_bad_frames_are_named(msg, kind) -> None:
    with pytest.raises(ImageConversionError) as raised:
        to_bgr8(msg)
    assert raised.value.kind == kind and failure_kind(raised.value) == kind


# -- frame sources -------------------------------------------------------------------------------------------


def test_video_source_reads_rewinds_and_knows_its_rate(shared_dir: Path) -> None:
    with open_frame_source(shared_dir / "media" / "pyfeat" / "single_face.mp4") as source:
        assert isinstance(source, VideoFileSource) and source.fps == pytest.approx(30.0)
        frames = 0
        while (frame := source.read()) is not None:
            assert frame.shape == (360, 640, 3) and frame.dtype == np.uint8
            frames += 1
        assert frames == 72
        source.rewind()
        assert source.read() is not None


def test_folder_and_image_sources(shared_dir: Path, tmp_path: Path) -> None:
    folder = open_frame_source(shared_dir / "media" / "ros4hri")
    assert isinstance(folder, ImageFilesSource) and len(folder.paths) == 10
    (tmp_path / "b.png").write_bytes((shared_dir / "media" / "astronaut.png").read_bytes())
    (tmp_path / "a.jpg").write_bytes(b"not an image")
    mixed = open_frame_source(tmp_path)
    assert mixed.read().shape == (512, 512, 3) and mixed.read() is None
    assert [p.name for p, _ in mixed.skipped] == ["a.jpg"]
    single = open_frame_source(shared_dir / "media" / "astronaut.png")
    assert single.read() is not None and single.read() is None
    single.rewind()
    assert single.read() is not None


def test_missing_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="no such file"):
        open_frame_source(tmp_path / "missing.mp4")
    with pytest.raises(FrameSourceError, match="no image files"):
        open_frame_source(tmp_path)
    (tmp_path / "broken.mp4").write_bytes(b"garbage" * 100)
    with pytest.raises(FrameSourceError, match="cannot open"):
        open_frame_source(tmp_path / "broken.mp4")


# -- hostile faces messages into the mirror (issue 17) -------------------------------------------------------


def test_mirror_observations_cannot_poison_the_policy() -> None:
    from fer_ros.core.mirroring import MirrorConfig, MirrorPolicy
    from fer_ros.msg import FaceExpression, FaceExpressionArray
    from fer_ros.nodes.mirror_node import load_mapping, observations

    labels = ["angry", "disgusted", "scared", "happy", "sad", "surprised", "neutral"]
    nan, inf = float("nan"), float("inf")

    def message(box, scores) -> FaceExpressionArray:
        face = FaceExpression(face_id="1", scores=scores)
        face.x, face.y, face.width, face.height = box
        return FaceExpressionArray(labels=labels, faces=[face], image_width=320, image_height=240)

    policy = MirrorPolicy(MirrorConfig(), load_mapping("mirror_mapping.yaml"))
    t = 0.0
    hostile = [
        message((0.0, 0.0, 50.0, 50.0), [nan] * 7),
        message((inf, 0.0, inf, 50.0), [0.1] * 7),
        message((0.0, 0.0, 50.0, 50.0), [0.5] * 3),  # fewer scores than labels
        message((0.0, 0.0, 50.0, 50.0), []),  # an unclassified face
        message((0.0, 0.0, 50.0, 50.0), [3e38, -3e38, 0, 0, 0, 0, 0]),
    ]
    for msg in hostile * 10:
        t += 0.1
        policy.observe(observations(msg), msg.labels, (320, 240), t)
        command = policy.step(t)
        assert np.isfinite(command.intensity) and np.isfinite(command.source_confidence)
    happy = message((0.0, 0.0, 50.0, 50.0), [0.0, 0.0, 0.0, 0.97, 0.01, 0.01, 0.01])
    for _ in range(50):
        t += 0.1
        policy.observe(observations(happy), labels, (320, 240), t)
        command = policy.step(t)
    assert command.expression == "happy" and 0.0 < command.intensity <= 1.0
