"""Facial expression recognition on a camera topic: expression node, overlay, mirroring (and a file camera).

    ros2 launch fer_ros fer.launch.py camera_topic:=/camera/image_raw
    ros2 launch fer_ros fer.launch.py camera_topic:=/camera/image_raw compressed:=true namespace:=head
    ros2 launch fer_ros fer.launch.py camera_source:=/path/to/video.mp4     # no camera: play a file
    ros2 launch fer_ros fer.launch.py camera_source:=0 rviz:=true            # a webcam, shown in rviz2

Every node gets config/fastdds_large_images.xml (large_images_profile:=false turns that off): a camera driver
started elsewhere needs it too, see README.md.

The same graph runs without ROS launch as ``fer-ros run [--config config/fer.yaml]``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, NotEqualsSubstitution, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

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
    ("rviz_config", PathJoinSubstitution([FindPackageShare("fer_ros"), "config", "fer.rviz"]),
     "rviz2 configuration used with rviz:=true"),
)


def generate_launch_description() -> LaunchDescription:
    camera_topic = LaunchConfiguration("camera_topic")
    compressed = LaunchConfiguration("compressed")
    config = LaunchConfiguration("config")
    namespace = LaunchConfiguration("namespace")
    camera_source = LaunchConfiguration("camera_source")
    image_remappings = [("image", camera_topic), ("image/compressed", [camera_topic, "/compressed"])]

    camera = Node(
        package="fer_ros",
        executable="camera_node",
        name="camera_node",
        namespace=namespace,
        parameters=[config, {"source": camera_source, "publish_compressed": compressed}],
        remappings=image_remappings,
        condition=IfCondition(NotEqualsSubstitution(camera_source, "")),
        output="screen",
    )
    expression = Node(
        package="fer_ros",
        executable="expression_node",
        name="expression_node",
        namespace=namespace,
        parameters=[config, {"compressed": compressed}],
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
    arguments = [DeclareLaunchArgument(name, default_value=default, description=description)
                 for name, default, description in ARGUMENTS]
    return LaunchDescription([
        *arguments,
        *large_images_profile(),
        *sigterm_stops_cleanly(),
        camera,
        expression,
        overlay,
        mirror,
        *rviz(LaunchConfiguration("rviz_config")),
    ])
