"""Nested, stratified subsets of a split, and the hash that names them.

One seeded permutation per (split, class, seed); a fraction takes a prefix of each class's permutation, at least
one image per class, so the subsets of one seed are nested (1% inside 5% inside 10% ...). The validation subset
of a cell follows the same rule on the validation split (with its own stream of permutations).

`subset_sha256(indices)` is the sha256 of the sorted indices written as decimal text joined by commas: rows of
the utility study record it for the classifier's training subset (`subset_sha256`) and for the images each
generator was trained on (`generator_subset_sha256`); in a fair arm the two are equal.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Iterator, Sequence

import torch

SALT = {"train": 0, "val": 1}


def class_permutation(labels: torch.Tensor, c: int, seed: int, split: str = "train") -> torch.Tensor:
    """Indices of class c's images of a split, in the seeded order of (split, class, seed)."""
    idx = (labels == c).nonzero().flatten()
    g = torch.Generator().manual_seed(1_000_003 * int(seed) + 7919 * int(c) + 104_729 * SALT.get(split, 2) + 17)
    return idx[torch.randperm(len(idx), generator=g)]


def per_class_count(n_class: int, fraction: float) -> int:
    """Images of a class with n_class images that a fraction keeps: round(fraction * n_class), at least one."""
    return max(1, min(n_class, round(fraction * n_class)))


def nested_subset(labels: torch.Tensor, fraction: float, seed: int, split: str = "train") -> torch.Tensor:
    """Sorted indices of the stratified `fraction` of a split for `seed`: a prefix of each class's permutation."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    picked = []
    for c in labels.unique(sorted=True).tolist():
        perm = class_permutation(labels, int(c), seed, split)
        picked.append(perm[: per_class_count(len(perm), fraction)])
    return torch.cat(picked).sort().values


def subset_sha256(indices: Iterable[int] | torch.Tensor) -> str:
    """sha256 of the sorted indices as decimal text joined by commas (e.g. '0,5,17')."""
    values = indices.tolist() if isinstance(indices, torch.Tensor) else list(indices)
    return hashlib.sha256(",".join(str(int(i)) for i in sorted(values)).encode()).hexdigest()


def pending_groups(done: set[tuple], fractions: Sequence[float], seeds: Sequence[int], arms: Sequence[str],
                   train_labels: torch.Tensor, val_labels: torch.Tensor
                   ) -> Iterator[tuple[float, int, list[str], torch.Tensor, torch.Tensor]]:
    """(fraction, seed, arms not in `done`, train subset, validation subset) of every (fraction, seed) with arms left;
    `done` holds (fraction, seed, arm) keys."""
    for fraction in fractions:
        for seed in seeds:
            todo = [a for a in arms if (fraction, seed, a) not in done]
            if todo:
                yield (fraction, seed, todo, nested_subset(train_labels, fraction, seed),
                       nested_subset(val_labels, fraction, seed, split="val"))
