"""rosbag2 recordings (MCAP and sqlite3) without a ROS install: run recognition over recorded camera topics,
write the results back as a bag, record a live run, and draw per-face timelines. Built on ``rosbags``."""
