"""A stand-in for PyTorch, installed only into the tpu-mlir toolchain venv of `make maixcam-model`.

tpu-mlir 1.30.2 imports ``torch`` at module level in modules the ONNX -> cvimodel path loads
(``transform/OnnxOpt.py``, ``calibration/kld_calibrator.py``, ``simple_tunner.py``, ``transformer_pattern.py``),
but on that path it calls torch only in ``OnnxOpt`` for custom-op models: ``torch.tensor(x).numpy()``. PyPI's
Linux torch for Python 3.10 is a multi-GB CUDA build, so the toolchain gets this module instead. Anything else
raises ``ImportError`` at once, naming what was asked for: code that probes for optional PyTorch features inside
``try: ... except ImportError`` (onnxruntime-extensions does, at import) takes its no-PyTorch branch, and a
tpu-mlir path that really needs PyTorch fails loudly.
"""

from __future__ import annotations

import numpy as np

__version__ = "0.0.0+fer_ros.shim"
FER_ROS_SHIM = True


class _Tensor:
    """What ``torch.tensor(x)`` returns here: only ``.numpy()``."""

    def __init__(self, data, dtype=None) -> None:
        self._array = np.array(data, dtype=dtype)

    def numpy(self) -> np.ndarray:
        return self._array


def tensor(data, dtype=None, **_ignored) -> _Tensor:
    return _Tensor(data, dtype)


class StandInError(ImportError):
    """A PyTorch feature this stand-in does not have."""


def __getattr__(name: str):
    if name.startswith("__"):  # the import machinery and inspect probe dunders: plain "not there"
        raise AttributeError(name)
    raise StandInError(
        f"torch.{name}: this is fer_ros's PyTorch stand-in for the tpu-mlir ONNX path "
        "(maixcam_bridge/tools/torch_shim); the tpu-mlir feature that needs it is not supported here"
    )
