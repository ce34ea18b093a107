"""MaixCAM smart cameras: the bridge that turns their UDP datagrams into fer_ros/FaceExpressionArray.

    ros2 launch fer_ros maixcam.launch.py
    ros2 launch fer_ros maixcam.launch.py port:=7460 bind_address:=192.168.1.100 namespace:=head
    ros2 launch fer_ros maixcam.launch.py mirror:=true          # also drive a robot face from the MaixCAM

Device set-up, network and protocol: maixcam_bridge/README.md and maixcam_bridge/PROTOCOL.md.
Parameters (trust: allowed_sources, allowed_devices, hmac_key; frame_ids; max_age_ms...): config/maixcam.yaml.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from fer_ros.ros.launch_actions import large_images_profile, sigterm_stops_cleanly

ARGUMENTS = (
    ("config", PathJoinSubstitution([FindPackageShare("fer_ros"), "config", "maixcam.yaml"]),
     "parameter file of the bridge"),
    ("port", "7460", "UDP port the MaixCAM apps send to (their config.json destination.port)"),
    ("bind_address", "0.0.0.0", "local address to listen on (e.g. the robot's address on the cameras' LAN)"),
    ("namespace", "", "namespace of the nodes and of their topics (faces, ...)"),
    ("mirror", "false", "also start mirror_node on the bridge's faces (parameters from fer.yaml)"),
)


def generate_launch_description() -> LaunchDescription:
    namespace = LaunchConfiguration("namespace")
    bridge = Node(
        package="fer_ros",
        executable="maixcam_bridge_node",
        name="maixcam_bridge",
        namespace=namespace,
        parameters=[
            LaunchConfiguration("config"),
            {"port": LaunchConfiguration("port"), "bind_address": LaunchConfiguration("bind_address")},
        ],
        output="screen",
    )
    mirror = Node(
        package="fer_ros",
        executable="mirror_node",
        name="mirror_node",
        namespace=namespace,
        parameters=[PathJoinSubstitution([FindPackageShare("fer_ros"), "config", "fer.yaml"])],
        condition=IfCondition(LaunchConfiguration("mirror")),
        output="screen",
    )
    arguments = [DeclareLaunchArgument(name, default_value=default, description=description)
                 for name, default, description in ARGUMENTS]
    return LaunchDescription([*arguments, *large_images_profile(), *sigterm_stops_cleanly(), bridge, mirror])
