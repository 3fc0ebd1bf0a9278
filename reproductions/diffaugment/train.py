"""DiffAugment default config and training step: the DCGAN step with both D inputs augmented."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from reproductions.common.family import Export
from reproductions.dcgan.train import Trainer as DCGANTrainer
from reproductions.diffaugment.augment import diff_augment


@dataclass
class Config:
    """DCGAN settings plus the DiffAugment policy the paper recommends for small data."""

    epochs: int = 300
    batch_size: int = 32
    z_dim: int = 100
    g_base: int = 64
    d_base: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    policy: str = "color,translation,cutout"


class Trainer(DCGANTrainer):
    """DCGAN trainer whose discriminator inputs, real and fake, pass through DiffAugment."""

    arch = "diffaugment"

    def augment(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return diff_augment(x, gen, self.cfg["policy"])

    def exports(self) -> list[Export]:
        return [Export("", "unconditional-synthesis", self.g, "DCGAN generator trained with DiffAugment: 100-d Gaussian noise to a 28x28 image")]
