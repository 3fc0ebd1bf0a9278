"""Class-conditional DDPM training with diffusers: DDPM's step with labels dropped to the null class with
probability p_uncond (classifier-free guidance), AdamW; the exported model is the EMA copy."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from reproductions.common.family import Export
from reproductions.ddpm.train import Config as DDPMConfig, Trainer as DDPMTrainer
from zoo.archs import arch_default


@dataclass
class Config(DDPMConfig):
    """DDPM's settings with the class-conditional U-Net's defaults, p_uncond 0.1 and guidance as in Ho & Salimans
    2022, AdamW, EMA 0.999; a small U-Net for CPU."""

    epochs: int = 30
    widths: list[int] = field(default_factory=lambda: arch_default("ddpm_cfg", "widths"))
    attention_levels: list[int] = field(default_factory=lambda: arch_default("ddpm_cfg", "attention_levels"))
    beta_schedule: str = arch_default("ddpm_cfg", "beta_schedule")
    guidance: float = arch_default("ddpm_cfg", "guidance")
    p_uncond: float = 0.1
    ema_decay: float = 0.999


class Trainer(DDPMTrainer):
    """DDPM's step (clipping, EMA) with a class-conditional diffusers U-Net and classifier-free label dropout."""

    arch = "ddpm_cfg"
    arch_keys = (*DDPMTrainer.arch_keys, "guidance")

    def num_classes(self) -> int:
        return len(self.info.class_names)

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.model.parameters(), self.cfg["lr"], weight_decay=0.0)

    def denoising_loss(self, batch: dict[str, torch.Tensor], gen: torch.Generator) -> torch.Tensor:
        """DDPM's loss with labels dropped to the null class at p_uncond."""
        x0, y = batch["x"], batch["y"]
        t = torch.randint(0, self.cfg["timesteps"], (len(x0),), generator=gen, device=self.device)
        noise = torch.randn(x0.shape, generator=gen, device=self.device)
        drop = torch.rand(len(y), generator=gen, device=self.device) < self.cfg["p_uncond"]
        y = torch.where(drop, torch.full_like(y, self.model.null_class), y)
        with self.autocast():
            eps = self.model(self.scheduler.add_noise(x0, noise, t), t, y)
        return F.mse_loss(eps.float(), noise)

    def exports(self) -> list[Export]:
        r = self.info.resolution
        return [Export("", "conditional-synthesis", self.ema,
                       f"Class-conditional DDPM (diffusers UNet2DModel, EMA weights): Gaussian noise and a class label to a "
                       f"{r}x{r} image, {self.cfg['sample_steps']} DDIM steps with classifier-free guidance {self.cfg['guidance']}")]
