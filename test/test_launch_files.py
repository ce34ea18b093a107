"""launch/fer.launch.py and config/fer.yaml agree with the nodes, the package and ``fer-ros run``.

Static checks that run even without the launch tooling (test_launch_fer.py runs the file for real): the launch
files are read as Python source (AST): every
executable they start is installed (setup.py and CMakeLists.txt), every node is named as its YAML key, every
parameter they pass or the YAML sets is one the node declares (checked against the nodes' own tables and
against a real rclpy node), and ``fer-ros run`` starts the same graph.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest
import yaml
from launch_file_helpers import REPO, installed_executables, node_calls

FER_LAUNCH = REPO / "launch" / "fer.launch.py"
FER_YAML = REPO / "config" / "fer.yaml"
GRAPH = ("camera_node", "expression_node", "overlay_node", "mirror_node")


def declared(executable: str) -> dict:
    """The parameter table of a node module, by name."""
    module = importlib.import_module(f"fer_ros.nodes.{executable}")
    return {spec.name: spec for spec in module.PARAMETERS}


def launch_arguments(path: Path) -> set[str]:
    """Names of the DeclareLaunchArgument entries (literal calls and the ARGUMENTS table)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ARGUMENTS":
            names |= {ast.literal_eval(entry.elts[0]) for entry in node.value.elts}
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", "") == "DeclareLaunchArgument"
            and node.args
        ):
            if isinstance(node.args[0], ast.Constant):
                names.add(node.args[0].value)
    return names


def used_configurations(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", "") == "LaunchConfiguration"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }


@pytest.mark.parametrize("path", sorted((REPO / "launch").glob("*.launch.py")), ids=lambda p: p.name)
def test_every_launch_file_starts_installed_executables_and_uses_declared_arguments(path: Path) -> None:
    executables = installed_executables()
    for call in node_calls(path):
        assert ast.literal_eval(call["package"]) == "fer_ros"
        executable = ast.literal_eval(call["executable"])
        assert executable in executables, f"{path.name}: {executable} is not installed"
        assert hasattr(importlib.import_module(f"fer_ros.nodes.{executable}"), "main")
        specs = declared(executable)
        for literal in (
            d for d in ast.walk(call.get("parameters", ast.List(elts=[]))) if isinstance(d, ast.Dict)
        ):
            for key in literal.keys:
                assert ast.literal_eval(key) in specs, f"{path.name}: {executable} declares no {key.value}"
    assert used_configurations(path) <= launch_arguments(path)
    for name in re.findall(r'"([\w./-]+\.yaml)"', path.read_text()):
        assert (REPO / "config" / name).is_file(), f"{path.name} refers to config/{name}, which is missing"


def test_fer_launch_has_the_documented_arguments_and_graph() -> None:
    assert {"camera_topic", "compressed", "config", "namespace", "overlay", "mirror"} <= launch_arguments(
        FER_LAUNCH
    )
    calls = node_calls(FER_LAUNCH)
    executables = [ast.literal_eval(call["executable"]) for call in calls]
    assert sorted(executables) == sorted(GRAPH)
    for call in calls:  # node name == executable, so the YAML's /**/<executable> keys apply
        assert ast.literal_eval(call["name"]) == ast.literal_eval(call["executable"])
        assert "namespace" in call
    from fer_ros.app.graph import GRAPH_NODES

    assert sorted(GRAPH_NODES) == sorted(GRAPH), "fer-ros run must start the launch file's nodes"
    source = FER_LAUNCH.read_text()
    for topic in ("image", "image/compressed"):  # the remapped names are the nodes' own topic names
        assert f'("{topic}", ' in source
        assert f'"{topic}"' in (REPO / "fer_ros" / "nodes" / "expression_node.py").read_text()
    assert '"config", "fer.yaml"' in source


def test_fer_yaml_lists_every_parameter_of_every_node_with_its_default() -> None:
    data = yaml.safe_load(FER_YAML.read_text())
    assert sorted(data) == sorted(f"/**/{name}" for name in GRAPH)
    for key, section in data.items():
        specs = declared(key.removeprefix("/**/"))
        params = section["ros__parameters"]
        assert set(params) == set(specs), key
        for name, value in params.items():
            assert specs[name].check(value) is None, specs[name].check(value)
            assert value == specs[name].default, f"{key} {name}: {value!r} != default {specs[name].default!r}"


def test_node_classes_are_named_as_their_yaml_keys() -> None:
    for name in GRAPH:
        source = (REPO / "fer_ros" / "nodes" / f"{name}.py").read_text()
        assert f'super().__init__("{name}"' in source


@pytest.mark.ros
def test_real_nodes_declare_their_tables_and_read_the_yaml(shared_dir: Path, tmp_path: Path) -> None:
    """rclpy itself parses the YAML for nodes in a namespace; each node declares exactly its table."""
    import rclpy
    from rclpy.context import Context

    from fer_ros.app.graph import GRAPH_NODES
    from fer_ros.nodes import node_class

    data = yaml.safe_load(FER_YAML.read_text())
    data["/**/expression_node"]["ros__parameters"]["detection_score_threshold"] = 0.55
    data["/**/mirror_node"]["ros__parameters"]["min_dwell_s"] = 2.5
    config = tmp_path / "fer.yaml"
    config.write_text(yaml.safe_dump(data))
    context = Context()
    rclpy.init(args=["--ros-args", "--params-file", str(config), "-p", "rate_hz:=12.5"], context=context)
    try:
        for name in GRAPH_NODES:
            overrides = []
            if name == "camera_node":
                from rclpy.parameter import Parameter

                overrides = [Parameter("source", value=str(shared_dir / "media" / "astronaut.png"))]
            kwargs = {"start": False} if name == "camera_node" else {}
            node = node_class(name)(
                context=context, namespace="robot1", parameter_overrides=overrides, **kwargs
            )
            try:
                specs = declared(name)
                names = set(node._parameters) - {"use_sim_time", "start_type_description_service"}
                assert names == set(specs), name
                for spec_name, spec in specs.items():
                    described = node.describe_parameter(spec_name)
                    assert described.description and described.read_only == (not spec.runtime), spec_name
                    if spec.range is not None:
                        ranges = described.floating_point_range or described.integer_range
                        assert ranges and ranges[0].to_value == spec.range[1], spec_name
                if name in ("camera_node", "mirror_node"):  # the command-line -p reached them (YAML under it)
                    assert node.get_parameter("rate_hz").value == 12.5
                if name == "expression_node":
                    assert node.get_parameter("detection_score_threshold").value == 0.55
                    assert node.pipeline.detector.score_threshold == 0.55
                if name == "mirror_node":
                    assert (
                        node.get_parameter("min_dwell_s").value == 2.5
                        and node.policy.config.min_dwell_s == 2.5
                    )
            finally:
                node.destroy_node()
    finally:
        rclpy.shutdown(context=context)


def test_readme_documents_every_parameter() -> None:
    readme = (REPO / "README.md").read_text()
    for name in GRAPH:
        assert f"`{name}`" in readme
        for spec in declared(name).values():
            assert f"| `{spec.name}` |" in readme, f"README.md does not document {name}.{spec.name}"
