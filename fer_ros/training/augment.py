"""Batched augmentation on tensors: cheap next to the forward pass, so it runs in the training loop."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms; the affine ones mimic the jitter of a 5-point alignment."""

    flip: bool = True
    max_rotation_deg: float = 12.0
    max_scale: float = 0.12
    max_shift: float = 0.08
    brightness: float = 0.25
    contrast: float = 0.3
    erase_prob: float = 0.4
    erase_max_area: float = 0.15


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Augment a batch (N, 1, H, W) of images scaled to [0, 1]."""
    n = x.shape[0]

    def uniform(low: float, high: float, size: tuple[int, ...] = (n,)) -> torch.Tensor:
        return torch.rand(size, generator=gen) * (high - low) + low

    angle = uniform(-1, 1) * math.radians(cfg.max_rotation_deg)
    scale = 1 + uniform(-1, 1) * cfg.max_scale
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, uniform(-1, 1) * cfg.max_shift * 2], dim=1),
            torch.stack([sin * flip, cos, uniform(-1, 1) * cfg.max_shift * 2], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = 1 + uniform(-1, 1, (n, 1, 1, 1)) * cfg.contrast
    brightness = uniform(-1, 1, (n, 1, 1, 1)) * cfg.brightness
    x = ((x - mean) * contrast + mean + brightness).clamp(0, 1)

    if cfg.erase_prob > 0:
        h, w = x.shape[2:]
        area = uniform(0.02, cfg.erase_max_area) * h * w
        aspect = torch.exp(uniform(math.log(0.5), math.log(2.0)))
        eh = (area * aspect).sqrt().clamp(1, h - 1).long()
        ew = (area / aspect).sqrt().clamp(1, w - 1).long()
        y0 = (torch.rand(n, generator=gen) * (h - eh)).long()
        x0 = (torch.rand(n, generator=gen) * (w - ew)).long()
        rows = torch.arange(h).view(1, h, 1)
        cols = torch.arange(w).view(1, 1, w)
        box = (
            (rows >= y0.view(n, 1, 1))
            & (rows < (y0 + eh).view(n, 1, 1))
            & (cols >= x0.view(n, 1, 1))
            & (cols < (x0 + ew).view(n, 1, 1))
        )
        box &= (torch.rand(n, generator=gen) < cfg.erase_prob).view(n, 1, 1)
        noise = torch.rand(x.shape, generator=gen)
        x = torch.where(box.unsqueeze(1), noise, x)
    return x


def mix_batch(
    x: torch.Tensor, targets: torch.Tensor, mixup_alpha: float, cutmix_prob: float, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixup (Beta(alpha, alpha) blend) or, with probability ``cutmix_prob``, CutMix of each batch with its
    reversed order; the soft targets are mixed in the same proportion. Off when both are 0."""
    if mixup_alpha <= 0 and cutmix_prob <= 0:
        return x, targets
    partner = torch.flip(torch.arange(x.shape[0]), dims=[0])
    if cutmix_prob > 0 and float(torch.rand(1, generator=gen)) < cutmix_prob:
        h, w = x.shape[2:]
        lam = float(torch.rand(1, generator=gen))
        ch, cw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
        cy, cx = int(torch.randint(h, (1,), generator=gen)), int(torch.randint(w, (1,), generator=gen))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        x = x.clone()
        x[:, :, y0:y1, x0:x1] = x[partner, :, y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)
    elif mixup_alpha > 0:
        seed = int(torch.randint(2**31 - 1, (1,), generator=gen))
        lam = float(np.random.default_rng(seed).beta(mixup_alpha, mixup_alpha))
        x = lam * x + (1 - lam) * x[partner]
    else:
        return x, targets
    return x, lam * targets + (1 - lam) * targets[partner]
