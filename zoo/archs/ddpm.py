"""DDPM denoiser (Ho et al. 2020): a small U-Net predicting noise, sampled deterministically with DDIM (Song et al. 2021)."""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.archs import register_arch
from zoo.base import check_resolution
from zoo.base import GenerativeModel


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps, (N,) -> (N, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.cos(), args.sin()], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the timestep embedding added in between; 1x1 skip when widths differ."""

    def __init__(self, cin: int, cout: int, tdim: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.temb = nn.Linear(tdim, cout)
        self.norm2, self.conv2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.temb(temb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Single-head self-attention over pixels, residual."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm, self.qkv, self.proj = nn.GroupNorm(8, c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).flatten(2).transpose(1, 2).chunk(3, dim=2)
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj(out.transpose(1, 2).reshape(n, c, h, w))


class UNet(nn.Module):
    """Noise-prediction U-Net at 28 -> 14 -> 7 with two residual blocks per level and attention at 7x7."""

    def __init__(self, channels: int, widths: list[int]) -> None:
        super().__init__()
        base = widths[0]
        tdim = 4 * base
        self.base = base
        self.time = nn.Sequential(nn.Linear(base, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inc = nn.Conv2d(channels, base, 3, 1, 1)
        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        c = base
        for i, w in enumerate(widths):
            self.enc.append(nn.ModuleList([ResBlock(c, w, tdim), ResBlock(w, w, tdim)]))
            c = w
            if i < len(widths) - 1:
                self.down.append(nn.Conv2d(c, c, 3, 2, 1))
        self.mid1, self.attn, self.mid2 = ResBlock(c, c, tdim), SelfAttention(c), ResBlock(c, c, tdim)
        self.dec = nn.ModuleList()
        self.up = nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.dec.append(nn.ModuleList([ResBlock(c + w, w, tdim), ResBlock(w, w, tdim)]))
            c = w
            if i > 0:
                self.up.append(nn.Conv2d(c, c, 3, 1, 1))
        self.out = nn.Sequential(nn.GroupNorm(8, c), nn.SiLU(), nn.Conv2d(c, channels, 3, 1, 1))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        temb = self.time(timestep_embedding(t, self.base))
        h = self.inc(x)
        skips = []
        for i, blocks in enumerate(self.enc):
            for block in blocks:
                h = block(h, temb)
            skips.append(h)
            if i < len(self.down):
                h = self.down[i](h)
        h = self.mid2(self.attn(self.mid1(h, temb)), temb)
        for i, blocks in enumerate(self.dec):
            h = torch.cat([h, skips.pop()], 1)
            for block in blocks:
                h = block(h, temb)
            if i < len(self.up):
                h = self.up[i](F.interpolate(h, scale_factor=2, mode="nearest"))
        return self.out(h)


def linear_alphas_cumprod(timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """Cumulative products of (1 - beta_t) for DDPM's linear beta schedule, computed in float64."""
    betas = torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
    return torch.cumprod(1 - betas, 0).float()


@register_arch("ddpm")
class DDPMModel(GenerativeModel):
    """Unconditional DDPM; `sample` runs `sample_steps` deterministic DDIM steps (eta 0) from Gaussian noise.

    arch_kwargs: widths ([32, 64, 64]), timesteps (1000), beta_start (1e-4), beta_end (0.02), sample_steps (50).
    """

    task = "synthesis"
    inference_channels_last = False  # GroupNorm/attention U-Net measured slower in channels_last on CPU (bench/generation.py)

    def __init__(self, channels: int = 1, resolution: int = 28, num_classes: int = 0, widths: Sequence[int] = (32, 64, 64),
                 timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02, sample_steps: int = 50) -> None:
        super().__init__(channels, resolution, num_classes)
        check_resolution(self)
        self.timesteps = timesteps
        self.sample_steps = sample_steps
        self.noise_shape = (self.channels, self.resolution, self.resolution)
        self.unet = UNet(self.channels, [int(w) for w in widths])
        ac = linear_alphas_cumprod(self.timesteps, beta_start, beta_end)
        self.register_buffer("alphas_cumprod", ac, persistent=False)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Predicted noise in x_t at timesteps t."""
        return self.unet(x, t)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t ~ q(x_t | x_0) for the given noise."""
        a = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def sample(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        steps = torch.linspace(self.timesteps - 1, 0, self.sample_steps).round().long().tolist()
        x = z
        for i, t in enumerate(steps):
            a = self.alphas_cumprod[t]
            a_prev = self.alphas_cumprod[steps[i + 1]] if i + 1 < len(steps) else torch.ones((), device=x.device)
            eps = self(x, torch.full((len(x),), t, device=x.device, dtype=torch.long))
            x0 = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-1, 1)
            eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
            x = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
        return x
