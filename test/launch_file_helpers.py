"""Read this repository's launch files and node lists as Python source (AST), for the launch-file tests.

The static launch-file tests parse the files instead of importing them, so they run without the launch tooling.
"""

from __future__ import annotations

import ast
import re
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


def installed_executables() -> set[str]:
    """The node executables setup.py installs, checked to be the ones CMakeLists.txt installs."""
    setup = ast.parse((REPO / "setup.py").read_text())
    nodes = next(
        node.value
        for node in ast.walk(setup)
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "NODES" for t in node.targets)
    )
    from_setup = {ast.literal_eval(elt) for elt in nodes.elts}
    cmake = re.search(r"set\(FER_ROS_NODES ([^)]*)\)", (REPO / "CMakeLists.txt").read_text())
    assert cmake, "CMakeLists.txt no longer lists FER_ROS_NODES"
    assert set(cmake.group(1).split()) == from_setup
    return from_setup
