"""Several "hosts" on one Linux machine: network namespaces joined by a bridge, for real DDS across a network.

:class:`VirtualNetwork` builds, as root, one namespace per host (``fer_ros-<pid>-<host>``), each with an
interface ``eth0`` (one end of a veth pair) on a private test subnet (``10.77.0.0/24`` by default: host ``i`` is
``10.77.0.<i+1>``), plus one hub namespace holding the Linux bridge that joins the other ends. Nothing is added
to the machine's own network namespace, and nothing in these namespaces can reach any other address.

- ``multicast=True``: the bridge floods multicast (no IGMP snooping) and each host routes 224.0.0.0/4 to
  ``eth0``, so DDS discovery works the default way (SPDP multicast on 239.255.0.1).
- ``multicast=False``: the bridge forwards no multicast (``mcast_flood off`` on every port, no snooping), the
  interfaces have multicast off and no multicast route; DDS finds its peers only through ``ROS_STATIC_PEERS``
  (unicast), as on networks that filter multicast.

Processes run with ``ip netns exec`` (:meth:`Host.argv`), with the environment of :meth:`Host.ros_env`: the
session's ``ROS_DOMAIN_ID``, ``ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET`` (LOCALHOST would keep DDS on ``lo``), the
static peers when asked, and a ``ROS_LOG_DIR`` of each host's own. Each host also gets its own ``/dev/shm``
(a bind mount, visible only to the processes started through :meth:`Host.argv`): Fast DDS's shared-memory
transport then works between the processes of one host and never between hosts, as on real machines.

Clean-up: :meth:`VirtualNetwork.close` (a context manager, and an ``atexit`` hook for a process that dies in
between) kills what still runs in the namespaces and deletes them; namespaces left by a process that was
killed outright are removed the next time a network is built. :func:`netns_problem` says why namespaces
cannot be made here (not root, no ``ip``, no permission), for tests to skip with that reason.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fer_ros.app.processes import ProcessGroup, RosProcess, parameter_text

PREFIX = "fer_ros-"
DEFAULT_SUBNET = "10.77.0"  # /24; only ever used inside these namespaces
INTERFACE = "eth0"
_OURS = re.compile(rf"^{re.escape(PREFIX)}(\d+)-[a-z0-9_]+$")


class NetnsError(RuntimeError):
    """A namespace, link or address could not be set up."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")
    return result


