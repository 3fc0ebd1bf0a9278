"""SPADE generator (Park et al., CVPR 2019) for image + lesion-mask pairs: a lesion mask and a class label lay out the
image, noise varies its texture. New masks come from a bank of training masks with random flips and affine changes."""
from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.archs import register_arch
from zoo.base import GenerativeModel, check_resolution, to_uint8
from zoo.errors import InputError


class SPADE(nn.Module):
    """Parameter-free BatchNorm, then a per-pixel scale and shift predicted from the layout maps."""

    def __init__(self, channels: int, layout_channels: int, hidden: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(layout_channels, hidden, 3, 1, 1), nn.ReLU(True))
        self.gamma_beta = nn.Conv2d(hidden, 2 * channels, 3, 1, 1)

    def forward(self, x: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
        layout = F.interpolate(layout, size=x.shape[-2:], mode="nearest")
        gamma, beta = self.gamma_beta(self.shared(layout)).chunk(2, 1)
        return self.norm(x) * (1 + gamma) + beta


class SPADEBlock(nn.Module):
    """SPADE -> LeakyReLU -> 3x3 conv, with a 1x1 shortcut (residual)."""

    def __init__(self, cin: int, cout: int, layout_channels: int, hidden: int) -> None:
        super().__init__()
        self.spade = SPADE(cin, layout_channels, hidden)
        self.conv = nn.Conv2d(cin, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.conv(F.leaky_relu(self.spade(x, layout), 0.2))


def widths(resolution: int, base: int) -> list[int]:
    """Channels per level from 4x4 up to the output size: base * min(8, resolution / size)."""
    return [base * min(8, resolution // (4 * 2**i)) for i in range(resolution.bit_length() - 2)]


@register_arch("spade")
class SPADEGenerator(GenerativeModel):
    """(noise, class, lesion mask) -> image; `generate` returns (images, masks)."""

    task = "synthesis"
    resolutions = (64, 128, 256)
    returns_masks = True

    def __init__(self, channels: int = 1, resolution: int = 128, num_classes: int = 0, z_dim: int = 64, base: int = 16,
                 bank_size: int = 0) -> None:
        super().__init__(channels, resolution, num_classes)
        check_resolution(self)
        self.z_dim, self.base, self.bank_size = z_dim, base, bank_size
        self.noise_shape = (self.z_dim,)
        w = widths(self.resolution, self.base)
        layout = 1 + max(self.num_classes, 1)
        self.fc = nn.Linear(self.z_dim, w[0] * 16)
        self.blocks = nn.ModuleList(SPADEBlock(w[max(i - 1, 0)], w[i], layout, 2 * self.base) for i in range(len(w)))
        self.to_img = nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(w[-1], self.channels, 3, 1, 1), nn.Tanh())
        # the mask bank: training masks (bit-packed) and their classes, so new layouts need no mask from the user
        self.register_buffer("bank_bits", torch.zeros(self.bank_size, self.resolution * self.resolution // 8, dtype=torch.uint8))
        self.register_buffer("bank_labels", torch.zeros(self.bank_size, dtype=torch.long))

    def layout(self, masks: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Layout maps: the mask in {-1, 1} and one constant map per class."""
        k = max(self.num_classes, 1)
        onehot = torch.zeros(len(masks), k, device=masks.device)
        if labels is not None:
            onehot[torch.arange(len(masks)), labels] = 1
        return torch.cat([masks.float() * 2 - 1, onehot[:, :, None, None].expand(-1, -1, *masks.shape[-2:])], 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None, masks: torch.Tensor) -> torch.Tensor:
        layout = self.layout(masks, labels)
        x = self.fc(z).view(len(z), -1, 4, 4)
        for i, block in enumerate(self.blocks):
            if i:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = block(x, layout)
        return self.to_img(x)

    def set_bank(self, masks: torch.Tensor, labels: torch.Tensor) -> None:
        """Store training masks (N, 1, R, R) in {0, 1} and their labels as the bank `generate` samples layouts from."""
        bits = torch.from_numpy(__import__("numpy").packbits(masks.reshape(len(masks), -1).cpu().numpy().astype("uint8") > 0, axis=1))
        self.bank_bits = bits.to(self.bank_bits.device)
        self.bank_labels = labels.to(self.bank_labels.device).long()
        self.bank_size = len(masks)
        self.config = {**self.config, "arch_kwargs": {**self.config["arch_kwargs"], "bank_size": self.bank_size}}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        """A checkpoint's bank may hold more masks than the empty bank of a freshly built trainer: take its size."""
        bits = state_dict.get(prefix + "bank_bits")
        if bits is not None and bits.shape != self.bank_bits.shape:
            self.bank_bits = torch.empty_like(bits, device=self.bank_bits.device)
            self.bank_labels = torch.empty(len(bits), dtype=torch.long, device=self.bank_labels.device)
            self.bank_size = len(bits)
            self.config = {**self.config, "arch_kwargs": {**self.config["arch_kwargs"], "bank_size": self.bank_size}}
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def bank_masks(self, idx: torch.Tensor) -> torch.Tensor:
        import numpy as np

        bits = np.unpackbits(self.bank_bits[idx].cpu().numpy(), axis=1)
        return torch.from_numpy(bits).view(len(idx), 1, self.resolution, self.resolution).float()

    def sample_masks(self, labels: torch.Tensor, seed: int | None, start: int = 0) -> torch.Tensor:
        """A new mask per label: a bank mask of that class, flipped and moved (rotation +-15 deg, scale 0.9-1.1,
        shift +-8%); sample i depends only on (seed, i)."""
        if self.bank_size == 0:
            raise InputError("this model has no mask bank: pass masks=")
        out = torch.zeros(len(labels), 1, self.resolution, self.resolution)
        g = torch.Generator()
        for k, y in enumerate(labels.tolist()):
            g.manual_seed(((seed if seed is not None else torch.seed()) * 1_000_003 + start + k + 7) % (2**63))
            pool = torch.nonzero(self.bank_labels.cpu() == y).reshape(-1) if self.num_classes else torch.arange(self.bank_size)
            if len(pool) == 0:
                pool = torch.arange(self.bank_size)
            m = self.bank_masks(pool[torch.randint(len(pool), (1,), generator=g)])
            u = torch.rand(5, generator=g)
            if u[0] < 0.5:
                m = m.flip(-1)
            angle, scale = (u[1] * 30 - 15) * math.pi / 180, 0.9 + 0.2 * u[2]
            theta = torch.tensor([[math.cos(angle) / scale, -math.sin(angle) / scale, float(u[3] * 0.16 - 0.08)],
                                  [math.sin(angle) / scale, math.cos(angle) / scale, float(u[4] * 0.16 - 0.08)]])
            grid = F.affine_grid(theta[None], list(m.shape), align_corners=False)
            out[k] = (F.grid_sample(m, grid, mode="nearest", align_corners=False) > 0.5).float()[0]
        return out

    def sample(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Images from noise with bank-sampled masks (the images only: generate() also returns the masks)."""
        y = labels if labels is not None else torch.zeros(len(z), dtype=torch.long)
        return self(z, labels, self.sample_masks(y.cpu(), None).to(z.device))

    def iter_pairs(self, n: int, labels: int | Sequence[int] | torch.Tensor | None = None, seed: int | None = None,
                   batch_size: int = 64, masks: torch.Tensor | None = None
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        """Yield (uint8 images, uint8 {0, 1} masks, labels) batches: from the given masks, or new bank masks."""
        if int(n) <= 0:
            raise InputError(f"n must be a positive number of images, got {n}")
        y_all = self.check_labels(n, labels)
        if masks is not None:
            masks = torch.as_tensor(masks)
            if masks.shape != (n, 1, self.resolution, self.resolution):
                raise InputError(f"masks must have shape ({n}, 1, {self.resolution}, {self.resolution}), got {tuple(masks.shape)}")
            masks = (masks > 0).float()
        model = self.inference_module() if not self.training else self
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                m = min(batch_size, n - start)
                y = None if y_all is None else y_all[start : start + m]
                mk = masks[start : start + m] if masks is not None else self.sample_masks(
                    y if y is not None else torch.zeros(m, dtype=torch.long), seed, start)
                z = self.noise(m, seed, start).to(self.device)
                x = torch.cat([model(z[i : i + 16], None if y is None else y[i : i + 16].to(self.device), mk[i : i + 16].to(self.device))
                               for i in range(0, m, 16)])
                yield to_uint8(x).cpu(), mk.to(torch.uint8).cpu(), y

    def iter_generate(self, n: int, labels: int | Sequence[int] | torch.Tensor | None = None, seed: int | None = None,
                      batch_size: int = 64) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """(images, labels) batches, as every synthesis model yields; iter_pairs also yields the masks."""
        for images, _, y in self.iter_pairs(n, labels, seed, batch_size):
            yield images, y

    def generate(self, n: int, labels: int | Sequence[int] | torch.Tensor | None = None, seed: int | None = None,
                 batch_size: int = 64, masks: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 images (N, C, R, R), uint8 masks (N, 1, R, R) in {0, 1}): from the given masks, or new bank masks;
        the same seed gives the same pairs."""
        pairs = list(self.iter_pairs(n, labels, seed, batch_size, masks))
        return torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs])
