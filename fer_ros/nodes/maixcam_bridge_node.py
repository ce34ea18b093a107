"""maixcam_bridge_node: MaixCAM UDP datagrams in, fer_ros/FaceExpressionArray out.

A receive thread blocks on the UDP socket; each datagram goes through
:class:`~fer_ros.maixcam.receiver.MaixReceiver` (source/device/HMAC checks, decoding, per-(device, session)
order, loss and clock state), and the newest valid frame of each device is published at once on ``faces``
(reliable), stamped with its capture time mapped to the ROS clock, ``source`` = ``maixcam:<device>`` and a
frame_id per device. Scores are smoothed per face track as in the camera pipeline (``raw_scores`` keep the
device's). ``/diagnostics`` at 1 Hz: one status for the receiver, one per device. A datagram never crashes
the node: rejected ones are counted by reason, and the first of each kind is logged; an unexpected exception
in any callback is counted, logged (rate-limited) and reported (fer_ros.ros.callback_guard).

Trust (SECURITY.md): with ``hmac_key`` only signed datagrams count, and the highest session id of each device
is kept in ``<state_dir>/maixcam_sessions.json`` so that a replayed older session is refused after a
restart too. Without a key anyone who can reach the port can inject faces; allowlists are the minimum.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from std_msgs.msg import Header

from fer_ros.maixcam.health import BridgeHealth
from fer_ros.maixcam.receiver import MaixReceiver, ReceiverConfig
from fer_ros.maixcam.results import DeviceResults
from fer_ros.msg import FaceExpressionArray
from fer_ros.ros.callback_guard import CallbackGuard, parameters_refused
from fer_ros.ros.diagnostics import to_diagnostic_status
from fer_ros.ros.messages import frame_result_to_msg
from fer_ros.ros.parameters import SMOOTHING_PARAMETERS, ParamSpec, check_changes, declare, spec_table
from fer_ros.ros.qos import results_qos
from fer_ros.ros.spin import run_node
from maixcam_bridge import fer_maix_protocol as proto

P = ParamSpec
PARAMETERS: tuple[ParamSpec, ...] = (
    P("port", 7460, "UDP port the MaixCAM apps send to (0: any free port, logged)", range=(0, 65535)),
    P(
        "bind_address",
        "0.0.0.0",
        "local address to listen on (e.g. the robot's address on the camera's network, 127.0.0.1 for tests)",
    ),
    P("allowed_sources", "", "comma-separated source IP addresses accepted; empty: any"),
    P("allowed_devices", "", "comma-separated device names accepted; empty: any"),
    P("hmac_key", "", "shared key: when set, only datagrams with a valid HMAC-SHA256 tag are accepted"),
    P(
        "max_age_ms",
        500.0,
        "frames captured longer ago than this (device clock mapped to ROS time) are "
        "dropped as stale, ms; 0: never",
        range=(0.0, 60000.0),
        runtime=True,
    ),
    P("frame_ids", "", "comma-separated device=frame_id pairs for header.frame_id"),
    P(
        "default_frame_id",
        "{device}_camera",
        "frame_id of devices not in frame_ids ({device} is replaced by the device name)",
    ),
    P(
        "clock_window_s",
        10.0,
        "sliding window of the minimum-delay clock offset estimate, s",
        range=(0.1, 3600.0),
    ),
    P(
        "silence_timeout_s",
        2.0,
        "diagnostics WARN when a device sent nothing for this long, s",
        range=(0.1, 3600.0),
        runtime=True,
    ),
    P(
        "max_devices",
        16,
        "most devices tracked at once (when full, a device silent for device_idle_timeout_s is evicted to make "
        "room; else datagrams of further devices are refused)",
        range=(1, 1024),
    ),
    P(
        "max_devices_per_source",
        4,
        "most devices tracked at once from one source IP address (0: no limit)",
        range=(0, 1024),
    ),
    P(
        "device_idle_timeout_s",
        5.0,
        "a device silent this long may be evicted from a full device table, s",
        range=(0.1, 86400.0),
    ),
    P(
        "session_takeover_s",
        1.0,
        "a new session of a device (app restart) that is not an authenticated newer one replaces the current "
        "session only after the current one has been silent this long, s",
        range=(0.0, 3600.0),
    ),
    P(
        "state_dir",
        "",
        "folder of maixcam_sessions.json (highest authenticated session per device, kept across restarts; "
        "written only with an hmac_key); empty: $ROS_HOME/fer_ros (~/.ros/fer_ros)",
    ),
    *SMOOTHING_PARAMETERS,
    P("receive_buffer_bytes", 1048576, "UDP socket receive buffer, bytes", range=(65536, 67108864)),
)
SPECS = spec_table(PARAMETERS)


def split_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]


def parse_frame_ids(text: str) -> dict[str, str]:
    """``"cam-a=cam_a_link, cam-b=cam_b_link"`` -> {device: frame_id}; ValueError on a malformed pair."""
    pairs = {}
    for item in split_list(text):
        device, sep, frame_id = item.partition("=")
        if not sep or not device.strip() or not frame_id.strip():
            raise ValueError(f"frame_ids entry {item!r} is not device=frame_id")
        pairs[device.strip()] = frame_id.strip()
    return pairs


def state_file(values: dict[str, Any]) -> str:
    """Where the session high-water marks are kept ("" without a key: nothing is trusted enough to keep)."""
    if not values["hmac_key"]:
        return ""
    folder = values["state_dir"] or os.path.join(
        os.environ.get("ROS_HOME") or os.path.join(os.path.expanduser("~"), ".ros"), "fer_ros"
    )
    return str(Path(folder).expanduser() / "maixcam_sessions.json")


def receiver_config(values: dict[str, Any]) -> ReceiverConfig:
    """ReceiverConfig from the node's parameter values."""
    key = values["hmac_key"]
    return ReceiverConfig(
        hmac_key=key.encode("utf-8") if key else None,
        allowed_sources=frozenset(split_list(values["allowed_sources"])),
        allowed_devices=frozenset(split_list(values["allowed_devices"])),
        max_age_ms=values["max_age_ms"],
        clock_window_s=values["clock_window_s"],
        max_devices=values["max_devices"],
        max_devices_per_source=values["max_devices_per_source"],
        device_idle_timeout_s=values["device_idle_timeout_s"],
        session_takeover_s=values["session_takeover_s"],
        state_file=state_file(values),
    )


