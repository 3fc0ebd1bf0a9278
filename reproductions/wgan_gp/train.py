"""WGAN-GP default config and training step: n_critic critic updates per generator update, lambda = 10."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from reproductions.common.data import DatasetInfo
from reproductions.common.family import Export, Trainer as BaseTrainer, reduce_grads, requires_grad
from reproductions.dcgan.train import Discriminator, init_dcgan
from zoo.archs import arch_default


@dataclass
class Config:
    """WGAN-GP hyper-parameters (the paper's Adam 1e-4, betas (0.5, 0.9) for DCGAN-style nets; n_critic 5)."""

    epochs: int = 200
    batch_size: int = 32
    z_dim: int = arch_default("dcgan", "z_dim")
    g_base: int = arch_default("dcgan", "base")
    d_base: int = 32
    lr: float = 1e-4
    beta1: float = 0.5
    beta2: float = 0.9
    n_critic: int = 5
    gp_weight: float = 10.0


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(||grad critic(x_hat)||_2 - 1)^2 on random interpolates between real and fake images."""
    eps = torch.rand(len(real), 1, 1, 1, generator=gen, device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class Trainer(BaseTrainer):
    """Each step updates the critic on one batch; every n_critic-th step also updates the generator."""

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        super().__init__(cfg, info, device)
        self.g = self.build_generator("wgan_gp", {"z_dim": cfg["z_dim"], "base": cfg["g_base"]})
        self.d = Discriminator(info.channels, cfg["d_base"], batchnorm=False).to(device)
        init_dcgan(self.g)
        betas = (cfg["beta1"], cfg["beta2"])
        self.modules = {"g": self.g, "d": self.d}
        self.optimizers = {
            "g": torch.optim.Adam(self.g.parameters(), cfg["lr"], betas=betas),
            "d": torch.optim.Adam(self.d.parameters(), cfg["lr"], betas=betas),
        }

    def step(self, batch: dict[str, torch.Tensor], gen: torch.Generator, step: int) -> dict[str, float]:
        x = batch["x"]
        z = torch.randn(len(x), self.cfg["z_dim"], generator=gen, device=self.device)
        with torch.no_grad():
            fake = self.g(z)
        wdist = self.d(x).mean() - self.d(fake).mean()
        gp = gradient_penalty(self.d, x, fake, gen)
        loss_d = -wdist + self.cfg["gp_weight"] * gp
        self.optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        reduce_grads(self.d)
        self.optimizers["d"].step()
        out = {"wasserstein": wdist.item(), "gp": gp.item()}
        if step % self.cfg["n_critic"] == self.cfg["n_critic"] - 1:
            requires_grad(self.d, False)
            z = torch.randn(len(x), self.cfg["z_dim"], generator=gen, device=self.device)
            loss_g = -self.d(self.g(z)).mean()
            self.optimizers["g"].zero_grad(set_to_none=True)
            loss_g.backward()
            reduce_grads(self.g)
            self.optimizers["g"].step()
            requires_grad(self.d, True)
            out["loss_g"] = loss_g.item()
        return out

    def exports(self) -> list[Export]:
        return [Export("", "unconditional-synthesis", self.g, "WGAN-GP generator: 100-d Gaussian noise to a 28x28 image")]
