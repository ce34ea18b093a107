"""Launch actions shared by launch/*.launch.py: the Fast DDS profile, rviz2, SIGTERM (imports ``launch``)."""

from __future__ import annotations

import shutil
import signal

from launch.actions import DeclareLaunchArgument, ExecuteProcess, LogInfo, OpaqueFunction, SetEnvironmentVariable
from launch.events import Shutdown
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration
from launch.utilities import perform_substitutions
from launch.utilities.signal_management import AsyncSafeSignalManager
from launch.utilities.type_utils import perform_typed_substitution

from fer_ros.ros.dds_profile import large_images_profile_env


def _enabled(context: LaunchContext, argument: str) -> bool:
    return perform_typed_substitution(context, [LaunchConfiguration(argument)], bool)


def large_images_profile() -> list:
    """``large_images_profile:=true|false`` and the action that applies it to every process started after it."""

    def apply(context: LaunchContext) -> list:
        if not _enabled(context, "large_images_profile"):
            return [LogInfo(msg="large_images_profile:=false: Fast DDS defaults (large images may be lost)")]
        variables, reason = large_images_profile_env(context.environment)
        return [LogInfo(msg=reason), *(SetEnvironmentVariable(k, v) for k, v in variables.items())]

    return [
        DeclareLaunchArgument(
            "large_images_profile",
            default_value="true",
            description="give the nodes config/fastdds_large_images.xml (a 16 MiB shared-memory segment, "
            "so camera images are not lost) unless a Fast DDS profile is already set or another RMW is used",
        ),
        OpaqueFunction(function=apply),
    ]


def rviz(config: LaunchConfiguration) -> list:
    """``rviz:=true`` starts rviz2 with ``config`` when rviz2 is installed, and says so when it is not."""

    def start(context: LaunchContext) -> list:
        if not _enabled(context, "rviz"):
            return []
        executable = shutil.which("rviz2")
        if executable is None:
            return [LogInfo(msg="rviz:=true, but rviz2 is not installed (apt-get install ros-$ROS_DISTRO-rviz2)")]
        path = perform_substitutions(context, [config])
        return [ExecuteProcess(cmd=[executable, "-d", path], name="rviz2", output="screen")]

    return [
        DeclareLaunchArgument("rviz", default_value="false", description="also start rviz2 with rviz_config"),
        OpaqueFunction(function=start),
    ]


def sigterm_stops_cleanly() -> list:
    """SIGTERM to ``ros2 launch`` shuts the nodes down as Ctrl-C does.

    launch 3.x only hears a signal that has a Python handler, and SIGTERM has none: the launch process dies
    at once and leaves its nodes running. Its own SIGTERM handler, when it runs, abandons them too ("can
    result in orphaned processes"). This installs a Python handler and replaces launch's with a Shutdown
    event, which sends each node SIGINT, then SIGTERM and SIGKILL after launch's timeouts.
    """

    def install(context: LaunchContext) -> list:
        manager = getattr(AsyncSafeSignalManager, "_AsyncSafeSignalManager__current", None)
        if manager is None:  # another launch version: keep its behaviour
            return [LogInfo(msg="SIGTERM: launch's own handling (nodes may be left running)")]
        manager.handle(
            signal.SIGTERM, lambda signum: context.emit_event_sync(Shutdown(reason="SIGTERM"))
        )
        signal.signal(signal.SIGTERM, lambda signum, frame: None)  # the wake-up that launch listens to
        return []

    return [OpaqueFunction(function=install)]
