"""FastGAN generator (Liu et al., ICLR 2021), narrowed for CPU training: nearest-upsample + conv + GLU blocks from
4x4 to 64-256 px, with skip-layer excitation (8 -> 128, 16 -> 256); optionally class-conditional."""
from __future__ import annotations


import torch
from torch import nn

from zoo.archs import register_arch
from zoo.base import GenerativeModel, check_resolution


def _up(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, 2 * cout, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(2 * cout), nn.GLU(dim=1))


class SkipExcitation(nn.Module):
    """FastGAN's skip-layer excitation: a low-resolution map gates the channels of a high-resolution one."""

    def __init__(self, c_low: int, c_high: int) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Conv2d(c_low, c_high, 4, 1, 0, bias=False), nn.SiLU(),
                                  nn.Conv2d(c_high, c_high, 1, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        return high * self.gate(low)


def default_widths(resolution: int, base: int) -> list[int]:
    """Channels per level from 4x4 up to the output size: 8*base at 4-8 px, halving down to base/2 at 256 px."""
    table = {4: 8, 8: 8, 16: 4, 32: 4, 64: 2, 128: 1, 256: 0.5}
    return [max(8, int(base * table[4 * 2**i])) for i in range(resolution.bit_length() - 2)]


@register_arch("fastgan")
class FastGANGenerator(GenerativeModel):
    """Noise (and a class label) to an image of 64, 128 or 256 px."""

    task = "synthesis"
    resolutions = (64, 128, 256)

    def __init__(self, channels: int = 1, resolution: int = 128, num_classes: int = 0, z_dim: int = 128, base: int = 32) -> None:
        super().__init__(channels, resolution, num_classes)
        check_resolution(self)
        self.z_dim, self.base = z_dim, base
        self.noise_shape = (self.z_dim,)
        w = default_widths(self.resolution, self.base)
        self.embed = nn.Embedding(self.num_classes, self.z_dim) if self.num_classes else None
        z_in = 2 * self.z_dim if self.num_classes else self.z_dim
        self.init = nn.Sequential(nn.ConvTranspose2d(z_in, 2 * w[0], 4, 1, 0, bias=False), nn.BatchNorm2d(2 * w[0]), nn.GLU(dim=1))
        self.ups = nn.ModuleList(_up(w[i - 1], w[i]) for i in range(1, len(w)))
        sizes = [4 * 2**i for i in range(len(w))]
        self.sle = nn.ModuleDict()
        for low, high in ((8, 128), (16, 256)):
            if high in sizes:
                self.sle[str(high)] = SkipExcitation(w[sizes.index(low)], w[sizes.index(high)])
        self.to_img = nn.Sequential(nn.Conv2d(w[-1], self.channels, 3, 1, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("this FastGAN is class-conditional: pass labels")
            z = torch.cat([z, self.embed(labels)], 1)
        x = self.init(z[:, :, None, None])
        feats = {4: x}
        for up in self.ups:
            x = up(x)
            size = x.shape[-1]
            if str(size) in self.sle:
                x = self.sle[str(size)](feats[size // 16], x)
            feats[size] = x
        return self.to_img(x)

    def sample(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self(z, labels)
