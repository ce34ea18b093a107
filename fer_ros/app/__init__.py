"""Application bring-up: the one-process graph of ``fer-ros run``, its recorder and summary, and running ROS 2
processes (isolated domain, process control, virtual hosts) for the benchmarks and the test harness."""
