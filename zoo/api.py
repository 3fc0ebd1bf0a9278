"""Load a registered model in one line: resolve and verify its files, rebuild the module, load safetensors weights."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from zoo.archs import get_arch
from zoo.base import GenerativeModel
from zoo.hub import IntegrityError, check_safetensors, resolve
from zoo.registry import get


def _check_state(model: GenerativeModel, state: dict[str, torch.Tensor], where: Path) -> None:
    """Refuse weights whose names, shapes or dtypes do not fit the module the config describes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise IntegrityError(f"{where}: weights do not fit {model.arch_name}: missing {missing[:3]}, unexpected {extra[:3]}")
    for k, t in state.items():
        e = expected[k]
        if t.shape != e.shape:
            raise IntegrityError(f"{where}: tensor {k} has shape {tuple(t.shape)}, the config's model needs {tuple(e.shape)}")
        if t.is_floating_point() != e.is_floating_point():
            raise IntegrityError(f"{where}: tensor {k} has dtype {t.dtype}, the model needs {e.dtype}")


def load_folder(folder: str | Path, device: str | torch.device = "cpu") -> GenerativeModel:
    """Build a model from a Hub-layout folder (config.json + model.safetensors); safetensors only, never pickle."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    weights = folder / "model.safetensors"
    check_safetensors(weights)
    model = get_arch(config["arch"])(config)
    state = load_file(str(weights))
    _check_state(model, state, weights)
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)


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
