"""Load a registered model in one line: resolve and verify its files, rebuild the module, load safetensors weights."""
from __future__ import annotations

import torch

from zoo.base import GenerativeModel
from zoo.folder import load_folder
from zoo.hub import resolve
from zoo.registry import get


def load(model_id: str, revision: str | None = None, device: str | torch.device = "cpu") -> GenerativeModel:
    """A pretrained zoo model as an nn.Module with generate()/translate(): bundled, cached or downloaded, verified.

    >>> model = load("dcgan.pneumoniamnist_28"); images = model.generate(16, seed=0)
    """
    entry = get(model_id)
    return load_folder(resolve(entry, revision), device)


def info(model_id: str) -> str:
    """The model card (README.md) of a registered model."""
    entry = get(model_id)
    return (resolve(entry) / "README.md").read_text(encoding="utf-8")
