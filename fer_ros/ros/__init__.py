"""ROS 2 helpers shared by the nodes: image conversion, message building, QoS, diagnostics (imports rclpy-side
packages; the core engine never imports this package)."""
