"""DDPM default config and training step: uniform timestep, MSE on the noise through diffusers' DDPMScheduler,
gradient clipping, EMA weights; optional bf16 autocast (faster on CPUs with AMX, fp32 master weights)."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from reproductions.common.data import DatasetInfo
from reproductions.common.family import Export, Trainer as BaseTrainer, ema_update, reduce_grads, requires_grad
from zoo.archs import arch_default


@dataclass
class Config:
    """DDPM hyper-parameters (the paper's linear schedule, T 1000, lr 2e-4, clip 1, EMA 0.9995), small U-Net."""

    epochs: int = 40
    batch_size: int = 32
    widths: list[int] = field(default_factory=lambda: arch_default("ddpm", "widths"))
    attention_levels: list[int] = field(default_factory=lambda: arch_default("ddpm", "attention_levels"))
    layers_per_block: int = arch_default("ddpm", "layers_per_block")
    timesteps: int = arch_default("ddpm", "timesteps")
    beta_schedule: str = arch_default("ddpm", "beta_schedule")
    sample_steps: int = arch_default("ddpm", "sample_steps")
    lr: float = 2e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.9995
    bf16: bool = False


class Trainer(BaseTrainer):
    """One denoising step per batch; the exported model is the EMA copy."""

    arch = "ddpm"
    arch_keys = ("widths", "attention_levels", "layers_per_block", "timesteps", "beta_schedule", "sample_steps")

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        super().__init__(cfg, info, device)
        kwargs = {**{k: cfg[k] for k in self.arch_keys}, "precision": "auto" if cfg.get("bf16") else "float32"}
        self.model = self.build_generator(self.arch, kwargs, self.num_classes())  # bf16-trained: bf16 sampling where native
        self.ema = copy.deepcopy(self.model).eval()
        requires_grad(self.ema, False)
        self.scheduler = self.model.train_scheduler()
        self.modules = {"model": self.model, "ema": self.ema}
        self.optimizers = {"model": self.optimizer()}

    def num_classes(self) -> int:
        """Classes the model is conditioned on (none: unconditional)."""
        return 0

    def optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.model.parameters(), self.cfg["lr"])

    def step(self, batch: dict[str, torch.Tensor], gen: torch.Generator, step: int) -> dict[str, float]:
        loss = self.denoising_loss(batch, gen)
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        reduce_grads(self.model)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg["grad_clip"])
        opt.step()
        ema_update(self.ema, self.model, self.cfg["ema_decay"], step)
        return {"loss": loss.item()}

    def denoising_loss(self, batch: dict[str, torch.Tensor], gen: torch.Generator) -> torch.Tensor:
        """MSE between the noise added at a uniform timestep and the model's prediction of it."""
        x0 = batch["x"]
        t = torch.randint(0, self.cfg["timesteps"], (len(x0),), generator=gen, device=self.device)
        noise = torch.randn(x0.shape, generator=gen, device=self.device)
        with self.autocast():
            eps = self.model(self.scheduler.add_noise(x0, noise, t), t)
        return F.mse_loss(eps.float(), noise)

    def exports(self) -> list[Export]:
        return [Export("", "unconditional-synthesis", self.ema,
                       f"DDPM denoiser (diffusers UNet2DModel, EMA weights) sampled with {self.cfg['sample_steps']} deterministic DDIM "
                       f"steps: Gaussian noise to a {self.info.resolution}x{self.info.resolution} image")]