def netns_problem() -> str | None:
    """None when network namespaces can be created here, else why not (a skip reason)."""
    if os.name != "posix" or not Path("/proc/self/ns/net").exists():
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (run the netns tests as root, as CI does)"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    name = f"{PREFIX}{os.getpid()}-probe"
    result = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return f"cannot create a network namespace: {result.stderr.strip()}"
    try:
        probe = subprocess.run(
            ["ip", "-n", name, "link", "add", "probe0", "type", "veth", "peer", "name", "probe1"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if probe.returncode != 0:
            return f"cannot create a veth pair: {probe.stderr.strip()}"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    return None


def remove_stale_namespaces() -> list[str]:
    """Delete namespaces named by this module whose creating process no longer exists; returns their names."""
    removed = []
    for name in list_namespaces():
        match = _OURS.match(name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _kill_namespace_processes(name)
            _ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


def list_namespaces() -> list[str]:
    """Names of the network namespaces ``ip netns`` knows."""
    result = _ip("netns", "list", check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def _kill_namespace_processes(name: str) -> None:
    result = _ip("netns", "pids", name, check=False)
    pids = [int(p) for p in result.stdout.split() if p.isdigit()]
    for sig in (signal.SIGINT, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (3.0 if sig == signal.SIGINT else 1.0)
        while pids and time.monotonic() < deadline:
            pids = [p for p in pids if Path(f"/proc/{p}").exists() and not _is_zombie(p)]
            time.sleep(0.05)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@dataclass
class Host:
    """One namespace of a :class:`VirtualNetwork`."""

    name: str
    namespace: str
    address: str
    shm_dir: Path
    log_dir: Path
    interface: str = INTERFACE
    network: VirtualNetwork | None = field(default=None, repr=False)

    def argv(self, command: Sequence[str]) -> list[str]:
        """``command`` run in this host's namespace, with the host's own /dev/shm."""
        script = 'mount --bind "$0" /dev/shm && exec "$@"'
        return ["ip", "netns", "exec", self.namespace, "sh", "-c", script, str(self.shm_dir), *command]

    def ros_env(self, peers: Sequence[str] | None = None) -> dict[str, str]:
        """ROS variables of this host's processes; ``peers``: its ROS_STATIC_PEERS addresses (None: every
        other host when the network uses static peers, else none)."""
        assert self.network is not None
        if peers is None:
            peers = (
                [h.address for h in self.network.hosts.values() if h is not self] if self.network.static_peers else []
            )
        return {
            "ROS_DOMAIN_ID": str(self.network.domain_id),
            "ROS_AUTOMATIC_DISCOVERY_RANGE": "SUBNET",
            "ROS_STATIC_PEERS": ";".join(peers),
            "ROS_LOCALHOST_ONLY": "0",
            "ROS_LOG_DIR": str(self.log_dir),
            "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
        }

    def start(
        self,
        group: ProcessGroup,
        command: Sequence[str],
        name: str,
        env: dict[str, str] | None = None,
        peers: Sequence[str] | None = None,
    ) -> RosProcess:
        """Start ``command`` in this host through ``group`` (stopped with it), with :meth:`ros_env`."""
        return group.start(self.argv(command), f"{self.name}-{name}", {**self.ros_env(peers), **(env or {})})

    def start_module(
        self,
        group: ProcessGroup,
        module: str,
        *args: str,
        parameters: dict[str, Any] | None = None,
        ros_args: Sequence[str] = (),
        name: str | None = None,
        env: dict[str, str] | None = None,
        peers: Sequence[str] | None = None,
    ) -> RosProcess:
        """``python -m module ARGS --ros-args ROS_ARGS -p k:=v ...`` in this host."""
        command = [sys.executable, "-m", module, *args]
        extra = list(ros_args)
        for key, value in (parameters or {}).items():
            extra += ["-p", f"{key}:={parameter_text(value)}"]
        if extra:
            command += ["--ros-args", *extra]
        return self.start(group, command, name or module.rsplit(".", 1)[-1], env, peers)

    def run(self, command: Sequence[str], timeout_s: float = 30.0) -> subprocess.CompletedProcess:
        """Run a short command in the namespace (no /dev/shm change) and return its result."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, *command], capture_output=True, text=True, timeout=timeout_s
        )

    def interface_bytes(self) -> tuple[int, int]:
        """(rx_bytes, tx_bytes) of the host's interface, from /sys/class/net/<if>/statistics."""
        base = f"/sys/class/net/{self.interface}/statistics"
        result = self.run(["cat", f"{base}/rx_bytes", f"{base}/tx_bytes"])
        if result.returncode != 0:
            raise NetnsError(f"cannot read {base} in {self.namespace}: {result.stderr.strip()}")
        rx, tx = (int(v) for v in result.stdout.split())
        return rx, tx


class VirtualNetwork:
    """N host namespaces on one bridge. Use as a context manager; :meth:`close` is also run at exit."""

    def __init__(
        self,
        hosts: Sequence[str] = ("a", "b"),
        domain_id: int = 0,
        multicast: bool = True,
        static_peers: bool = False,
        subnet: str = DEFAULT_SUBNET,
        work_dir: str | Path | None = None,
        mtu: int = 1500,
    ) -> None:
        if not 1 <= len(hosts) <= 200 or len(set(hosts)) != len(hosts):
            raise ValueError("hosts: 1 to 200 distinct names")
        for name in hosts:
            if not re.fullmatch(r"[a-z0-9_]{1,12}", name):
                raise ValueError(f"host name {name!r}: 1-12 of a-z, 0-9, _")
        self.domain_id = domain_id
        self.multicast = multicast
        self.static_peers = static_peers
        self.subnet = subnet
        self.mtu = mtu
        self._own_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="fer_ros_netns_"))
        self.hub = f"{PREFIX}{os.getpid()}-hub"
        self.hosts: dict[str, Host] = {}
        self._created: list[str] = []
        self._closed = False
        self._names = list(hosts)

    def __enter__(self) -> VirtualNetwork:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getitem__(self, name: str) -> Host:
        return self.hosts[name]

    def open(self) -> VirtualNetwork:
        """Create the namespaces, the bridge and the links (undone when anything fails)."""
        problem = netns_problem()
        if problem:
            raise NetnsError(problem)
        remove_stale_namespaces()
        atexit.register(self.close)
        try:
            self._add_namespace(self.hub)
            _ip("-n", self.hub, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            _ip("-n", self.hub, "link", "set", "br0", "up")
            for index, name in enumerate(self._names):
                self._add_host(index, name)
        except BaseException:
            self.close()
            raise
        return self

    def _add_namespace(self, namespace: str) -> None:
        _ip("netns", "add", namespace)
        self._created.append(namespace)
        _ip("-n", namespace, "link", "set", "lo", "up")

    def _add_host(self, index: int, name: str) -> None:
        namespace = f"{PREFIX}{os.getpid()}-{name}"
        self._add_namespace(namespace)
        hub_end = f"p{index}"
        _ip("-n", self.hub, "link", "add", hub_end, "type", "veth", "peer", "name", INTERFACE, "netns", namespace)
        _ip("-n", self.hub, "link", "set", hub_end, "master", "br0", "mtu", str(self.mtu), "up")
        if not self.multicast:  # the bridge drops multicast (its switch does not flood it to this port)
            result = subprocess.run(
                ["ip", "netns", "exec", self.hub, "bridge", "link", "set", "dev", hub_end, "mcast_flood", "off"],
                capture_output=True,
                text=True,
                timeout=30,
            )
            if result.returncode != 0:
                raise NetnsError(f"cannot turn multicast flooding off on the bridge: {result.stderr.strip()}")
        address = f"{self.subnet}.{index + 1}"
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", INTERFACE)
        _ip(
            "-n",
            namespace,
            "link",
            "set",
            INTERFACE,
            "mtu",
            str(self.mtu),
            "multicast",
            "on" if self.multicast else "off",
            "up",
        )
        if self.multicast:
            _ip("-n", namespace, "route", "add", "224.0.0.0/4", "dev", INTERFACE)
        host_dir = self.work_dir / name
        shm_dir, log_dir = host_dir / "shm", host_dir / "ros_log"
        shm_dir.mkdir(parents=True, exist_ok=True)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.hosts[name] = Host(name, namespace, address, shm_dir, log_dir, network=self)

    def close(self) -> None:
        """Stop every process left in the namespaces and delete them (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for namespace in reversed(self._created):
            _kill_namespace_processes(namespace)
            _ip("netns", "del", namespace, check=False)
        self._created.clear()
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        try:
            atexit.unregister(self.close)
        except Exception:  # noqa: BLE001 - interpreter shutting down
            pass
