"""Test support shared by the project's tests: ROS process harness, sample messages, tiny test nodes."""
