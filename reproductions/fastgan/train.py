"""FastGAN training: hinge loss, DiffAugment on everything the discriminator sees, a projection discriminator for
classes, and an exponential moving average of the generator (what is exported)."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from reproductions.common.data import DatasetInfo
from reproductions.common.family import Export, Trainer as BaseTrainer, ema_update, reduce_grads, requires_grad
from reproductions.diffaugment.augment import diff_augment
from zoo.archs import arch_default


@dataclass
class Config:
    """FastGAN hyper-parameters: the paper's Adam (2e-4, beta1 0.5) and DiffAugment policy; widths sized for CPU."""

    epochs: int = 40
    batch_size: int = 16
    z_dim: int = arch_default("fastgan", "z_dim")
    g_base: int = arch_default("fastgan", "base")
    d_base: int = 16
    lr: float = 2e-4
    beta1: float = 0.5
    ema: float = 0.999
    policy: str = "color,translation,cutout"
    conditional: bool = True
    lr_d_scale: float = 1.0  # discriminator lr = lr * lr_d_scale (TTUR when > 1)
    d_norm: str = "sn"  # "sn": spectral norm + hinge loss; "bn": DCGAN's BatchNorm + non-saturating loss
    mode_seeking: float = 0.0  # weight of the mode-seeking term (Mao et al. 2019): 0 off; 1 the paper's
    bf16: bool = False  # forward passes under bf16 autocast (float32 weights and optimizer)



def minibatch_stddev(h: torch.Tensor) -> torch.Tensor:
    """Append the feature standard deviation over the batch as one more channel (Karras et al. 2018): a generator
    that maps every noise to the same image is then easy to tell apart, which counters mode collapse."""
    std = h.std(0, unbiased=False).mean().expand(h.size(0), 1, *h.shape[2:])
    return torch.cat([h, std], 1)


class Discriminator(nn.Module):
    """Strided spectral-norm convolutions down to 4x4, a minibatch-stddev channel, a linear logit, and a class
    projection (Miyato & Koyama 2018)."""

    def __init__(self, channels: int, resolution: int, base: int, num_classes: int, norm: str = "sn") -> None:
        super().__init__()
        layers, c, size = [], channels, resolution
        width = base
        while size > 4:
            if norm == "sn":
                layers += [spectral_norm(nn.Conv2d(c, width, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            else:  # DCGAN's: BatchNorm after every strided convolution but the first
                layers += [nn.Conv2d(c, width, 4, 2, 1, bias=c == channels)]
                layers += [nn.BatchNorm2d(width)] if c != channels else []
                layers += [nn.LeakyReLU(0.2, True)]
            c, size, width = width, size // 2, min(width * 2, 16 * base)
        self.features = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear((c + 1) * 16, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, (c + 1) * 16)) if num_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = minibatch_stddev(self.features(x)).flatten(1)
        out = self.linear(h).squeeze(1)
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out


class Trainer(BaseTrainer):
    """Hinge-loss GAN steps; the EMA generator is exported."""

    arch = "fastgan"

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        super().__init__(cfg, info, device)
        self.num_classes = len(info.class_names) if cfg["conditional"] else 0
        self.g = self.build_generator(self.arch, {"z_dim": cfg["z_dim"], "base": cfg["g_base"]}, self.num_classes)
        self.g_ema = copy.deepcopy(self.g).eval()
        requires_grad(self.g_ema, False)
        self.d = Discriminator(info.channels, info.resolution, cfg["d_base"], self.num_classes, cfg.get("d_norm", "sn")).to(device)
        betas = (cfg["beta1"], 0.999)
        self.modules = {"g": self.g, "d": self.d, "g_ema": self.g_ema}
        self.optimizers = {
            "g": torch.optim.Adam(self.g.parameters(), cfg["lr"], betas=betas),
            "d": torch.optim.Adam(self.d.parameters(), cfg["lr"] * cfg.get("lr_d_scale", 1.0), betas=betas),
        }

    def step(self, batch: dict[str, torch.Tensor], gen: torch.Generator, step: int) -> dict[str, float]:
        x = batch["x"]
        y = batch["y"] if self.num_classes else None
        z = torch.randn(len(x), self.cfg["z_dim"], generator=gen, device=self.device)
        with self.autocast():
            fake = self.g(z, y)
        aug = lambda t: diff_augment(t, gen, self.cfg["policy"])  # noqa: E731
        real_out, fake_out = self._critic(aug(x), y), self._critic(aug(fake.detach()), y)
        if self.cfg.get("d_norm", "sn") == "sn":
            loss_d = F.relu(1 - real_out).mean() + F.relu(1 + fake_out).mean()
        else:
            loss_d = F.softplus(-real_out).mean() + F.softplus(fake_out).mean()
        self.optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        reduce_grads(self.d)
        self.optimizers["d"].step()

        requires_grad(self.d, False)
        out = self._critic(aug(fake), y)
        loss_g = -out.mean() if self.cfg.get("d_norm", "sn") == "sn" else F.softplus(-out).mean()
        losses = {}
        if self.cfg.get("mode_seeking", 0.0):
            ms = self.mode_seeking(fake, z, y, gen)
            loss_g = loss_g + self.cfg["mode_seeking"] / (ms + 1e-5)
            losses["mode_seeking"] = ms.item()
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        reduce_grads(self.g)
        self.optimizers["g"].step()
        requires_grad(self.d, True)
        ema_update(self.g_ema, self.g, self.cfg["ema"], step)
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), **losses}

    def _critic(self, images: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """The discriminator's logits in float32, its forward pass under the run's autocast."""
        with self.autocast():
            return self.d(images, y).float()

    def mode_seeking(self, fake: torch.Tensor, z: torch.Tensor, y: torch.Tensor | None, gen: torch.Generator) -> torch.Tensor:
        """MSGAN's ratio for half the batch: mean |G(z1, y) - G(z2, y)| / mean |z1 - z2|, with a second noise z2 and the
        same labels. The generator maximises it, so that different noise gives different images of one class (the
        conditional generator otherwise learned to ignore its noise: one image per class)."""
        h = max(1, len(z) // 2)
        z2 = torch.randn(h, z.shape[1], generator=gen, device=self.device)
        with self.autocast():
            fake2 = self.g(z2, None if y is None else y[:h])
        return (fake[:h].float() - fake2.float()).abs().mean() / (z[:h] - z2).abs().mean()

    def exports(self) -> list[Export]:
        kind = "conditional-synthesis" if self.num_classes else "unconditional-synthesis"
        what = "noise and a class label" if self.num_classes else "noise"
        r = self.info.resolution
        return [Export("", kind, self.g_ema, f"FastGAN generator (EMA weights): {self.cfg['z_dim']}-d Gaussian {what} to a {r}x{r} image")]
