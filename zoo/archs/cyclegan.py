"""CycleGAN ResNet generator (Zhu et al. 2017) for 28x28: c7s1, two stride-2 downs, residual blocks, two ups."""
from __future__ import annotations


import torch
from torch import nn

from zoo.archs import register_arch
from zoo.base import check_resolution
from zoo.base import GenerativeModel


def _norm_relu(c: int) -> list[nn.Module]:
    return [nn.InstanceNorm2d(c, affine=True), nn.ReLU(True)]


class ResidualBlock(nn.Module):
    """Two reflection-padded 3x3 convolutions with instance norm, added to the input."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), *_norm_relu(c),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3, bias=False), nn.InstanceNorm2d(c, affine=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


@register_arch("cyclegan")
class CycleGANGenerator(GenerativeModel):
    """One translation direction; arch_kwargs: base channels (24), residual blocks at 7x7 (6)."""

    task = "translation"
    resolutions = (28, 64, 128, 256)

    def __init__(self, channels: int = 1, resolution: int = 28, num_classes: int = 0, base: int = 24, n_blocks: int = 6) -> None:
        super().__init__(channels, resolution, num_classes)
        check_resolution(self)
        b, n = base, n_blocks
        c = self.channels
        self.net = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(c, b, 7, bias=False), *_norm_relu(b),
            nn.Conv2d(b, 2 * b, 3, 2, 1, bias=False), *_norm_relu(2 * b),
            nn.Conv2d(2 * b, 4 * b, 3, 2, 1, bias=False), *_norm_relu(4 * b),
            *[ResidualBlock(4 * b) for _ in range(n)],
            nn.ConvTranspose2d(4 * b, 2 * b, 3, 2, 1, output_padding=1, bias=False), *_norm_relu(2 * b),
            nn.ConvTranspose2d(2 * b, b, 3, 2, 1, output_padding=1, bias=False), *_norm_relu(b),
            nn.ReflectionPad2d(3), nn.Conv2d(b, c, 7), nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
