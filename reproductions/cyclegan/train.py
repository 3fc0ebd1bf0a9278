"""CycleGAN default config and training step: LSGAN losses, cycle loss (lambda 10), linear learning-rate decay."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reproductions.common.data import DatasetInfo
from reproductions.common.family import Export, Trainer as BaseTrainer, reduce_grads, requires_grad
from reproductions.pix2pix.train import init_normal
from zoo.base import from_uint8
from zoo.archs import arch_default


@dataclass
class Config:
    """CycleGAN hyper-parameters from the paper (Adam 2e-4, beta1 0.5, lambda_cyc 10, lr decays to 0 over the
    second half); domain A and B are two classes of the dataset (PneumoniaMNIST: 0 normal, 1 pneumonia)."""

    epochs: int = 12
    batch_size: int = 16
    base: int = arch_default("cyclegan", "base")
    n_blocks: int = arch_default("cyclegan", "n_blocks")
    d_base: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    cycle_weight: float = 10.0
    identity_weight: float = 0.0
    class_a: int = 0
    class_b: int = 1
    d_layers: int = 2  # stride-2 layers of the PatchGAN (3 at 128 px gives ~34-pixel patches)
    bf16: bool = False  # forward passes under bf16 autocast (float32 weights and optimizer)


class PatchDiscriminator(nn.Module):
    """Unconditional PatchGAN for one domain: image -> (size / 2**layers)^2 real/fake scores."""

    def __init__(self, channels: int, base: int, layers: int = 2) -> None:
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(channels, base, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = base
        for _ in range(layers - 1):
            mods += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.InstanceNorm2d(2 * c, affine=True), nn.LeakyReLU(0.2, True)]
            c *= 2
        self.net = nn.Sequential(*mods, nn.Conv2d(c, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _lsgan(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """LSGAN's least-squares loss, in float32 whatever precision the discriminator ran in."""
    pred = pred.float()
    return F.mse_loss(pred, torch.full_like(pred, 1.0 if real else 0.0))


class Trainer(BaseTrainer):
    """Generators A->B and B->A, discriminators for A and B; each epoch pairs every B image with an A image."""

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        super().__init__(cfg, info, device)
        kwargs = {"base": cfg["base"], "n_blocks": cfg["n_blocks"]}
        self.g_ab = self.build_generator("cyclegan", kwargs)
        self.g_ba = self.build_generator("cyclegan", kwargs)
        self.d_a = PatchDiscriminator(info.channels, cfg["d_base"], cfg.get("d_layers", 2)).to(device)
        self.d_b = PatchDiscriminator(info.channels, cfg["d_base"], cfg.get("d_layers", 2)).to(device)
        for m in (self.g_ab, self.g_ba, self.d_a, self.d_b):
            init_normal(m)
        betas = (cfg["beta1"], 0.999)
        self.modules = {"g_ab": self.g_ab, "g_ba": self.g_ba, "d_a": self.d_a, "d_b": self.d_b}
        self.optimizers = {
            "g": torch.optim.Adam(itertools.chain(self.g_ab.parameters(), self.g_ba.parameters()), cfg["lr"], betas=betas),
            "d": torch.optim.Adam(itertools.chain(self.d_a.parameters(), self.d_b.parameters()), cfg["lr"], betas=betas),
        }

    def prepare(self, images: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Unpaired (A, B) rows: every B image once, A images cycled in a fixed seeded order to the same length."""
        a = from_uint8(images[labels == self.cfg["class_a"]])
        b = from_uint8(images[labels == self.cfg["class_b"]])
        for cls, domain in ((self.cfg["class_a"], a), (self.cfg["class_b"], b)):
            if not len(domain):
                raise ValueError(f"CycleGAN needs images of both domains: class {cls} ({self.info.class_names[cls]}) has none here")
        n = max(len(a), len(b))
        g = torch.Generator().manual_seed(self.cfg["seed"])
        ia = torch.cat([torch.randperm(len(a), generator=g) for _ in range(-(-n // len(a)))])[:n]
        ib = torch.cat([torch.randperm(len(b), generator=g) for _ in range(-(-n // len(b)))])[:n]
        return {"a": a[ia], "b": b[ib]}

    def _set_lr(self, step: int) -> None:
        half = self.total_steps / 2
        lr = self.cfg["lr"] * min(1.0, max(0.0, (self.total_steps - step) / half))
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = lr

    def step(self, batch: dict[str, torch.Tensor], gen: torch.Generator, step: int) -> dict[str, float]:
        self._set_lr(step)
        a, b = batch["a"], batch["b"]
        requires_grad(self.d_a, False)
        requires_grad(self.d_b, False)
        with self.autocast():
            fake_b, fake_a = self.g_ab(a), self.g_ba(b)
            loss_gan = _lsgan(self.d_b(fake_b), True) + _lsgan(self.d_a(fake_a), True)
            loss_cyc = F.l1_loss(self.g_ba(fake_b).float(), a) + F.l1_loss(self.g_ab(fake_a).float(), b)
            loss_g = loss_gan + self.cfg["cycle_weight"] * loss_cyc
            if self.cfg["identity_weight"]:
                loss_g = loss_g + self.cfg["identity_weight"] * (F.l1_loss(self.g_ab(b).float(), b) + F.l1_loss(self.g_ba(a).float(), a))
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        reduce_grads(self.g_ab, self.g_ba)
        self.optimizers["g"].step()
        requires_grad(self.d_a, True)
        requires_grad(self.d_b, True)

        with self.autocast():
            loss_d = 0.5 * (_lsgan(self.d_a(a), True) + _lsgan(self.d_a(fake_a.detach()), False)
                            + _lsgan(self.d_b(b), True) + _lsgan(self.d_b(fake_b.detach()), False))
        self.optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        reduce_grads(self.d_a, self.d_b)
        self.optimizers["d"].step()
        return {"loss_g_gan": loss_gan.item(), "cycle": loss_cyc.item(), "loss_d": loss_d.item()}

    def exports(self) -> list[Export]:
        names = self.info.class_names
        a, b = self.cfg["class_a"], self.cfg["class_b"]
        out = []
        for g, src, dst in ((self.g_ab, a, b), (self.g_ba, b, a)):
            extra = {"source_class": src, "source_domain": names[src], "target_domain": names[dst]}
            out.append(Export(f"_{names[src]}2{names[dst]}".replace(" ", "-"), "image-translation", g,
                              f"CycleGAN generator: {names[src]} -> {names[dst]} ({self.info.name}, unpaired)", extra))
        return out
