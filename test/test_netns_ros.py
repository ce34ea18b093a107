"""Past one machine, over real DDS: "hosts" are network namespaces on one bridge (fer_ros/app/netns.py).

- camera_node on host A -> expression_node on host B, raw Image and CompressedImage (compressed:=true);
  mirror_node and overlay_node on host C, fed by B's faces and A's image;
- no multicast: ROS_STATIC_PEERS alone connects A and B, and a host that lists no peer finds nothing;
- several cameras on one recognition host with ``fer.launch.py cameras:=...``: one namespace each, no global
  topic, every camera served;
- a (fake) MaixCAM on host A streams to the bridge on host B with the source/device allowlists and HMAC on.

Every process runs in its namespace with its own ROS_LOG_DIR, the session's ROS_DOMAIN_ID and
ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET, and config/fastdds_hosts.xml. Skipped, with the reason, where network
namespaces cannot be created (not root).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fer_ros.app.netns import Host, VirtualNetwork, list_namespaces, netns_problem, remove_stale_namespaces
from fer_ros.testing.ros_harness import ProcessGroup, RosProcess, wait_for

REPO = Path(__file__).resolve().parent.parent
HOSTS_PROFILE = REPO / "config" / "fastdds_hosts.xml"
PROBLEM = netns_problem()

pytestmark = [pytest.mark.ros, pytest.mark.skipif(PROBLEM is not None, reason=f"netns: {PROBLEM}")]


@pytest.fixture
def network(ros_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., VirtualNetwork]]:
    """A factory of VirtualNetwork in the session's domain; every network is deleted afterwards."""
    networks: list[VirtualNetwork] = []

    def make(hosts=("a", "b"), **kwargs) -> VirtualNetwork:
        net = VirtualNetwork(
            hosts, domain_id=int(ros_env["ROS_DOMAIN_ID"]), work_dir=tmp_path / f"net{len(networks)}", **kwargs
        )
        networks.append(net)
        return net.open()

    try:
        yield make
    finally:
        for net in networks:
            net.close()


def node(group: ProcessGroup, host: Host, name: str, namespace: str, peers=None, **parameters) -> RosProcess:
    """A fer_ros node in ``namespace`` on ``host`` (with the hosts' Fast DDS profile)."""
    ros_args = ["-r", f"__ns:={namespace}", *parameters.pop("remap", ())]
    return host.start_module(
        group,
        f"fer_ros.nodes.{name}",
        parameters=parameters,
        ros_args=ros_args,
        name=f"{name}{namespace.replace('/', '_')}",
        env={"FASTDDS_DEFAULT_PROFILES_FILE": str(HOSTS_PROFILE)},
        peers=peers,
    )


def camera(
    group: ProcessGroup, host: Host, namespace: str, image: Path, rate_hz: float = 15.0, peers=None
) -> RosProcess:
    """camera_node looping on a one-face photo, 640x480 raw and JPEG."""
    return node(
        group,
        host,
        "camera_node",
        namespace,
        peers,
        source=str(image),
        rate_hz=rate_hz,
        loop=True,
        width=640,
        height=480,
        publish_compressed=True,
        frame_id=f"{namespace.strip('/')}_camera",
    )


def probe(
    group: ProcessGroup, host: Host, out: Path, topics: list[str], until: int, timeout_s: float, **kwargs
) -> RosProcess:
    """fer_ros.testing.netns_probe on ``host``: records ``topics`` (TOPIC:KIND) into ``out``."""
    process = host.start_module(
        group,
        "fer_ros.testing.netns_probe",
        "--out",
        str(out),
        "--until",
        str(until),
        "--timeout",
        str(timeout_s),
        *topics,
        name=f"probe-{out.stem}",
        **kwargs,
    )
    process.wait_for_output("probe ready", timeout_s=60)
    return process


def finished(process: RosProcess, out: Path, timeout_s: float) -> dict:
    """The probe's JSON once it has exited."""
    wait_for(lambda: not process.is_running(), timeout_s, what=f"{process.name} to finish")
    assert process.returncode == 0, process.describe()
    return json.loads(out.read_text())


def test_namespaces_go_away_on_failure_at_exit_and_after_a_kill(tmp_path: Path) -> None:
    """The context manager removes the network and its processes when the body raises; a process that exits
    without closing is covered by atexit; one that is killed outright, by the next network's clean-up."""
    import subprocess
    import sys

    with pytest.raises(RuntimeError, match="boom"):
        with VirtualNetwork(("a", "b"), work_dir=tmp_path / "n") as net:
            names = {net.hub, *(h.namespace for h in net.hosts.values())}
            assert names <= set(list_namespaces())
            sleeper = subprocess.Popen(net["a"].argv(["sleep", "60"]))
            raise RuntimeError("boom")
    assert not names & set(list_namespaces())
    assert sleeper.wait(timeout=10) != 0
    code = "from fer_ros.app.netns import VirtualNetwork as V; import os, sys; n = V(('x',)).open(); print(n.hub)"
    for ending in ("", "; os.kill(os.getpid(), 9)"):
        run = subprocess.run([sys.executable, "-c", code + ending], capture_output=True, text=True, timeout=60)
        hub = run.stdout.strip()
        assert hub.endswith("-hub"), run.stderr
        if ending:  # killed: left behind until someone cleans up
            assert hub in list_namespaces()
            assert hub in remove_stale_namespaces()
        assert hub not in list_namespaces()


