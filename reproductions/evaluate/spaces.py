"""Embeddings for the study's statistics: raw pixels and zoo feature extractors, with real splits cached on disk.

The memorization check, fidelity at equal n and the feature-space sanity study all compare sets of images by
their embeddings. `embed` maps uint8 images (N, C, R, R) to float64 rows (a feature extractor sees them downsampled
to its own input size, antialiased); the embeddings of real splits are cached under the study's work folder, keyed by
dataset, split, the images' and the extractor's weight sha256.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from reproductions.common.data import REPO_ROOT

PIXELS = "pixels"


def work_dir() -> Path:
    """The study's scratch folder (caches, subset generators, logs): $MEDZOO_STUDY_DIR, else runs/study/ (git-ignored)."""
    return Path(os.environ.get("MEDZOO_STUDY_DIR") or REPO_ROOT / "runs" / "study")


def space_sha256(space: str) -> str:
    """sha256 that identifies an embedding: of the extractor's model.safetensors, or of the word 'pixels'."""
    if space == PIXELS:
        return hashlib.sha256(PIXELS.encode()).hexdigest()
    from reproductions.evaluate.fidelity import feature_model_id
    from zoo.registry import get

    return get(feature_model_id(space)).files["model.safetensors"]


_EXTRACTORS: dict[str, torch.nn.Module] = {}


def _extractor(space: str) -> torch.nn.Module:
    from reproductions.evaluate.fidelity import feature_model_id
    from zoo.api import load

    key = f"{space}|{space_sha256(space)}"
    if key not in _EXTRACTORS:
        _EXTRACTORS[key] = load(feature_model_id(space)).eval()
    return _EXTRACTORS[key]


def downsample(images: torch.Tensor, size: int, mode: str = "bilinear") -> torch.Tensor:
    """uint8 (N, C, R, R) -> uint8 (N, C, size, size), antialiased (the identity at R = size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    small = torch.nn.functional.interpolate(images.float(), size=(size, size), mode=mode, antialias=True, align_corners=False)
    return small.clamp(0, 255).round().to(torch.uint8)


def embed(images: torch.Tensor, space: str) -> np.ndarray:
    """float64 (N, D) embedding of uint8 images: pixels scaled to [0, 1] and flattened, or a zoo extractor's features
    of the images downsampled to its input size."""
    if images.dtype != torch.uint8:
        raise TypeError(f"embed takes uint8 images, got {images.dtype}")
    if space == PIXELS:
        return images.reshape(len(images), -1).double().numpy() / 255.0
    fx = _extractor(space)
    return fx.features(downsample(images, fx.resolution)).double().numpy()


def embed_real(images: torch.Tensor, space: str, dataset: str, split: str, part: str = "") -> np.ndarray:
    """`embed` of a real split (or a named part of one), cached as .npy keyed by the images' and extractor's sha256."""
    digest = hashlib.sha256(images.numpy().tobytes()).hexdigest()[:16]
    path = work_dir() / "cache" / f"{dataset}-{split}{part}-{space}-{space_sha256(space)[:16]}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    out = embed(images, space)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
    np.save(tmp, out)
    os.replace(tmp, path)
    return out


def pairwise_sq(a: np.ndarray, b: np.ndarray, block: int = 2048) -> np.ndarray:
    """Squared Euclidean distances (len(a), len(b)), computed in blocks, clipped at 0."""
    bb = (b * b).sum(1)
    out = np.empty((len(a), len(b)))
    for i in range(0, len(a), block):
        x = a[i : i + block]
        out[i : i + block] = np.maximum((x * x).sum(1)[:, None] + bb[None, :] - 2 * x @ b.T, 0)
    return out


def nearest(a: np.ndarray, b: np.ndarray, exclude_self: bool = False, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index) of each row of `a`'s nearest row of `b`; `exclude_self` when a is b (leave-one-out)."""
    dist, idx = np.empty(len(a)), np.empty(len(a), dtype=np.int64)
    for i in range(0, len(a), block):
        d = pairwise_sq(a[i : i + block], b)
        if exclude_self:
            rows = np.arange(len(d))
            d[rows, i + rows] = np.inf
        j = d.argmin(1)
        idx[i : i + block] = j
        dist[i : i + block] = np.sqrt(d[np.arange(len(d)), j])
    return dist, idx
