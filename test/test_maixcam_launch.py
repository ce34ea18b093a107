"""launch/maixcam.launch.py and config/maixcam.yaml agree with what maixcam_bridge_node declares.

Static checks that run even without the launch tooling (test_launch_maixcam.py runs it for real): the launch
file is read as Python source (AST): every
executable it starts exists, and every parameter name it passes or the YAML sets is one the node declares.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from launch_file_helpers import REPO, installed_executables, node_calls

from fer_ros.nodes import maixcam_bridge_node as bridge

LAUNCH = REPO / "launch" / "maixcam.launch.py"
CONFIG = REPO / "config" / "maixcam.yaml"


def test_launch_starts_installed_executables_with_declared_parameters() -> None:
    nodes = node_calls(LAUNCH)
    executables = installed_executables()
    by_exec = {ast.literal_eval(n["executable"]): n for n in nodes}
    assert set(by_exec) <= executables
    node = by_exec["maixcam_bridge_node"]
    assert ast.literal_eval(node["package"]) == "fer_ros"
    assert ast.literal_eval(node["name"]) == "maixcam_bridge"
    declared = {spec.name for spec in bridge.PARAMETERS}
    dict_keys = {
        ast.literal_eval(key)
        for d in ast.walk(node["parameters"])
        if isinstance(d, ast.Dict)
        for key in d.keys
    }
    assert dict_keys and dict_keys <= declared
    assert "mirror_node" in by_exec  # optional, off by default
    # the launch arguments' defaults are the node's defaults
    tree = ast.parse(LAUNCH.read_text())
    arguments = next(
        n.value for n in ast.walk(tree) if isinstance(n, ast.Assign) and n.targets[0].id == "ARGUMENTS"
    )
    defaults = {
        ast.literal_eval(t.elts[0]): t.elts[1] for t in arguments.elts if isinstance(t.elts[1], ast.Constant)
    }
    assert defaults["port"].value == str(bridge.SPECS["port"].default)
    assert defaults["bind_address"].value == bridge.SPECS["bind_address"].default


def test_node_name_matches_the_yaml_key() -> None:
    source = Path(bridge.__file__).read_text()
    assert 'super().__init__("maixcam_bridge"' in source


def test_yaml_lists_every_parameter_with_its_default() -> None:
    data = yaml.safe_load(CONFIG.read_text())
    assert list(data) == ["/**/maixcam_bridge"]
    params = data["/**/maixcam_bridge"]["ros__parameters"]
    assert set(params) == set(bridge.SPECS)
    for name, value in params.items():
        spec = bridge.SPECS[name]
        assert spec.check(value) is None, spec.check(value)
        assert value == spec.default, name


def test_parameter_helpers() -> None:
    assert bridge.split_list(" a, b,,c ") == ["a", "b", "c"]
    assert bridge.parse_frame_ids("cam-a=head, cam-b = arm_cam") == {"cam-a": "head", "cam-b": "arm_cam"}
    for bad in ("cam-a", "=x", "cam-a="):
        with pytest.raises(ValueError):
            bridge.parse_frame_ids(bad)
