"""DDPM default config and training step: uniform timestep, MSE on the noise, gradient clipping, EMA weights."""
from __future__ import annotations

import copy
from dataclasses import dataclass

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
    widths: tuple[int, ...] = tuple(arch_default("ddpm", "widths"))
    timesteps: int = arch_default("ddpm", "timesteps")
    beta_start: float = arch_default("ddpm", "beta_start")
    beta_end: float = arch_default("ddpm", "beta_end")
    sample_steps: int = arch_default("ddpm", "sample_steps")
    lr: float = 2e-4
    grad_clip: float = 1.0
    ema_decay: float = 0.9995


class Trainer(BaseTrainer):
    """One denoising step per batch; the exported model is the EMA copy."""

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        super().__init__(cfg, info, device)
        kwargs = {k: cfg[k] for k in ("widths", "timesteps", "beta_start", "beta_end", "sample_steps")}
        self.model = self.build_generator("ddpm", kwargs)
        self.ema = copy.deepcopy(self.model).eval()
        requires_grad(self.ema, False)
        self.modules = {"model": self.model, "ema": self.ema}
        self.optimizers = {"model": torch.optim.Adam(self.model.parameters(), cfg["lr"])}

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
        return F.mse_loss(self.model(self.model.q_sample(x0, t, noise), t), noise)

    def exports(self) -> list[Export]:
        return [Export("", "unconditional-synthesis", self.ema,
                       f"DDPM denoiser (EMA weights) sampled with {self.cfg['sample_steps']} deterministic DDIM steps: Gaussian noise to a 28x28 image")]
