"""Facial expression recognition on a camera topic: expression node, overlay, mirroring (and a file camera).

    ros2 launch fer_ros fer.launch.py camera_topic:=/camera/image_raw
    ros2 launch fer_ros fer.launch.py camera_topic:=/camera/image_raw compressed:=true namespace:=head
    ros2 launch fer_ros fer.launch.py camera_source:=/path/to/video.mp4     # no camera: play a file
    ros2 launch fer_ros fer.launch.py camera_source:=0 rviz:=true            # a webcam, shown in rviz2
    ros2 launch fer_ros fer.launch.py cameras:=head,chest compressed:=true   # /head/image_raw, /chest/image_raw

Every node gets config/fastdds_large_images.xml (large_images_profile:=false turns that off): a camera driver
started elsewhere needs it too, see README.md.

The same graph runs without ROS launch as ``fer-ros run [--config config/fer.yaml]``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, LogInfo, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_context import LaunchContext
from launch.substitutions import (
    EqualsSubstitution,
    LaunchConfiguration,
    NotEqualsSubstitution,
    PathJoinSubstitution,
)
from launch.utilities import perform_substitutions
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from fer_ros.ros.camera_list import camera_image_topic, camera_namespace, parse_cameras
from fer_ros.ros.launch_actions import large_images_profile, rviz, sigterm_stops_cleanly

ARGUMENTS = (
    ("camera_topic", "/camera/image_raw", "sensor_msgs/Image topic of the camera (its /compressed with "
     "compressed:=true)"),
    ("compressed", "false", "subscribe to <camera_topic>/compressed (sensor_msgs/CompressedImage)"),
    ("config", PathJoinSubstitution([FindPackageShare("fer_ros"), "config", "fer.yaml"]),
     "parameter file of the nodes"),
    ("namespace", "", "namespace of every node and of their relative topics"),
    ("overlay", "true", "start overlay_node (annotated image and markers for rviz)"),
    ("mirror", "true", "start mirror_node (robot expression commands)"),
    ("camera_source", "", "start camera_node on this video file, image folder or webcam index; empty: use "
     "the camera topic as it is"),
    ("loop", "false", "with camera_source: play the file again when it ends"),
    ("cameras", "", "comma-separated camera names (head,chest): the nodes once per camera, in namespace "
     "<namespace>/<camera>, on that camera's relative camera_image topic; empty: one camera on camera_topic"),
    ("camera_image", "image_raw", "with cameras: each camera's image topic, relative to its namespace"),
    ("rviz_config", PathJoinSubstitution([FindPackageShare("fer_ros"), "config", "fer.rviz"]),
     "rviz2 configuration used with rviz:=true"),
)


def graph(namespace, image_remappings: list, camera_source, source_names: list) -> list[Node]:
    """The nodes of one camera (``source_names``: ``[{"source": name}]`` to name the camera in messages)."""
    compressed = LaunchConfiguration("compressed")
    config = LaunchConfiguration("config")
    camera = Node(
        package="fer_ros",
        executable="camera_node",
        name="camera_node",
        namespace=namespace,
        parameters=[config, {"source": camera_source, "publish_compressed": compressed,
                             "loop": LaunchConfiguration("loop")}],
        remappings=image_remappings,
        condition=IfCondition(NotEqualsSubstitution(camera_source, "")),
        output="screen",
    )
    expression = Node(
        package="fer_ros",
        executable="expression_node",
        name="expression_node",
        namespace=namespace,
        parameters=[config, {"compressed": compressed}, *source_names],
        remappings=image_remappings,
        output="screen",
    )
    overlay = Node(
        package="fer_ros",
        executable="overlay_node",
        name="overlay_node",
        namespace=namespace,
        parameters=[config, {"compressed": compressed}],
        remappings=image_remappings,
        condition=IfCondition(LaunchConfiguration("overlay")),
        output="screen",
    )
    mirror = Node(
        package="fer_ros",
        executable="mirror_node",
        name="mirror_node",
        namespace=namespace,
        parameters=[config],
        condition=IfCondition(LaunchConfiguration("mirror")),
        output="screen",
    )
    return [camera, expression, overlay, mirror]


def per_camera(context: LaunchContext) -> list:
    """``cameras:=head,chest``: the graph once per camera, each in its own namespace, no topic shared."""
    text = perform_substitutions(context, [LaunchConfiguration("cameras")])
    if not text.strip():
        return []
    cameras = parse_cameras(text)
    image = camera_image_topic(perform_substitutions(context, [LaunchConfiguration("camera_image")]))
    base = perform_substitutions(context, [LaunchConfiguration("namespace")])
    remappings = [("image", image), ("image/compressed", f"{image}/compressed")]
    actions: list = [LogInfo(msg=f"cameras: {', '.join(camera_namespace(base, c) for c in cameras)} ({image})")]
    for name in cameras:
        actions += graph(camera_namespace(base, name), remappings, "", [{"source": name}])
    return actions


def generate_launch_description() -> LaunchDescription:
    camera_topic = LaunchConfiguration("camera_topic")
    image_remappings = [("image", camera_topic), ("image/compressed", [camera_topic, "/compressed"])]
    one_camera = graph(LaunchConfiguration("namespace"), image_remappings, LaunchConfiguration("camera_source"), [])
    arguments = [DeclareLaunchArgument(name, default_value=default, description=description)
                 for name, default, description in ARGUMENTS]
    return LaunchDescription([
        *arguments,
        *large_images_profile(),
        *sigterm_stops_cleanly(),
        GroupAction(one_camera, condition=IfCondition(EqualsSubstitution(LaunchConfiguration("cameras"), ""))),
        OpaqueFunction(function=per_camera),
        *rviz(LaunchConfiguration("rviz_config")),
    ])
