"""Run a cv18xx ``.cvimodel`` on face crops in tpu-mlir's simulator (``pyruntime_cvi``), as the NPU would.

Runs with the tpu-mlir toolchain venv's Python (3.10), not the project's; it imports only numpy and tpu-mlir::

    python cvi_simulate.py MODEL.cvimodel CROPS.npz OUT.npz

``CROPS.npz`` holds ``images`` (uint8 N x H x W, gray), ``mean`` and ``scale``; each crop goes in as
``(pixel - mean) * scale``, the preprocessing MaixPy's ``nn.Classifier`` does with the ``.mud``'s mean and scale
before quantising the input to int8 with the model's input scale (``--quant_input``). ``OUT.npz`` gets ``outputs``
(float32 N x C): the model's raw output for each crop.
"""

import os
import sys


def _with_toolchain_environment() -> None:
    """Re-run this script once with tpu-mlir's PATH, PYTHONPATH and LD_LIBRARY_PATH, as its own tools do."""
    if os.environ.get("FER_ROS_TPU_ENV") == "1":
        return
    import tpu_mlir  # noqa: F401  (sets the variables in os.environ)

    os.environ["FER_ROS_TPU_ENV"] = "1"
    os.execv(sys.executable, [sys.executable, os.path.abspath(__file__), *sys.argv[1:]])


def main(argv: list) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    model, crops_path, out_path = argv
    _with_toolchain_environment()
    import numpy as np
    import pyruntime_cvi
    from tpu_mlir.python.utils.lowering import lowering

    crops = np.load(crops_path)
    images = crops["images"]
    mean, scale = float(crops["mean"]), float(crops["scale"])
    # As tpu-mlir's model_runner does for a cvimodel, with the model loaded once: the float input is quantised
    # with the model's input scale, the float32 output is read as is.
    net = pyruntime_cvi.Model(model, output_all_tensors=False)
    (inp,) = net.inputs
    out = net.outputs[-1]
    outputs = np.empty((len(images), out.data.size), np.float32)
    for i, image in enumerate(images):
        x = ((image.astype(np.float32) - mean) * scale)[None, None]
        inp.data.reshape(-1)[:] = lowering(
            x, pdtype=inp.dtype, pshape=x.shape, pzero_point=inp.qzero_point, pscale=inp.qscale
        ).flatten()
        net.forward()
        outputs[i] = np.asarray(out.data, dtype=np.float32).reshape(-1)
    np.savez(out_path, outputs=outputs)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
