"""DiffAugment default config and training step: the DCGAN step with both D inputs augmented."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from reproductions.common.family import Export
from reproductions.dcgan.train import Config as DCGANConfig, Trainer as DCGANTrainer
from reproductions.diffaugment.augment import diff_augment


@dataclass
class Config(DCGANConfig):
    """DCGAN settings (more epochs, smaller batches for 546 images) plus the DiffAugment policy the paper recommends."""

    epochs: int = 300
    batch_size: int = 32
    policy: str = "color,translation,cutout"


class Trainer(DCGANTrainer):
    """DCGAN trainer whose discriminator inputs, real and fake, pass through DiffAugment."""

    arch = "diffaugment"

    def augment(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return diff_augment(x, gen, self.cfg["policy"])

    def exports(self) -> list[Export]:
        return [Export("", "unconditional-synthesis", self.g, "DCGAN generator trained with DiffAugment: 100-d Gaussian noise to a 28x28 image")]