def test_camera_on_a_recognition_on_b_results_on_c(network, ros_processes, shared_dir, tmp_path) -> None:
    net = network(("a", "b", "c"))
    a, b, c = net["a"], net["b"], net["c"]
    sent_before = a.interface_bytes()[1]
    camera(ros_processes, a, "/head", shared_dir / "media" / "astronaut.png")
    node(ros_processes, b, "expression_node", "/head")  # raw sensor_msgs/Image across the network
    node(
        ros_processes,
        b,
        "expression_node",
        "/jpeg",
        compressed=True,
        remap=["-r", "image/compressed:=/head/image/compressed"],
    )
    node(ros_processes, c, "mirror_node", "/head")
    node(ros_processes, c, "overlay_node", "/head")
    out = tmp_path / "c.json"
    topics = ["/head/faces:faces", "/jpeg/faces:faces", "/head/expression_command:command", "/head/overlay/image:image"]
    rec = finished(probe(ros_processes, c, out, topics, until=5, timeout_s=90), out, 100)
    for topic in topics:
        assert rec[topic.rsplit(":", 1)[0]]["count"] >= 5, (
            topic,
            {k: v["count"] for k, v in rec.items() if k != "graph_topics"},
        )
    for topic in ("/head/faces", "/jpeg/faces"):
        messages = rec[topic]["messages"]
        assert all(m["expressions"] == ["happy"] for m in messages[-3:]), messages[-3:]
        # header stamps are the camera's capture times on host A, unchanged through B
        delays = [(r - s) / 1e6 for s, r in zip(rec[topic]["stamps_ns"], rec[topic]["received_ns"], strict=True)]
        assert all(0 < d < 3000 for d in delays), delays
    assert rec["/head/overlay/image"]["messages"][-1]["size"] == [640, 480]
    assert {m["expression"] for m in rec["/head/expression_command"]["messages"]} & {"happy", "neutral"}
    sent = a.interface_bytes()[1] - sent_before
    assert sent > 10 * 640 * 480 * 3, f"host A sent only {sent} bytes: the images did not cross the veth"


def test_several_cameras_on_one_recognition_host(network, ros_processes, shared_dir, tmp_path) -> None:
    """``fer.launch.py cameras:=cam1,cam2`` on B: one namespace per camera, no global topic, both served."""
    from ros_tools_helpers import require_ros_tools, ros2_command

    require_ros_tools()
    net = network(("a", "b"))
    a, b = net["a"], net["b"]
    media = shared_dir / "media" / "ros4hri"
    camera(ros_processes, a, "/cam1", media / "user_happy.jpg")
    camera(ros_processes, a, "/cam2", media / "user_surprised.jpg")
    launch = [ros2_command(), "launch", "fer_ros", "fer.launch.py", "cameras:=cam1,cam2", "camera_image:=image"]
    launch += ["compressed:=true", "overlay:=false", "mirror:=false"]
    b.start(ros_processes, launch, "launch", env={"FASTDDS_DEFAULT_PROFILES_FILE": str(HOSTS_PROFILE)})
    out = tmp_path / "a.json"
    rec = finished(probe(ros_processes, a, out, ["/cam1/faces:faces", "/cam2/faces:faces"], 10, 90), out, 100)
    counts = {topic: rec[topic]["count"] for topic in ("/cam1/faces", "/cam2/faces")}
    assert min(counts.values()) >= 10, counts
    for name, expression in (("cam1", "happy"), ("cam2", "surprised")):
        messages = rec[f"/{name}/faces"]["messages"]
        assert {m["source"] for m in messages} == {name}
        assert messages[-1]["expressions"] == [expression], messages[-3:]
    ours = [t for t in rec["graph_topics"] if t not in ("/rosout", "/parameter_events", "/diagnostics")]
    assert ours and all(t.startswith(("/cam1/", "/cam2/")) for t in ours), ours


def test_static_peers_without_multicast(network, ros_processes, shared_dir, tmp_path) -> None:
    """No multicast on the network: A and B list each other in ROS_STATIC_PEERS and work; C lists no peer and
    nobody lists C, so C finds nothing (which also shows that multicast is really off)."""
    net = network(("a", "b", "c"), multicast=False)
    a, b, c = net["a"], net["b"], net["c"]
    camera(ros_processes, a, "/head", shared_dir / "media" / "astronaut.png", peers=[b.address])
    node(ros_processes, b, "expression_node", "/head", peers=[a.address], compressed=True)
    topics = ["/head/faces:faces"]
    out_a, out_c = tmp_path / "a.json", tmp_path / "c.json"
    lonely = probe(ros_processes, c, out_c, topics, until=1, timeout_s=12, peers=[])
    rec = finished(probe(ros_processes, a, out_a, topics, until=5, timeout_s=60, peers=[b.address]), out_a, 70)
    assert rec["/head/faces"]["count"] >= 5 and rec["/head/faces"]["messages"][-1]["expressions"] == ["happy"]
    alone = finished(lonely, out_c, 40)
    assert alone["/head/faces"]["count"] == 0
    assert not {"/head/image", "/diagnostics"} & set(alone["graph_topics"]), alone["graph_topics"]


