"""The nodes of launch/fer.launch.py in one process (``fer-ros run``): same executables' node classes, same
parameter file, same remappings and arguments, spun by one rclpy executor."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_ros.nodes import NODES, node_class

_LOG = logging.getLogger(__name__)

# The nodes of launch/fer.launch.py that fer-ros run starts: all but the MaixCAM bridge (it has its own launch file).
GRAPH_NODES: tuple[str, ...] = tuple(name for name in NODES if name != "maixcam_bridge_node")


@dataclass
class GraphOptions:
    """The launch file's arguments, plus what a one-process run needs (duration, recording)."""

    config: Path | None = None
    camera_topic: str = "/camera/image_raw"
    compressed: bool = False
    namespace: str = ""
    overlay: bool = True
    mirror: bool = True
    camera_source: str = ""
    camera_rate_hz: float | None = None
    loop: bool = False
    duration_s: float | None = None
    record_dir: Path | None = None
    record_bag_dir: Path | None = None  # fer-ros run --record-bag: an MCAP bag of the results
    record_bag_camera: bool = False  # ... with the camera topic too
    large_images_profile: bool = True
    ros_args: list[str] = field(default_factory=list)


def _remap_args(camera_topic: str) -> list[str]:
    return [
        "--ros-args",
        "-r",
        f"image:={camera_topic}",
        "-r",
        f"image/compressed:={camera_topic}/compressed",
    ]


def _overrides(values: dict[str, Any]) -> list:
    from rclpy.parameter import Parameter

    return [Parameter(name, value=value) for name, value in values.items()]


def run_graph(options: GraphOptions, on_ready=None) -> dict:
    """Start the nodes, spin until ``duration_s`` passed, the file camera ended, or SIGINT; returns a summary.

    With ``record_dir``, also writes ``annotated.mp4`` and ``summary.json`` there (see recorder.py).
    """
    import os

    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from fer_ros.ros.dds_profile import large_images_profile_env
    from fer_ros.ros.spin import ignore_shutdown_signals

    if options.large_images_profile:  # before the first participant is created
        variables, reason = large_images_profile_env(os.environ)
        os.environ.update(variables)
        _LOG.info(reason)
    args = ["fer-ros-run", "--ros-args"]
    if options.config is not None:
        args += ["--params-file", str(options.config)]
    args += options.ros_args
    rclpy.init(args=args)
    nodes: dict[str, Any] = {}
    recorder = None
    bag_recorder = None
    reason = "failed to start"
    executor = SingleThreadedExecutor()  # the heavy work runs on the nodes' own threads
    spin_thread = None
    try:
        common = {"namespace": options.namespace}
        remaps = _remap_args(options.camera_topic)
        specs = {"expression_node": ({"compressed": options.compressed}, remaps)}
        if options.overlay:
            specs["overlay_node"] = ({"compressed": options.compressed}, remaps)
        if options.mirror:
            specs["mirror_node"] = ({}, [])
        if options.camera_source:  # last, and started once its subscribers are matched
            camera_overrides = {"source": options.camera_source, "publish_compressed": options.compressed}
            if options.camera_rate_hz is not None:
                camera_overrides["rate_hz"] = float(options.camera_rate_hz)
            if options.loop:
                camera_overrides["loop"] = True
            specs["camera_node"] = (camera_overrides, remaps)
        for name, (overrides, cli_args) in specs.items():
            extra = {"start": False} if name == "camera_node" else {}
            nodes[name] = node_class(name)(
                cli_args=cli_args, parameter_overrides=_overrides(overrides), **common, **extra
            )
            executor.add_node(nodes[name])
        camera = nodes.get("camera_node")
        if options.record_dir is not None:
            from fer_ros.app.recorder import RunRecorder

            fps = camera.rate_hz if camera else 30.0
            recorder = RunRecorder(options.record_dir, fps=fps, record_video=options.overlay, **common)
            executor.add_node(recorder)
        if options.record_bag_dir is not None:
            from fer_ros.bag.live_recorder import BagRecorder

            bag_camera = options.camera_topic if options.record_bag_camera else None
            bag_recorder = BagRecorder(options.record_bag_dir, bag_camera, options.compressed, **common)
            executor.add_node(bag_recorder)
        spin_thread = threading.Thread(target=_spin, args=(executor,), name="fer_ros_executor", daemon=True)
        spin_thread.start()
        if camera is not None:
            _wait_for_matches(camera, 2 if options.overlay else 1, timeout_s=5.0)
            camera.start()
        if on_ready is not None:
            on_ready(nodes)
        reason = _wait(options, nodes, executor)
        _LOG.info("stopping: %s", reason)
    except KeyboardInterrupt:
        reason = "interrupted"
    finally:
        ignore_shutdown_signals()
        executor.shutdown(timeout_sec=2.0)
        if spin_thread is not None:
            spin_thread.join(timeout=5.0)
        if bag_recorder is not None:  # closed even on an error: what was recorded stays readable
            bag_recorder.close()
    result = {"stopped": reason, "nodes": sorted(nodes)}
    expression = nodes.get("expression_node")
    if expression is not None:
        result["expression_node"] = expression.statistics()
    if "camera_node" in nodes:
        result["camera_frames_published"] = nodes["camera_node"].published
    if recorder is not None:
        result = recorder.finish(result)
        recorder.destroy_node()
    if bag_recorder is not None:
        result["bag"] = bag_recorder.close()
        bag_recorder.destroy_node()
    for node in reversed(list(nodes.values())):
        node.destroy_node()
    rclpy.try_shutdown()
    return result


def _wait_for_matches(camera: Any, count: int, timeout_s: float) -> None:
    """Until the camera's subscribers in this process are discovered (so that no first frame is lost)."""
    deadline = time.monotonic() + timeout_s
    while camera.subscription_count() < count and time.monotonic() < deadline:
        time.sleep(0.02)


def _spin(executor) -> None:
    from rclpy.executors import ExternalShutdownException

    try:
        executor.spin()
    except (ExternalShutdownException, KeyboardInterrupt):
        pass
    except Exception:
        # A signal shuts the context down while the executor builds its next wait set (rclpy then raises
        # RCLError "context is not valid" instead of ExternalShutdownException): that is the end of the run.
        if executor.context.ok():
            raise


def _wait(options: GraphOptions, nodes: dict[str, Any], executor) -> str:
    import rclpy

    start = time.monotonic()
    camera = nodes.get("camera_node")
    drain_until = None
    while True:
        if not rclpy.ok():
            return "interrupted"
        now = time.monotonic()
        if options.duration_s is not None and now - start >= options.duration_s:
            return f"ran for {options.duration_s:g} s"
        if camera is not None and camera.finished.is_set():
            if drain_until is None:
                drain_until = now + 1.0  # let the last frames through the graph
            elif now >= drain_until:
                return "the camera source ended"
        try:
            time.sleep(0.05)
        except KeyboardInterrupt:
            return "interrupted"
