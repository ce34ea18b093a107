"""``fer.launch.py cameras:=...``: names, namespaces and the per-camera image topic (no ROS needed)."""

from __future__ import annotations

import pytest

from fer_ros.ros.camera_list import camera_image_topic, camera_namespace, parse_cameras


def test_camera_names_are_parsed_and_checked() -> None:
    assert parse_cameras("head, chest") == ["head", "chest"]
    assert parse_cameras("['head','room_1']") == ["head", "room_1"]
    assert parse_cameras("  ") == []
    for bad in ("head,head", "1cam", "head/chest", "a b"):
        with pytest.raises(ValueError, match="cameras"):
            parse_cameras(bad)


def test_each_camera_gets_its_own_namespace_and_a_relative_topic() -> None:
    assert camera_namespace("", "head") == "/head"
    assert camera_namespace("/robot1/", "head") == "/robot1/head"
    assert camera_image_topic(" color/image_raw ") == "color/image_raw"
    for shared in ("/camera/image_raw", "~/image", ""):
        with pytest.raises(ValueError, match="relative"):
            camera_image_topic(shared)
