"""Torch datasets of synthetic images, and of real images mixed with synthetic ones at a chosen ratio."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from zoo.base import GenerativeModel, to_uint8


class SyntheticDataset(Dataset):
    """`n` generated images (uint8, C x H x W) with labels; item i depends only on (seed, i), made in cached chunks."""

    def __init__(self, model: GenerativeModel, n: int, labels: int | Sequence[int] | None = None, seed: int = 0,
                 transform: Callable | None = None, chunk: int = 256) -> None:
        if model.task != "synthesis":
            raise TypeError(f"{model.arch_name} is a translation model; SyntheticDataset needs a generator")
        if n <= 0:
            raise ValueError(f"n must be positive, got {n}")
        self.model, self.n, self.seed, self.transform, self.chunk = model, int(n), int(seed), transform, int(chunk)
        y = model.check_labels(self.n, labels)
        self.labels = y if y is not None else torch.full((self.n,), -1, dtype=torch.long)
        self._cache: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:
        return self.n

    def _images(self, k: int) -> torch.Tensor:
        if self._cache is None or self._cache[0] != k:
            start = k * self.chunk
            m = min(self.chunk, self.n - start)
            y = self.labels[start : start + m] if self.model.num_classes else None
            with torch.inference_mode():
                z = self.model.noise(m, self.seed, start).to(self.model.device)
                x = to_uint8(self.model.sample(z, None if y is None else y.to(self.model.device))).cpu()
            self._cache = (k, x)
        return self._cache[1]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} synthetic images")
        img = self._images(i // self.chunk)[i % self.chunk].clone()
        if self.transform is not None:
            img = self.transform(img)
        return img, int(self.labels[i])


class MixedDataset(Dataset):
    """A real dataset followed by round(ratio * len(real)) synthetic items: ratio is synthetic:real."""

    def __init__(self, real: Dataset, synthetic: Dataset, ratio: float, transform: Callable | None = None) -> None:
        if ratio < 0:
            raise ValueError(f"ratio (synthetic:real) must be >= 0, got {ratio}")
        self.real, self.synthetic, self.transform = real, synthetic, transform
        self.n_real = len(real)
        self.n_syn = round(ratio * self.n_real)
        if self.n_syn > len(synthetic):
            raise ValueError(f"ratio {ratio} needs {self.n_syn} synthetic images but the synthetic dataset has {len(synthetic)}")

    def __len__(self) -> int:
        return self.n_real + self.n_syn

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        img, y = self.real[i] if i < self.n_real else self.synthetic[i - self.n_real]
        if self.transform is not None:
            img = self.transform(img)
        return img, int(y)

    def is_synthetic(self, i: int) -> bool:
        """Whether item i is generated (for per-source weighting or analysis)."""
        return i >= self.n_real
