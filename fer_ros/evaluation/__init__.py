"""Evaluation (accuracy on expression data sets) and benchmark tools built on the core (no ROS import)."""
