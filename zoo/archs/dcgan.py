"""DCGAN generator (Radford et al. 2016) for 28x28 images: project noise to 7x7, two strided up-convolutions."""
from __future__ import annotations


import torch
from torch import nn

from zoo.archs import register_arch
from zoo.base import GenerativeModel, batchnorm_affine, check_resolution


class DCGANBody(nn.Module):
    """Noise vector -> image in [-1, 1]: linear to 7x7, ConvTranspose 7->14->28, BatchNorm + ReLU, tanh."""

    def __init__(self, z_dim: int, base: int, channels: int) -> None:
        super().__init__()
        self.base = base
        self.project = nn.Sequential(nn.Linear(z_dim, 4 * base * 7 * 7, bias=False), nn.Unflatten(1, (4 * base, 7, 7)))
        self.net = nn.Sequential(
            nn.BatchNorm2d(4 * base), nn.ReLU(True),
            nn.ConvTranspose2d(4 * base, 2 * base, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * base), nn.ReLU(True),
            nn.ConvTranspose2d(2 * base, base, 4, 2, 1, bias=False), nn.BatchNorm2d(base), nn.ReLU(True),
            nn.Conv2d(base, channels, 3, 1, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(self.project(z))

    @torch.no_grad()
    def fold_batchnorm(self) -> None:
        """Inference only (zoo.base.fold_batchnorm): fold the eval BatchNorm after the projection into the Linear layer."""
        lin, bn = self.project[0], self.net[0]
        if not (isinstance(lin, nn.Linear) and isinstance(bn, nn.BatchNorm2d)) or bn.training or bn.running_var is None:
            return
        scale, shift = batchnorm_affine(bn)
        per = lin.out_features // bn.num_features  # Unflatten(1, (C, 7, 7)): feature f belongs to channel f // 49
        scale, shift = scale.repeat_interleave(per), shift.repeat_interleave(per)
        bias = shift if lin.bias is None else lin.bias.detach() * scale + shift
        lin.weight = nn.Parameter(lin.weight.detach() * scale[:, None], requires_grad=False)
        lin.bias = nn.Parameter(bias, requires_grad=False)
        self.net[0] = nn.Identity()


@register_arch("dcgan")
class DCGANGenerator(GenerativeModel):
    """Unconditional DCGAN generator: z_dim-d noise, `base` channels at 28x28 (2x and 4x below)."""

    task = "synthesis"

    def __init__(self, channels: int = 1, resolution: int = 28, num_classes: int = 0, z_dim: int = 100, base: int = 64) -> None:
        super().__init__(channels, resolution, num_classes)
        check_resolution(self)
        self.noise_shape = (z_dim,)
        self.body = DCGANBody(z_dim, base, self.channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)

    def sample(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self(z)
