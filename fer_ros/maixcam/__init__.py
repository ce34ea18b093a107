"""MaixCAM bridge logic that needs no ROS: stream state, datagram handling, health.

The wire protocol itself is maixcam_bridge/fer_maix_protocol.py (shared with the device app).
"""
