"""SPADE training on image + lesion-mask pairs: hinge loss with a layout-conditioned PatchGAN discriminator and
discriminator feature matching (the paper's VGG loss is left out: no pretrained VGG weights can be downloaded here)."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from reproductions.common.data import DatasetInfo
from reproductions.common.family import Export, Trainer as BaseTrainer, ema_update, reduce_grads, requires_grad
from zoo.base import from_uint8
from zoo.archs import arch_default


@dataclass
class Config:
    """SPADE hyper-parameters: TTUR learning rates and feature-matching weight 10 as in the paper; widths for CPU."""

    epochs: int = 100
    batch_size: int = 8
    z_dim: int = arch_default("spade", "z_dim")
    g_base: int = arch_default("spade", "base")
    d_base: int = 32
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    fm_weight: float = 10.0
    ema: float = 0.999
    bf16: bool = False  # forward passes under bf16 autocast (float32 weights and optimizer)


class PatchDiscriminator(nn.Module):
    """70x70-style PatchGAN on (image, layout maps), spectral norm; returns the logit map and intermediate features."""

    def __init__(self, in_channels: int, base: int) -> None:
        super().__init__()
        chans = [in_channels, base, 2 * base, 4 * base, 8 * base]
        self.layers = nn.ModuleList(
            nn.Sequential(spectral_norm(nn.Conv2d(a, b, 4, 2 if i < 3 else 1, 1)), nn.LeakyReLU(0.2, True))
            for i, (a, b) in enumerate(zip(chans, chans[1:]))
        )
        self.out = spectral_norm(nn.Conv2d(chans[-1], 1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for layer in self.layers:
            x = layer(x)
            feats.append(x)
        return self.out(x), feats


class Trainer(BaseTrainer):
    """Class-conditional SPADE on (image, mask) pairs; the EMA generator, with the training masks as its bank, is exported."""

    arch = "spade"

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        super().__init__(cfg, info, device)
        self.num_classes = len(info.class_names)
        self.g = self.build_generator(self.arch, {"z_dim": cfg["z_dim"], "base": cfg["g_base"]}, self.num_classes)
        self.g_ema = copy.deepcopy(self.g).eval()
        requires_grad(self.g_ema, False)
        self.d = PatchDiscriminator(info.channels + 1 + self.num_classes, cfg["d_base"]).to(device)
        self.modules = {"g": self.g, "d": self.d, "g_ema": self.g_ema}
        self.optimizers = {
            "g": torch.optim.Adam(self.g.parameters(), cfg["lr_g"], betas=(cfg["beta1"], 0.999)),
            "d": torch.optim.Adam(self.d.parameters(), cfg["lr_d"], betas=(cfg["beta1"], 0.999)),
        }

    def prepare(self, images: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if masks is None:
            raise ValueError("spade trains on image + mask pairs: the folder has no <name>_mask.png files")
        self.g_ema.set_bank(masks, labels)  # exported with the weights: the layouts generate() samples from
        self.g.set_bank(masks, labels)
        return {"x": from_uint8(images), "y": labels, "m": masks.float()}

    def step(self, batch: dict[str, torch.Tensor], gen: torch.Generator, step: int) -> dict[str, float]:
        x, y, m = batch["x"], batch["y"], batch["m"]
        z = torch.randn(len(x), self.cfg["z_dim"], generator=gen, device=self.device)
        with self.autocast():
            layout = self.g.layout(m, y)
            fake = self.g(z, y, m)
            real_logit, _ = self.d(torch.cat([x, layout], 1))
            fake_logit, _ = self.d(torch.cat([fake.detach(), layout], 1))
        loss_d = F.relu(1 - real_logit.float()).mean() + F.relu(1 + fake_logit.float()).mean()
        self.optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        reduce_grads(self.d)
        self.optimizers["d"].step()

        requires_grad(self.d, False)
        with self.autocast():
            fake_logit, fake_feats = self.d(torch.cat([fake, layout], 1))
            with torch.no_grad():
                _, real_feats = self.d(torch.cat([x, layout], 1))
        loss_fm = sum(F.l1_loss(f.float(), r.float()) for f, r in zip(fake_feats, real_feats)) / len(fake_feats)
        loss_g = -fake_logit.float().mean() + self.cfg["fm_weight"] * loss_fm
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        reduce_grads(self.g)
        self.optimizers["g"].step()
        requires_grad(self.d, True)
        ema_update(self.g_ema, self.g, self.cfg["ema"], step)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "loss_fm": loss_fm.item()}

    def exports(self) -> list[Export]:
        r = self.info.resolution
        return [Export("", "mask-conditional-synthesis", self.g_ema,
                       f"SPADE generator (EMA weights): lesion mask, class label and {self.cfg['z_dim']}-d noise to a {r}x{r} "
                       f"image; generate() returns image + mask pairs, new masks drawn from a bank of "
                       f"{self.g_ema.bank_size} training masks with random flips and affine changes")]
