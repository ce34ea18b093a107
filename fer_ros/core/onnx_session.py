"""onnxruntime session creation shared by the detector and the classifier (no ROS import)."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

from fer_ros.core.errors import FerRosError, ModelNotFoundError


def create_session(model_path: str | Path, num_threads: int = 1) -> ort.InferenceSession:
    """A CPU InferenceSession with ``num_threads`` intra-op threads, sequential execution, full optimisation."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelNotFoundError(f"model file not found: {model_path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(num_threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
        raise FerRosError(f"{model_path}: cannot load ONNX model ({str(exc).splitlines()[0]})") from exc
