"""fer_ros core engine: detect -> align -> classify -> track -> smooth. Plain Python, no ROS import."""
