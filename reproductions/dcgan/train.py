"""DCGAN discriminator, default config and training step (Adam 2e-4, beta1 0.5, non-saturating loss)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reproductions.common.data import DatasetInfo
from reproductions.common.family import Export, Trainer as BaseTrainer, reduce_grads, requires_grad
from zoo.archs import arch_default


@dataclass
class Config:
    """DCGAN hyper-parameters (the paper's optimiser settings; channel widths sized for 28x28 on CPU)."""

    epochs: int = 60
    batch_size: int = 64
    z_dim: int = arch_default("dcgan", "z_dim")
    g_base: int = arch_default("dcgan", "base")
    d_base: int = 64
    lr: float = 2e-4
    beta1: float = 0.5


class Discriminator(nn.Module):
    """28 -> 14 -> 7 strided convolutions with LeakyReLU (BatchNorm after the first), then `heads` logits."""

    def __init__(self, channels: int, base: int, heads: int = 1, batchnorm: bool = True) -> None:
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        self.features = nn.Sequential(
            nn.Conv2d(channels, base, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(base, 2 * base, 4, 2, 1, bias=not batchnorm), norm(2 * base), nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * base, 4 * base, 3, 1, 1, bias=not batchnorm), norm(4 * base), nn.LeakyReLU(0.2, True),
            nn.Flatten(),
        )
        self.head = nn.Linear(4 * base * 7 * 7, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def init_dcgan(module: nn.Module) -> None:
    """The DCGAN paper's initialisation: N(0, 0.02) weights, BatchNorm scale N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class Trainer(BaseTrainer):
    """Alternating D and G updates; D sees real and fake batches separately, as in the DCGAN reference code."""

    arch = "dcgan"
    num_classes = 0

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        super().__init__(cfg, info, device)
        self.g = self.build_generator(self.arch, {"z_dim": cfg["z_dim"], "base": cfg["g_base"]}, self.num_classes)
        self.d = self.build_discriminator().to(device)
        init_dcgan(self.g)
        init_dcgan(self.d)
        betas = (cfg["beta1"], 0.999)
        self.modules = {"g": self.g, "d": self.d}
        self.optimizers = {
            "g": torch.optim.Adam(self.g.parameters(), cfg["lr"], betas=betas),
            "d": torch.optim.Adam(self.d.parameters(), cfg["lr"], betas=betas),
        }

    def build_discriminator(self) -> nn.Module:
        return Discriminator(self.info.channels, self.cfg["d_base"])

    def augment(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """What the discriminator sees of a batch (DiffAugment overrides this; identity here)."""
        return x

    def step(self, batch: dict[str, torch.Tensor], gen: torch.Generator, step: int) -> dict[str, float]:
        x = batch["x"]
        z = torch.randn(len(x), self.cfg["z_dim"], generator=gen, device=self.device)
        fake = self.g(z)
        loss_d = F.softplus(-self.d(self.augment(x, gen))).mean() + F.softplus(self.d(self.augment(fake.detach(), gen))).mean()
        self.optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        reduce_grads(self.d)
        self.optimizers["d"].step()

        requires_grad(self.d, False)
        loss_g = F.softplus(-self.d(self.augment(fake, gen))).mean()
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        reduce_grads(self.g)
        self.optimizers["g"].step()
        requires_grad(self.d, True)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    def exports(self) -> list[Export]:
        return [Export("", "unconditional-synthesis", self.g, "DCGAN generator: 100-d Gaussian noise to a 28x28 image")]
