"""``fer-ros bench-ros --hosts``: target verdicts and the transport description (no ROS, no root needed)."""

from __future__ import annotations

from fer_ros.bench.hosts import check_hosts_targets, transport_text


def scenario(cameras: int, image: str, **figures) -> dict:
    return {"cameras": cameras, "image": image, "faces": 1, **figures}


def test_one_compressed_camera_is_held_to_the_latency_and_ratio_targets() -> None:
    good = scenario(
        1, "sensor_msgs/CompressedImage (JPEG)", latency_p50_ms=9.9, latency_p99_ms=26.0, processed_ratio=1.0
    )
    assert all("meets" in line for line in check_hosts_targets(good)) and len(check_hosts_targets(good)) == 3
    slow = {**good, "latency_p99_ms": 52.6, "processed_ratio": 0.985}
    lines = check_hosts_targets(slow)
    assert sum("MISSES" in line for line in lines) == 2
    assert check_hosts_targets(scenario(1, "sensor_msgs/Image (bgr8)")) == []  # raw: reported, no target


def test_several_cameras_each_need_95_percent_or_an_even_share() -> None:
    both = {"processed_ratio_min_camera": 0.97, "processed_ratio_max_camera": 1.0}
    assert "meets" in check_hosts_targets(scenario(3, "sensor_msgs/CompressedImage (JPEG)", **both))[0]
    even = {"processed_ratio_min_camera": 0.87, "processed_ratio_max_camera": 0.94}
    assert "even" in check_hosts_targets(scenario(3, "sensor_msgs/CompressedImage (JPEG)", **even))[0]
    uneven = {"processed_ratio_min_camera": 0.64, "processed_ratio_max_camera": 0.82}
    assert "UNEVEN" in check_hosts_targets(scenario(3, "sensor_msgs/CompressedImage (JPEG)", **uneven))[0]


def test_transport_names_the_profile_and_says_shared_memory_does_not_cross() -> None:
    assert "4 MiB" in transport_text("/x/config/fastdds_hosts.xml")
    assert "system socket buffers" in transport_text("/x/fastdds_large_images.xml")
    assert "Fast DDS defaults" in transport_text(None)
    assert all("shared memory does not cross" in transport_text(p) for p in (None, "/x/fastdds_hosts.xml"))
