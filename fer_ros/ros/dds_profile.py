"""The project's Fast DDS profile for camera-sized images, and when a process should get it.

Fast DDS's default shared-memory segment (512 KiB) is smaller than one 640x480 bgr8 image: larger messages go
as UDP fragments, and best-effort image topics then lose about half the frames. config/fastdds_large_images.xml
enlarges the segment. The segment belongs to the PUBLISHER's process, so the launch files and ``fer-ros run``
give the profile to the processes they start, unless the user chose a profile or another RMW.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

PROFILE_FILE = "fastdds_large_images.xml"
PROFILE_VARIABLE = "FASTDDS_DEFAULT_PROFILES_FILE"
# Fast DDS also reads the variable's pre-3.0 name.
USER_PROFILE_VARIABLES = (PROFILE_VARIABLE, "FASTRTPS_DEFAULT_PROFILES_FILE")
FASTDDS_RMWS = ("", "rmw_fastrtps_cpp", "rmw_fastrtps_dynamic_cpp")


def profile_path() -> Path:
    """The installed (or source-tree) config/fastdds_large_images.xml."""
    from fer_ros.ros.config_files import find_config_file

    return find_config_file(PROFILE_FILE)


def large_images_profile_env(environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The variables that give a process the large-image profile (empty when it must not), and why."""
    for name in USER_PROFILE_VARIABLES:
        if environ.get(name):
            return {}, f"{name} is already set ({environ[name]}): keeping the user's Fast DDS profile"
    rmw = environ.get("RMW_IMPLEMENTATION", "")
    if rmw not in FASTDDS_RMWS:
        return {}, f"RMW_IMPLEMENTATION={rmw}: the Fast DDS profile does not apply"
    path = profile_path()
    return {PROFILE_VARIABLE: str(path)}, f"Fast DDS profile for large images: {path}"
