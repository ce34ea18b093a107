"""Evaluation: accuracy on expression data sets, metrics, perturbations (built on the core, no ROS import)."""