SENDER = """
import socket, sys, time
sys.path.insert(0, {test_dir!r})
from test_maixcam_bridge_ros import valid_pair
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for seq in range(1, 40, 2):
    for device, session, key in {sends!r}:
        for d in valid_pair(device, session, seq, key=key):
            sock.sendto(d, ({host!r}, {port}))
    time.sleep(0.05)
"""


def test_maixcam_on_a_bridge_on_b_with_allowlist_and_hmac(network, ros_processes, shared_dir, tmp_path) -> None:
    """The device app (fake maix) on A streams signed frames to the bridge on B, which only accepts A's address,
    device cam-a and the key: it publishes them; an unsigned or unlisted device from A, and the right device
    and key from C, are refused and counted."""
    import sys

    net = network(("a", "b", "c"))
    a, b, c = net["a"], net["b"], net["c"]
    key, port = "lab secret", 7460
    bridge = b.start_module(
        ros_processes,
        "fer_ros.nodes.maixcam_bridge_node",
        parameters={
            "bind_address": b.address,
            "port": port,
            "allowed_sources": a.address,
            "allowed_devices": "cam-a",
            "hmac_key": key,
            "state_dir": str(tmp_path / "bridge_state"),
        },
        name="bridge",
    )
    bridge.wait_for_output(rf"listening on udp://{b.address}:{port}", timeout_s=60)
    config = tmp_path / "cam-a.json"
    app_cfg = {"device_name": "cam-a", "destination": {"host": b.address, "port": port}, "hmac_key": key}
    app_cfg |= {"display": False, "session_file": str(tmp_path / "cam-a.session")}
    config.write_text(json.dumps(app_cfg))
    app_env = {
        "PYTHONPATH": str(REPO / "test" / "fake_maix"),
        "FAKE_MAIX_MEDIA": str(shared_dir / "media" / "ros4hri" / "user_happy.jpg"),
        "FAKE_MAIX_FRAMES": "0",
        "FAKE_MAIX_FPS": "15",
    }
    a.start(ros_processes, [sys.executable, str(REPO / "maixcam_bridge" / "main.py"), str(config)], "app", app_env)
    hostile = [("cam-a", 7, None), ("cam-z", 8, key.encode())]  # unsigned; not an allowed device
    for host, sends in ((a, hostile), (c, [("cam-a", 9, key.encode())])):  # C: not an allowed source
        script = SENDER.format(test_dir=str(REPO / "test"), sends=sends, host=b.address, port=port)
        sender = host.run([sys.executable, "-c", script], timeout_s=60)
        assert sender.returncode == 0, sender.stderr
    out = tmp_path / "b.json"
    recorder = probe(ros_processes, b, out, ["/faces:faces", "/diagnostics:diagnostics"], until=5, timeout_s=90)
    rec = finished(recorder, out, 100)
    faces = rec["/faces"]["messages"]
    assert {m["source"] for m in faces} == {"maixcam:cam-a"}
    assert faces[-1]["expressions"] == ["happy"]
    receiver = [
        m["status"]["maixcam_bridge: receiver"]
        for m in rec["/diagnostics"]["messages"]
        if "maixcam_bridge: receiver" in m["status"]
    ]
    assert receiver, rec["/diagnostics"]["messages"][-1]
    last = receiver[-1]
    assert int(last["auth_errors"]) >= 20 and int(last["device_rejected"]) >= 20, last
    assert int(last["source_rejected"]) >= 20, last


@pytest.mark.slow
def test_bench_ros_hosts_writes_the_documented_keys(tmp_path: Path) -> None:
    """``fer-ros bench-ros --hosts`` with two cameras (a short smoke run; the figures are not asserted)."""
    import subprocess
    import sys

    out = tmp_path / "bench.json"
    command = [sys.executable, "-m", "fer_ros.cli.main", "bench-ros", "--hosts", "--cameras", "2", "--faces", "1"]
    command += ["--rate", "10", "--duration", "3", "--json", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(out.read_text())
    (scenario,) = data["scenarios"].values()
    for key in ("latency_p50_ms", "latency_p99_ms", "processed_ratio", "node_cpu_percent", "core_process_p50_ms"):
        assert key in scenario, key
    assert scenario["cameras"] == 2 and "UDPv4" in scenario["transport"]
    assert sorted(scenario["per_camera"]) == ["/cam1", "/cam2"]
    assert all(c["frames_published"] >= 20 and c["processed_ratio"] > 0.5 for c in scenario["per_camera"].values())
    assert scenario["bytes_per_s"] > 10 * 2 * 10_000  # JPEGs crossed the camera host's interface
    assert scenario["faces_detected_median"] == 1 and "p50" in result.stdout
