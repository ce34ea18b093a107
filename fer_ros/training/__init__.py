"""Training of fer_ros expression models (needs the `train` extra: PyTorch and onnx)."""
