"""ACGAN generator (Odena et al. 2017): a DCGAN body whose noise is scaled by a learned class embedding."""
from __future__ import annotations


import torch
from torch import nn

from zoo.archs import register_arch
from zoo.archs.dcgan import DCGANBody
from zoo.base import check_resolution
from zoo.base import GenerativeModel


@register_arch("acgan")
class ACGANGenerator(GenerativeModel):
    """Class-conditional generator (num_classes >= 2): the class embedding scales the noise, then DCGAN's body."""

    task = "synthesis"

    def __init__(self, channels: int = 1, resolution: int = 28, num_classes: int = 2, z_dim: int = 100, base: int = 64) -> None:
        super().__init__(channels, resolution, num_classes)
        check_resolution(self)
        if self.num_classes < 2:
            raise ValueError("acgan generator needs num_classes >= 2 in its config")
        self.noise_shape = (z_dim,)
        self.embed = nn.Embedding(self.num_classes, z_dim)
        self.body = DCGANBody(z_dim, base, self.channels)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.body(z * self.embed(labels))

    def sample(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if labels is None:
            raise ValueError("acgan generator is class-conditional: pass labels")
        return self(z, labels)