_STAMP_LIMIT_NS = (1 << 31) * 1_000_000_000  # builtin_interfaces/Time.sec is an int32


def split_stamp(stamp_ns: int) -> tuple[int, int]:
    """(sec, nanosec) of a ROS time; ValueError outside what builtin_interfaces/Time holds (never wrapped)."""
    if not 0 <= stamp_ns < _STAMP_LIMIT_NS:
        raise ValueError(f"stamp {stamp_ns} ns is outside 0..2**31 s")
    return divmod(stamp_ns, 1_000_000_000)


def frame_id_for(device_id: str, frame_ids: dict[str, str], default_frame_id: str) -> str:
    """The header frame_id of a device's results: its ``frame_ids`` entry, else the default with ``{device}``."""
    return frame_ids.get(device_id) or default_frame_id.replace("{device}", device_id)


class MaixcamBridgeNode(Node):
    """Receives MaixCAM datagrams on a thread and publishes the newest frame of each device."""

    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("maixcam_bridge", **node_kwargs)
        self._values = declare(self, PARAMETERS)
        self.receiver = MaixReceiver(receiver_config(self._values))
        self._results = DeviceResults(self._values["smoothing_time_constant_s"], self._values["hysteresis_margin"])
        self._frame_ids = parse_frame_ids(self._values["frame_ids"])
        self._lock = threading.Lock()  # receiver state: the receive thread and the diagnostics timer
        self._logged: set[str] = set()
        self._guard = CallbackGuard(self)
        guard = self._guard.wrap

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._values["receive_buffer_bytes"])
        except OSError:
            pass
        try:
            self._sock.bind((self._values["bind_address"], self._values["port"]))
        except OSError as error:
            self._sock.close()
            raise ValueError(
                f"cannot listen on udp://{self._values['bind_address']}:{self._values['port']}: {error}"
            ) from error
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.health = BridgeHealth(
            self.receiver, self._values["silence_timeout_s"], time.monotonic_ns(), self.port
        )

        self._publisher = self.create_publisher(FaceExpressionArray, "faces", results_qos())
        self._diagnostics = self.create_publisher(DiagnosticArray, "/diagnostics", results_qos())
        self.add_on_set_parameters_callback(
            guard("set_parameters", self._on_set_parameters, parameters_refused)
        )
        self._diagnostics_timer = self.create_timer(1.0, guard("diagnostics", self._publish_diagnostics))
        self._running = True
        self._thread = threading.Thread(target=self._receive_loop, name="maixcam_receiver", daemon=True)
        self._thread.start()
        cfg = self.receiver.config
        self.get_logger().info(
            f"listening on udp://{self._values['bind_address']}:{self.port}, publishing "
            f"{self._publisher.topic_name} (protocol {proto.VERSION_MAJOR}.{proto.VERSION_MINOR}, "
            f"hmac {'required' if cfg.hmac_key else 'off'}, sources {sorted(cfg.allowed_sources) or 'any'}, "
            f"devices {sorted(cfg.allowed_devices) or 'any'})"
        )
        if not cfg.hmac_key:
            self.get_logger().warning(
                "no hmac_key: anyone who can send UDP to this port can publish made-up faces as any device, "
                "take over a device that has been silent for session_takeover_s, and fill the device table"
                + (
                    ""
                    if cfg.allowed_sources
                    else "; set allowed_sources (and allowed_devices) at least, and a shared hmac_key"
                )
                + " (see SECURITY.md)"
            )
        elif self.receiver.table.store.load_error:
            self.get_logger().warning(f"session state: {self.receiver.table.store.load_error}")

    # -- receiving -----------------------------------------------------------------------------------------

    def _receive_loop(self) -> None:
        while self._running:
            try:
                data, (source_ip, source_port) = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError as error:
                if not self._running:
                    return
                self._log_once("socket", f"UDP receive failed: {error}")
                time.sleep(0.05)
                continue
            self.handle_datagram(data, source_ip, time.monotonic_ns(), source_port)

    def handle_datagram(self, data: bytes, source_ip: str, arrival_ns: int, source_port: int = 0) -> None:
        """Validate, account and (when it is the newest valid frame of its stream) publish one datagram."""
        try:
            with self._lock:
                verdict = self.receiver.handle(data, source_ip, arrival_ns, source_port)
                if verdict.rejection is not None:
                    reason, detail = verdict.rejection
                    self._log_once(
                        reason,
                        f"rejecting a datagram from {source_ip} ({reason}: {detail}); "
                        "further ones are counted in /diagnostics, not logged",
                    )
                item = verdict.frame
                if item is None:
                    return
                device = item.frame.device_id
                # device capture time on the host monotonic clock -> ROS clock
                stamp_ns = self.get_clock().now().nanoseconds + (item.stamp_ns - time.monotonic_ns())
                if not 0 <= stamp_ns < _STAMP_LIMIT_NS:
                    item.stream.counters.published -= 1
                    self.receiver.counters.reject("bad_stamp")
                    self._log_once("bad_stamp", f"dropping a frame of {device}: stamp {stamp_ns} ns outside 0..2**31 s")
                    return
                result = self._results.result(item, stamp_ns * 1e-9)
                header = Header(frame_id=frame_id_for(device, self._frame_ids, self._values["default_frame_id"]))
                header.stamp.sec, header.stamp.nanosec = split_stamp(stamp_ns)
                msg = frame_result_to_msg(result, header, source=f"maixcam:{device}")
            self._publisher.publish(msg)
            self.health.on_published((time.monotonic_ns() - arrival_ns) / 1e6)
        except Exception as error:  # noqa: BLE001 - a datagram must never take the node down
            self.health.internal_errors += 1
            self._guard.record("datagram", error)

    def _log_once(self, kind: str, text: str) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            self.get_logger().warning(text)

    # -- parameters and diagnostics -----------------------------------------------------------------------

    def _on_set_parameters(self, parameters) -> SetParametersResult:
        changes, problem = check_changes(SPECS, parameters)
        if problem:
            return SetParametersResult(successful=False, reason=problem)
        with self._lock:
            if "smoothing_time_constant_s" in changes or "hysteresis_margin" in changes:
                self._results.set_smoothing(
                    changes.get("smoothing_time_constant_s", self._values["smoothing_time_constant_s"]),
                    changes.get("hysteresis_margin", self._values["hysteresis_margin"]),
                )
            if "max_age_ms" in changes:
                cfg = self.receiver.config
                self.receiver.config = dataclasses.replace(cfg, max_age_ms=changes["max_age_ms"])
            if "silence_timeout_s" in changes:
                self.health.silence_timeout_s = changes["silence_timeout_s"]
        self._values.update(changes)
        return SetParametersResult(successful=True)

    def _publish_diagnostics(self) -> None:
        now = time.monotonic_ns()
        with self._lock:
            statuses = [
                to_diagnostic_status(
                    self._guard.annotate(self.health.receiver_report(now)),
                    "maixcam_bridge: receiver",
                    f"udp:{self.port}",
                )
            ]
            statuses += [
                to_diagnostic_status(report, f"maixcam_bridge: {device}", device)
                for device, report in self.health.device_reports(now)
            ]
        msg = DiagnosticArray()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.status = statuses
        self._diagnostics.publish(msg)

    def destroy_node(self) -> None:
        self._running = False
        self._thread.join(timeout=2.0)
        self._sock.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(MaixcamBridgeNode, "maixcam_bridge_node", args)


if __name__ == "__main__":
    sys.exit(main())
