"""A small residual CNN for 48x48 gray face crops, sized for CPU inference."""

from __future__ import annotations

import torch
from torch import nn


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with an identity shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(channels, channels),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(channels),
        )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.body(x))


class FerResNet(nn.Module):
    """Stem at full resolution, then stages that halve the size and add residual blocks.

    `widths[0]` is the stem width; each further width starts a stage with a stride-2 convolution
    followed by `blocks` residual blocks.
    """

    def __init__(
        self,
        num_classes: int,
        widths: tuple[int, ...] = (24, 48, 96, 192),
        blocks: int = 1,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [_conv_bn(1, widths[0], stride=1)]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers.append(_conv_bn(c_in, c_out, stride=2))
            layers.extend(ResidualBlock(c_out) for _ in range(blocks))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(widths[-1], num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
