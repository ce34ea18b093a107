"""Read this repository's launch files and node lists as Python source (AST), for the launch-file tests.

The static launch-file tests parse the files instead of importing them, so they run without the launch tooling.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def node_calls(path: Path) -> list[dict[str, ast.AST]]:
    """The keyword arguments of every ``Node(...)`` call of a launch file."""
    tree = ast.parse(path.read_text())
    return [
        {kw.arg: kw.value for kw in call.keywords}
        for call in ast.walk(tree)
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Node"
    ]


def node_list() -> tuple[str, ...]:
    """The one node list, ``NODES`` of fer_ros/nodes/__init__.py, read as setup.py and CMakeLists.txt read it."""
    tree = ast.parse((REPO / "fer_ros" / "nodes" / "__init__.py").read_text())
    nodes = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "NODES" for t in node.targets)
    )
    return tuple(ast.literal_eval(nodes))


def installed_executables() -> set[str]:
    """The node executables the package installs: the node list, checked against what setup.py and CMakeLists.txt
    install (their own readings of it, and the executables ``make setup`` installed into the venv, if any)."""
    import importlib.metadata
    import sys

    nodes = set(node_list())
    assert nodes, "fer_ros/nodes/__init__.py lists no NODES"
    cmake = (REPO / "CMakeLists.txt").read_text()
    assert "fer_ros/nodes/__init__.py" in cmake and "foreach(_node ${FER_ROS_NODES})" in cmake
    assert "fer_ros/nodes/__init__.py" in (REPO / "setup.py").read_text()
    try:
        scripts = {e.name for e in importlib.metadata.distribution("fer_ros").entry_points}
    except importlib.metadata.PackageNotFoundError:
        scripts = None
    if scripts is not None:  # setup.py's console scripts, one per node
        assert {s.removeprefix("fer-ros-").replace("-", "_") for s in scripts - {"fer-ros"}} == nodes
    ros2_run = Path(sys.prefix) / "lib" / "fer_ros"
    if ros2_run.is_dir():  # CMakeLists.txt's `ros2 run fer_ros <name>` launchers in the venv prefix
        assert nodes <= {path.name for path in ros2_run.iterdir()}
    return nodes
