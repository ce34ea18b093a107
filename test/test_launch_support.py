"""The pieces the launch files share: when the large-image Fast DDS profile applies, and config/fer.rviz."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fer_ros.ros.dds_profile import PROFILE_VARIABLE, large_images_profile_env

REPO = Path(__file__).resolve().parent.parent


def test_profile_applies_by_default_with_fast_dds() -> None:
    for environ in ({}, {"RMW_IMPLEMENTATION": "rmw_fastrtps_cpp"}):
        variables, reason = large_images_profile_env(environ)
        assert Path(variables[PROFILE_VARIABLE]).name == "fastdds_large_images.xml"
        assert Path(variables[PROFILE_VARIABLE]).is_file() and "large images" in reason


@pytest.mark.parametrize(
    "environ",
    [
        {"FASTDDS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"},
        {"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/mine.xml"},
        {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"},
    ],
)
def test_profile_leaves_a_users_choice_alone(environ: dict[str, str]) -> None:
    variables, reason = large_images_profile_env(environ)
    assert variables == {} and reason


def published_topics() -> set[str]:
    """Every topic name a node of this package publishes (``create_publisher(Type, "name", ...)``)."""
    names = set()
    for path in (REPO / "fer_ros" / "nodes").glob("*.py"):
        names |= set(re.findall(r'create_publisher\(\s*\w+,\s*"([^"]+)"', path.read_text()))
    return {name if name.startswith("/") else "/" + name for name in names}


def test_rviz_config_shows_the_overlay_topics_in_the_camera_frame() -> None:
    config = yaml.safe_load((REPO / "config" / "fer.rviz").read_text())
    manager = config["Visualization Manager"]
    displays = {d["Class"]: d for d in manager["Displays"]}
    topics = {d["Topic"]["Value"] for d in displays.values() if "Topic" in d}
    assert topics == {"/overlay/image", "/overlay/markers"}
    assert topics <= published_topics()
    assert displays["rviz_default_plugins/Image"]["Topic"]["Value"] == "/overlay/image"
    assert displays["rviz_default_plugins/MarkerArray"]["Topic"]["Value"] == "/overlay/markers"
    fer_yaml = yaml.safe_load((REPO / "config" / "fer.yaml").read_text())
    camera_frame = next(v["ros__parameters"]["frame_id"] for k, v in fer_yaml.items() if "camera_node" in k)
    assert manager["Global Options"]["Fixed Frame"] == camera_frame
