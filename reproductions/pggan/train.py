"""PGGAN discriminator, growth schedule, default config and training step (WGAN-GP + drift, Adam(0, 0.99))."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from reproductions.common.data import DatasetInfo
from reproductions.common.family import Export, Trainer as BaseTrainer, ema_update, reduce_grads, requires_grad
from reproductions.wgan_gp.train import gradient_penalty
from zoo.archs.pggan import EqualizedConv2d, EqualizedLinear
from zoo.archs import arch_default


@dataclass
class Config:
    """PGGAN hyper-parameters: the paper's lr 1e-3, betas (0, 0.99), lambda 10, drift 1e-3, EMA 0.999."""

    epochs: int = 25
    batch_size: int = 32
    z_dim: int = arch_default("pggan", "z_dim")
    widths: tuple[int, ...] = tuple(arch_default("pggan", "widths"))
    lr: float = 1e-3
    beta1: float = 0.0
    beta2: float = 0.99
    gp_weight: float = 10.0
    drift: float = 1e-3
    ema_decay: float = 0.999


def schedule(step: int, total: int, stages: int) -> tuple[int, float]:
    """(stage, fade-in alpha) at `step`: the run is split into equal phases, stable then fade per new stage."""
    phases = 2 * stages - 1
    phase = min(step * phases // max(total, 1), phases - 1)
    stage = (phase + 1) // 2
    if phase % 2 == 0:
        return stage, 1.0
    start = phase * total / phases
    return stage, min(1.0, (step - start) / (total / phases))


def minibatch_stddev(x: torch.Tensor) -> torch.Tensor:
    """Append the batch's average feature standard deviation as one constant channel."""
    std = x.std(dim=0, unbiased=False).mean().view(1, 1, 1, 1).expand(len(x), 1, *x.shape[2:])
    return torch.cat([x, std], 1)


class Discriminator(nn.Module):
    """Mirror of the generator: from-RGB per stage, conv blocks with average-pool downsampling, stddev layer."""

    def __init__(self, channels: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        w = list(widths)
        self.from_rgb = nn.ModuleList([EqualizedConv2d(channels, c, 1) for c in w])
        self.blocks = nn.ModuleList([nn.Identity()])
        for cin, cout in zip(w[1:], w[:-1]):
            self.blocks.append(nn.ModuleList([EqualizedConv2d(cin, cin, 3, 1), EqualizedConv2d(cin, cout, 3, 1)]))
        self.final_conv = EqualizedConv2d(w[0] + 1, w[0], 3, 1)
        self.final_fc = EqualizedLinear(w[0] * 7 * 7, w[0])
        self.out = EqualizedLinear(w[0], 1)

    def _block(self, s: int, h: torch.Tensor) -> torch.Tensor:
        for conv in self.blocks[s]:
            h = F.leaky_relu(conv(h), 0.2)
        return F.avg_pool2d(h, 2)

    def forward(self, x: torch.Tensor, stage: int, alpha: float = 1.0) -> torch.Tensor:
        h = F.leaky_relu(self.from_rgb[stage](x), 0.2)
        if stage > 0:
            h = self._block(stage, h)
            if alpha < 1:
                skip = F.leaky_relu(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)), 0.2)
                h = alpha * h + (1 - alpha) * skip
            for s in range(stage - 1, 0, -1):
                h = self._block(s, h)
        h = F.leaky_relu(self.final_conv(minibatch_stddev(h)), 0.2)
        return self.out(F.leaky_relu(self.final_fc(h.flatten(1)), 0.2))


class Trainer(BaseTrainer):
    """One critic and one generator update per step at the scheduled stage; real images are average-pooled to it."""

    def __init__(self, cfg: dict, info: DatasetInfo, device: torch.device) -> None:
        super().__init__(cfg, info, device)
        kwargs = {"z_dim": cfg["z_dim"], "widths": list(cfg["widths"])}
        self.g = self.build_generator("pggan", kwargs)
        self.g_ema = copy.deepcopy(self.g).eval()
        requires_grad(self.g_ema, False)
        self.d = Discriminator(info.channels, tuple(cfg["widths"])).to(device)
        betas = (cfg["beta1"], cfg["beta2"])
        self.modules = {"g": self.g, "g_ema": self.g_ema, "d": self.d}
        self.optimizers = {
            "g": torch.optim.Adam(self.g.parameters(), cfg["lr"], betas=betas),
            "d": torch.optim.Adam(self.d.parameters(), cfg["lr"], betas=betas),
        }

    def step(self, batch: dict[str, torch.Tensor], gen: torch.Generator, step: int) -> dict[str, float]:
        stage, alpha = schedule(step, self.total_steps, self.g.max_stage + 1)
        x = batch["x"]
        factor = 2 ** (self.g.max_stage - stage)
        if factor > 1:
            x = F.avg_pool2d(x, factor)
        if stage > 0 and alpha < 1:
            x = alpha * x + (1 - alpha) * F.interpolate(F.avg_pool2d(x, 2), scale_factor=2, mode="nearest")
        z = torch.randn(len(x), self.cfg["z_dim"], generator=gen, device=self.device)
        with torch.no_grad():
            fake = self.g(z, stage, alpha)
        d_real = self.d(x, stage, alpha)
        wdist = d_real.mean() - self.d(fake, stage, alpha).mean()
        gp = gradient_penalty(lambda t: self.d(t, stage, alpha), x, fake, gen)
        loss_d = -wdist + self.cfg["gp_weight"] * gp + self.cfg["drift"] * d_real.pow(2).mean()
        self.optimizers["d"].zero_grad(set_to_none=True)
        loss_d.backward()
        reduce_grads(self.d)
        self.optimizers["d"].step()

        requires_grad(self.d, False)
        z = torch.randn(len(x), self.cfg["z_dim"], generator=gen, device=self.device)
        loss_g = -self.d(self.g(z, stage, alpha), stage, alpha).mean()
        self.optimizers["g"].zero_grad(set_to_none=True)
        loss_g.backward()
        reduce_grads(self.g)
        self.optimizers["g"].step()
        requires_grad(self.d, True)
        ema_update(self.g_ema, self.g, self.cfg["ema_decay"])
        return {"wasserstein": wdist.item(), "gp": gp.item(), "loss_g": loss_g.item(), "stage": stage, "alpha": alpha}

    def exports(self) -> list[Export]:
        return [Export("", "unconditional-synthesis", self.g_ema, "Progressive GAN generator (7->14->28, EMA weights): 128-d Gaussian noise to a 28x28 image")]
