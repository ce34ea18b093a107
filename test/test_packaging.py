"""The package definitions agree with each other: package.xml, CMakeLists.txt, setup.py, the registry."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from catkin_pkg.package import parse_package
from launch_file_helpers import installed_executables, node_list

ROOT = Path(__file__).resolve().parent.parent


def test_package_xml_is_a_valid_format_3_interface_package() -> None:
    package = parse_package(str(ROOT / "package.xml"))
    package.validate()
    assert package.package_format == 3 and package.name == "fer_ros"
    assert [str(lic) for lic in package.licenses] == ["Apache-2.0"]
    assert package.get_build_type() == "ament_cmake"
    assert "rosidl_interface_packages" in [group.name for group in package.member_of_groups]
    buildtool = {dep.name for dep in package.buildtool_depends}
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= buildtool
    run = {dep.name for dep in package.exec_depends}
    for key in ("rclpy", "std_msgs", "sensor_msgs", "diagnostic_msgs", "visualization_msgs",
                "rosidl_default_runtime", "python3-numpy", "python3-opencv", "python3-yaml",
                "python3-onnxruntime-pip", "launch", "launch_ros"):  # fmt: skip
        assert key in run, key


def test_versions_agree() -> None:
    version = parse_package(str(ROOT / "package.xml")).version
    assert f'version="{version}"' in (ROOT / "setup.py").read_text()
    assert f'__version__ = "{version}"' in (ROOT / "fer_ros" / "__init__.py").read_text()


def test_every_node_has_a_ros2_run_executable_and_a_console_script() -> None:
    from fer_ros.nodes import NODES, node_class

    assert NODES == node_list() and len(set(NODES)) == len(NODES)
    for node in NODES:
        assert callable(importlib.import_module(f"fer_ros.nodes.{node}").main), node
        assert node_class(node).__name__.lower() == node.replace("_", ""), node
    assert installed_executables() == set(NODES)
    # setup.py reads the list without importing the package: run exactly its reading here
    setup_source = (ROOT / "setup.py").read_text()
    reading = setup_source[setup_source.index("_NODES_LINE = ") : setup_source.index("\nsetup(")]
    namespace = {"Path": Path, "re": re, "ast": __import__("ast"), "__file__": str(ROOT / "setup.py")}
    exec(reading, namespace)
    assert namespace["NODES"] == NODES


def test_cmake_generates_the_three_messages() -> None:
    cmake = (ROOT / "CMakeLists.txt").read_text()
    messages = sorted(p.name for p in (ROOT / "msg").glob("*.msg"))
    assert messages == ["ExpressionCommand.msg", "FaceExpression.msg", "FaceExpressionArray.msg"]
    for name in messages:
        assert f'"msg/{name}"' in cmake


# Every dependency key, checked by hand against ros/rosdistro (rosdep/python.yaml at 000730dc, and
# jazzy/kilted distribution.yaml at 0006cdad/0013c554): the rosdep keys resolve on Ubuntu noble, the ROS
# packages are released in both Jazzy and Kilted. A new key must be checked the same way and added here.
VERIFIED_ROSDEP_KEYS = {
    "python3-numpy", "python3-opencv", "python3-yaml", "python3-tqdm", "python3-onnxruntime-pip",
    "python3-pytest", "python3-pytest-timeout", "python3-colcon-common-extensions",
}  # fmt: skip
VERIFIED_ROS_PACKAGES = {
    "ament_cmake", "ament_cmake_python", "ament_index_python", "rosidl_default_generators",
    "rosidl_default_runtime", "builtin_interfaces", "std_msgs", "sensor_msgs", "geometry_msgs",
    "diagnostic_msgs", "visualization_msgs", "rclpy", "launch", "launch_ros", "ros2launch", "launch_testing",
    "launch_testing_ros", "cv_bridge",
}  # fmt: skip


def test_every_dependency_is_a_checked_rosdep_key_or_ros_package() -> None:
    package = parse_package(str(ROOT / "package.xml"))
    keys = {
        dep.name
        for group in (package.buildtool_depends, package.build_depends, package.exec_depends,
                      package.test_depends, package.build_export_depends)  # fmt: skip
        for dep in group
    }
    assert keys <= VERIFIED_ROSDEP_KEYS | VERIFIED_ROS_PACKAGES, keys - VERIFIED_ROSDEP_KEYS - VERIFIED_ROS_PACKAGES
