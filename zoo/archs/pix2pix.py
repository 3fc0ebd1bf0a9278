"""pix2pix U-Net generator (Isola et al. 2017) for 14x14 -> 28x28 super-resolution of bicubic-upsampled inputs."""
from __future__ import annotations


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
    """U-Net with `depth` stride-2 levels and skip connections; arch_kwargs: base channels (48), depth (2),
    input_size (default: the output size).

    With input_size == resolution the input is an image whose detail was lost (e.g. `bicubic_degrade`); with a
    smaller input_size the model takes the low-resolution image itself and upsamples it (bicubic) before the U-Net.
    """

    task = "translation"
    resolutions = (28, 64, 128, 256)

    def __init__(self, channels: int = 1, resolution: int = 28, num_classes: int = 0, base: int = 48, depth: int = 2,
                 input_size: int | None = None) -> None:
        super().__init__(channels, resolution, num_classes)
        check_resolution(self)
        b, self.depth = base, depth
        self.input_size = int(input_size or self.resolution)
        if self.resolution % (2**self.depth) or self.input_size > self.resolution:
            raise ValueError(f"pix2pix: resolution {self.resolution} must be divisible by 2**depth and >= input_size")
        c = self.channels
        widths = [b * min(2**i, 8) for i in range(self.depth + 1)]
        self.inc = nn.Sequential(nn.Conv2d(c, b, 3, 1, 1), nn.LeakyReLU(0.2, True))
        self.downs = nn.ModuleList(_down(widths[i], widths[i + 1]) for i in range(self.depth))
        top = widths[-1]
        self.mid = nn.Sequential(nn.Conv2d(top, top, 3, 1, 1, bias=False), nn.InstanceNorm2d(top, affine=True), nn.ReLU(True))
        self.ups = nn.ModuleList(_up(2 * widths[i + 1], widths[i]) for i in reversed(range(self.depth)))
        self.outc = nn.Sequential(nn.Conv2d(2 * b, c, 3, 1, 1), nn.Tanh())

    @staticmethod
    def upgrade_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Read folders saved before the U-Net took a depth (tensor names down1/down2/up1/up2)."""
        renamed = {"down1.": "downs.0.", "down2.": "downs.1.", "up2.": "ups.0.", "up1.": "ups.1."}
        return {next((new + k[len(old):] for old, new in renamed.items() if k.startswith(old)), k): v for k, v in state.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.resolution:
            x = F.interpolate(x, size=(self.resolution, self.resolution), mode="bicubic", align_corners=False).clamp(-1, 1)
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        h = self.mid(skips[-1])
        for up, skip in zip(self.ups, reversed(skips[1:])):
            h = up(torch.cat([h, skip], 1))
        return self.outc(torch.cat([h, skips[0]], 1))
