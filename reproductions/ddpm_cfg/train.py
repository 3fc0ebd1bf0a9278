"""Class-conditional DDPM training with diffusers: uniform timesteps, MSE on the noise, labels dropped to the null
class with probability p_uncond (classifier-free guidance), gradient clipping, EMA weights (exported)."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from reproductions.common.data import DatasetInfo
from reproductions.common.family import Export, Trainer as BaseTrainer, requires_grad
from reproductions.ddpm.train import Trainer as DDPMTrainer
from zoo.archs import arch_default


@dataclass
class Config:
    """p_uncond 0.1 and guidance as in Ho & Salimans 2022; AdamW 2e-4, clip 1, EMA 0.999; a small U-Net for CPU."""

    epochs: int = 30
    batch_size: int = 32
    widths: list[int] = field(default_factory=lambda: arch_default("ddpm_cfg", "widths"))
    attention_levels: list[int] = field(default_factory=lambda: arch_default("ddpm_cfg", "attention_levels"))
    timesteps: int = arch_default("ddpm_cfg", "timesteps")
    beta_schedule: str = arch_default("ddpm_cfg", "beta_schedule")
    sample_steps: int = arch_default("ddpm_cfg", "sample_steps")
    guidance: float = arch_default("ddpm_cfg", "guidance")
    p_uncond: float = 0.1
    lr: float = 2e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.999


class Trainer(DDPMTrainer):
    """DDPM's step (clipping, EMA) with a class-conditional diffusers U-Net and classifier-free label dropout."""

    arch = "ddpm_cfg"

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        BaseTrainer.__init__(self, cfg, info, device)
        kwargs = {k: cfg[k] for k in ("widths", "attention_levels", "timesteps", "beta_schedule", "sample_steps", "guidance")}
        self.model = self.build_generator(self.arch, kwargs, len(info.class_names))
        self.ema = copy.deepcopy(self.model).eval()
        requires_grad(self.ema, False)
        self.scheduler = self.model.train_scheduler()
        self.modules = {"model": self.model, "ema": self.ema}
        self.optimizers = {"model": torch.optim.AdamW(self.model.parameters(), cfg["lr"], weight_decay=0.0)}

    def denoising_loss(self, batch: dict[str, torch.Tensor], gen: torch.Generator) -> torch.Tensor:
        """DDPM's loss through diffusers' DDPMScheduler.add_noise, with labels dropped to the null class at p_uncond."""
        x0, y = batch["x"], batch["y"]
        t = torch.randint(0, self.cfg["timesteps"], (len(x0),), generator=gen, device=self.device)
        noise = torch.randn(x0.shape, generator=gen, device=self.device)
        drop = torch.rand(len(y), generator=gen, device=self.device) < self.cfg["p_uncond"]
        y = torch.where(drop, torch.full_like(y, self.model.null_class), y)
        return F.mse_loss(self.model(self.scheduler.add_noise(x0, noise, t), t, y), noise)

    def exports(self) -> list[Export]:
        r = self.info.resolution
        return [Export("", "conditional-synthesis", self.ema,
                       f"Class-conditional DDPM (diffusers UNet2DModel, EMA weights): Gaussian noise and a class label to a "
                       f"{r}x{r} image, {self.cfg['sample_steps']} DDIM steps with classifier-free guidance {self.cfg['guidance']}")]
