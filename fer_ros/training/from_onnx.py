"""Rebuild a trainable FerResNet from an exported fer_ros ONNX model (float), to fine-tune or distil from it.

The export folds each BatchNorm into the convolution before it (weight and bias). The rebuilt network puts the
folded weight back into the convolution and turns its BatchNorm into the same affine map, with running
statistics measured on sample crops: with ``gamma = sqrt(var + eps)`` and ``beta = mean + bias`` the layer is
exactly ``conv(x) + bias`` in eval mode, and close to it in train mode (batch statistics near the measured ones),
so training can resume from the exported function instead of from scratch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn

from fer_ros.training.model import FerResNet


def _conv_initializers(proto: onnx.ModelProto) -> list[tuple[np.ndarray, np.ndarray]]:
    weights = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    pairs = []
    for node in proto.graph.node:
        if node.op_type == "Conv":
            if len(node.input) < 3:
                raise ValueError(f"Conv node {node.name!r} has no bias: not a BatchNorm-folded fer_ros export")
            pairs.append((weights[node.input[1]], weights[node.input[2]]))
    return pairs


def _gemm_initializers(proto: onnx.ModelProto) -> tuple[np.ndarray, np.ndarray]:
    weights = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    gemms = [node for node in proto.graph.node if node.op_type == "Gemm"]
    if len(gemms) != 1:
        raise ValueError(f"expected one Gemm (the classifier layer), found {len(gemms)}")
    return weights[gemms[0].input[1]], weights[gemms[0].input[2]]


def architecture_of(path: str | Path) -> tuple[tuple[int, ...], int, int]:
    """(widths, blocks, classes) of an exported FerResNet, read from its convolution shapes."""
    proto = onnx.load(str(path))
    convs = _conv_initializers(proto)
    head_w, _ = _gemm_initializers(proto)
    widths = [convs[0][0].shape[0]]
    stage_convs = [w.shape for w, _ in convs[1:]]
    i, blocks = 0, None
    while i < len(stage_convs):
        out = stage_convs[i][0]
        widths.append(out)
        j = i + 1
        while j < len(stage_convs) and stage_convs[j][:2] == (out, out):
            j += 1
        n_blocks = (j - i - 1) // 2
        blocks = n_blocks if blocks is None else blocks
        if n_blocks != blocks or (j - i - 1) % 2:
            raise ValueError(f"{path}: not a FerResNet layout (irregular stage at conv {i + 1})")
        i = j
    return tuple(widths), int(blocks or 0), int(head_w.shape[0])


def load_onnx_weights(model: FerResNet, path: str | Path, sample: torch.Tensor) -> list[str]:
    """Copy an exported model's weights into ``model`` (same architecture); ``sample`` are normalised input
    crops (N, 1, H, W) used to measure the BatchNorm statistics. Returns the names left untouched (none)."""
    proto = onnx.load(str(path))
    convs = _conv_initializers(proto)
    modules = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]
    pairs = list(zip(modules[0::2], modules[1::2], strict=True))
    if len(pairs) != len(convs) or not all(
        isinstance(c, nn.Conv2d) and isinstance(b, nn.BatchNorm2d) for c, b in pairs
    ):
        raise ValueError(f"{path}: {len(convs)} convolutions, the model has {len(pairs)} conv+BN pairs")
    with torch.no_grad():
        for (conv, bn), (weight, bias) in zip(pairs, convs, strict=True):
            if tuple(conv.weight.shape) != weight.shape:
                raise ValueError(f"{path}: conv shape {weight.shape} != model {tuple(conv.weight.shape)}")
            conv.weight.copy_(torch.from_numpy(np.array(weight)))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
            bn.weight.fill_(float(np.sqrt(1.0 + bn.eps)))
            bn.bias.copy_(torch.from_numpy(np.array(bias)))
        head_w, head_b = _gemm_initializers(proto)
        linear = model.head[-1]
        if tuple(linear.weight.shape) != head_w.shape:
            raise ValueError(f"{path}: head {head_w.shape} != model {tuple(linear.weight.shape)}")
        linear.weight.copy_(torch.from_numpy(np.array(head_w)))
        linear.bias.copy_(torch.from_numpy(np.array(head_b)))

        stats: dict[nn.BatchNorm2d, tuple[torch.Tensor, torch.Tensor]] = {}

        def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], _: torch.Tensor) -> None:
            x = inputs[0]
            stats[module] = (x.mean(dim=(0, 2, 3)), x.var(dim=(0, 2, 3), unbiased=False))

        hooks = [bn.register_forward_hook(record) for _, bn in pairs]
        model.eval()
        model(sample)
        for hook in hooks:
            hook.remove()
        for _, bn in pairs:
            mean, var = stats[bn]
            bias = bn.bias.clone()
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(mean + bias)
    return []
