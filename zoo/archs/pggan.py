"""Progressive GAN generator (Karras et al. 2018) grown 7 -> 14 -> 28: equalized learning rate and pixel norm."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.archs import register_arch
from zoo.base import check_resolution
from zoo.base import GenerativeModel


class EqualizedConv2d(nn.Module):
    """Conv2d with N(0, 1) weights scaled at run time by He's constant (equalized learning rate)."""

    def __init__(self, cin: int, cout: int, kernel: int, padding: int = 0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = 1 / math.sqrt(cin * kernel * kernel)
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualizedLinear(nn.Module):
    """Linear layer with equalized learning rate."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.scale = 1 / math.sqrt(cin)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each pixel's feature vector to unit average square."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


class ConvPN(nn.Module):
    """3x3 equalized conv, LeakyReLU(0.2), pixel norm."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = EqualizedConv2d(cin, cout, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return pixel_norm(F.leaky_relu(self.conv(x), 0.2))


@register_arch("pggan")
class PGGANGenerator(GenerativeModel):
    """Generator with one block per resolution (7, 14, 28) and a 1x1 to-RGB layer each.

    arch_kwargs: z_dim (128), channels per stage (128, 96, 48). `forward(z, stage, alpha)` renders at
    7 * 2**stage pixels, fading in the newest stage with weight alpha; `sample` uses the full 28x28 stage.
    """

    task = "synthesis"
    inference_channels_last = False  # equalized-lr convs with pixel norm measured slower in channels_last on CPU

    def __init__(self, channels: int = 1, resolution: int = 28, num_classes: int = 0, z_dim: int = 128,
                 widths: Sequence[int] = (128, 96, 48)) -> None:
        super().__init__(channels, resolution, num_classes)
        check_resolution(self)
        widths = [int(c) for c in widths]
        self.noise_shape = (z_dim,)
        self.widths = widths
        self.project = EqualizedLinear(z_dim, widths[0] * 7 * 7)
        self.blocks = nn.ModuleList([ConvPN(widths[0], widths[0])])
        for cin, cout in zip(widths[:-1], widths[1:]):
            self.blocks.append(nn.Sequential(ConvPN(cin, cout), ConvPN(cout, cout)))
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, self.channels, 1) for c in widths])

    @property
    def max_stage(self) -> int:
        return len(self.widths) - 1

    def forward(self, z: torch.Tensor, stage: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        stage = self.max_stage if stage is None else stage
        h = pixel_norm(F.leaky_relu(self.project(pixel_norm(z)).view(len(z), self.widths[0], 7, 7), 0.2))
        h = self.blocks[0](h)
        prev = h
        for s in range(1, stage + 1):
            prev = h
            h = self.blocks[s](F.interpolate(h, scale_factor=2, mode="nearest"))
        out = self.to_rgb[stage](h)
        if stage > 0 and alpha < 1:
            skip = F.interpolate(self.to_rgb[stage - 1](prev), scale_factor=2, mode="nearest")
            out = alpha * out + (1 - alpha) * skip
        return out

    def sample(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self(z)
