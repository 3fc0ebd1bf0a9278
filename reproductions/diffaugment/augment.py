"""Differentiable augmentation (Zhao et al. 2020, policy 'color,translation,cutout'), random draws from a generator."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def _rand(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(x.size(0), 1, 1, 1, generator=gen, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5), as in the official code."""
    x = x + (_rand(x, gen) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, gen) * 2) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x, gen) + 0.5) + mean


def translation(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ratio x size pixels, filling with zeros."""
    b, _, h, w = x.shape
    sx, sy = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sx, sx + 1, (b, 1, 1), generator=gen, device=x.device)
    ty = torch.randint(-sy, sy + 1, (b, 1, 1), generator=gen, device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gx = (gx + tx + 1).clamp(0, h + 1)
    gy = (gy + ty + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[gb, gx, gy].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, gen: torch.Generator, ratio: float = 0.5) -> torch.Tensor:
    """Zero a random square of ratio x size per image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=gen, device=x.device)
    oy = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=gen, device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(ch, device=x.device), torch.arange(cw, device=x.device), indexing="ij")
    gx = (gx + ox - ch // 2).clamp(0, h - 1)
    gy = (gy + oy - cw // 2).clamp(0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gx, gy] = 0
    return x * mask.unsqueeze(1)


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, gen: torch.Generator, policy: str = "color,translation,cutout") -> torch.Tensor:
    """Apply the comma-separated augmentations of `policy`, each differentiable with respect to x."""
    for name in filter(None, policy.split(",")):
        x = POLICIES[name](x, gen)
    return x.contiguous()
