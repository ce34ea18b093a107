"""The benchmarks behind ``fer-ros bench`` (engine.py: the core pipeline) and ``fer-ros bench-ros`` (ros_graph.py:
nodes over DDS; hosts.py: two hosts in network namespaces)."""
