"""ACGAN default config and training step: adversarial loss plus class cross-entropy on real and fake images."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reproductions.common.data import DatasetInfo
from reproductions.common.family import Export, reduce_grads, requires_grad
from reproductions.dcgan.train import Config as DCGANConfig, Discriminator, Trainer as DCGANTrainer


@dataclass
class Config(DCGANConfig):
    """ACGAN hyper-parameters: DCGAN's, plus class loss weight 1 as in the paper."""

    class_weight: float = 1.0


class Trainer(DCGANTrainer):
    """DCGAN networks with a conditional generator and a (1 + classes)-logit discriminator."""

    arch = "acgan"

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        self.num_classes = len(info.class_names)
        super().__init__(cfg, info, device)

    def build_discriminator(self) -> nn.Module:
        return Discriminator(self.info.channels, self.cfg["d_base"], heads=1 + self.num_classes)

    def step(self, batch: dict[str, torch.Tensor], gen: torch.Generator, step: int) -> dict[str, float]:
        x, y = batch["x"], batch["y"]
        z = torch.randn(len(x), self.cfg["z_dim"], generator=gen, device=self.device)
        y_fake = torch.randint(0, self.num_classes, (len(x),), generator=gen, device=self.device)
        fake = self.g(z, y_fake)
        w = self.cfg["class_weight"]

        out_real, out_fake = self.d(x), self.d(fake.detach())
        loss_adv = F.softplus(-out_real[:, 0]).mean() + F.softplus(out_fake[:, 0]).mean()
        loss_cls = F.cross_entropy(out_real[:, 1:], y) + F.cross_entropy(out_fake[:, 1:], y_fake)
        loss_d = loss_adv + w * loss_cls
        self.optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        reduce_grads(self.d)
        self.optimizers["d"].step()

        requires_grad(self.d, False)
        out = self.d(fake)
        loss_g = F.softplus(-out[:, 0]).mean() + w * F.cross_entropy(out[:, 1:], y_fake)
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        reduce_grads(self.g)
        self.optimizers["g"].step()
        requires_grad(self.d, True)
        acc = (out_real[:, 1:].argmax(1) == y).float().mean()
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "d_real_acc": acc.item()}

    def exports(self) -> list[Export]:
        return [Export("", "conditional-synthesis", self.g, "ACGAN generator: 100-d Gaussian noise and a class label to a 28x28 image")]
