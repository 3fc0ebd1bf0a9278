"""pix2pix U-Net generator (Isola et al. 2017) for 14x14 -> 28x28 super-resolution of bicubic-upsampled inputs."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zoo.archs import register_arch
from zoo.base import check_resolution
from zoo.base import GenerativeModel


def bicubic_degrade(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 images (N, C, H, W) bicubic-downsampled (antialiased) to size x size, then bicubic-upsampled back."""
    h, w = images.shape[-2:]
    x = images.float()
    low = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    up = F.interpolate(low, size=(h, w), mode="bicubic", align_corners=False)
    return up.clamp(0, 255).round().to(torch.uint8)


def _down(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(0.2, True))


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False), nn.InstanceNorm2d(cout, affine=True), nn.ReLU(True))


@register_arch("pix2pix")
class Pix2PixGenerator(GenerativeModel):
    """U-Net 28 -> 14 -> 7 -> 14 -> 28 with skip connections; arch_kwargs: base channels (48).

    Input: a 28x28 image whose detail was lost (bicubic 14x14 version upsampled back, see `bicubic_degrade`);
    output: the restored 28x28 image.
    """

    task = "translation"

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        check_resolution(self)
        b = int(config.get("arch_kwargs", {}).get("base", 48))
        c = self.channels
        self.inc = nn.Sequential(nn.Conv2d(c, b, 3, 1, 1), nn.LeakyReLU(0.2, True))
        self.down1 = _down(b, 2 * b)
        self.down2 = _down(2 * b, 4 * b)
        self.mid = nn.Sequential(nn.Conv2d(4 * b, 4 * b, 3, 1, 1, bias=False), nn.InstanceNorm2d(4 * b, affine=True), nn.ReLU(True))
        self.up2 = _up(8 * b, 2 * b)
        self.up1 = _up(4 * b, b)
        self.outc = nn.Sequential(nn.Conv2d(2 * b, c, 3, 1, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e0 = self.inc(x)
        e1 = self.down1(e0)
        e2 = self.down2(e1)
        d2 = self.up2(torch.cat([self.mid(e2), e2], 1))
        d1 = self.up1(torch.cat([d2, e1], 1))
        return self.outc(torch.cat([d1, e0], 1))
