"""One save/load pair for model folders in Hugging Face Hub layout: config.json + model.safetensors (fp16) + README.md.

`save_folder` writes the three files into a temporary sibling folder, checks it loads, then swaps it in, so a reader
never sees a half-written model; `load_folder` verifies the safetensors header and every tensor before use (never
unpickles anything).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from zoo.archs import get_arch
from zoo.base import GenerativeModel
from zoo.hub import IntegrityError, check_safetensors
from zoo.registry import MODEL_FILES


def _check_state(model: torch.nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    """Refuse weights whose names, shapes or dtypes do not fit the module the config describes."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    if missing or extra:
        raise IntegrityError(f"{where}: weights do not fit {getattr(model, 'arch_name', type(model).__name__)}: "
                             f"missing {missing[:3]}, unexpected {extra[:3]}")
    for k, t in state.items():
        e = expected[k]
        if t.shape != e.shape:
            raise IntegrityError(f"{where}: tensor {k} has shape {tuple(t.shape)}, the config's model needs {tuple(e.shape)}")
        if t.is_floating_point() != e.is_floating_point():
            raise IntegrityError(f"{where}: tensor {k} has dtype {t.dtype}, the model needs {e.dtype}")


def load_folder(folder: str | os.PathLike, device: str | torch.device = "cpu") -> GenerativeModel:
    """Build a model from a Hub-layout folder (config.json + model.safetensors); safetensors only, never pickle."""
    from safetensors.torch import load_file

    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    weights = folder / "model.safetensors"
    check_safetensors(weights)
    model = get_arch(config["arch"]).from_config(config)
    state = model.upgrade_state(load_file(str(weights))) if hasattr(model, "upgrade_state") else load_file(str(weights))
    _check_state(model, state, weights)
    model.load_state_dict(state, strict=True)
    return model.eval().to(device)


def fp16_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as stored: floating tensors in float16, contiguous, on the CPU, not sharing memory."""
    return {k: (v.detach().half() if v.is_floating_point() else v.detach()).cpu().contiguous().clone()
            for k, v in model.state_dict().items()}


def save_folder(model: GenerativeModel, folder: str | os.PathLike, card: str, config: dict[str, Any] | None = None,
                extra_files: dict[str, bytes] | None = None) -> Path:
    """Write `model` as config.json (`config`, default model.config) + fp16 model.safetensors + README.md (`card`)
    into `folder`, atomically, and check it loads back; returns the folder. `extra_files` (relative path -> bytes)
    and plain files already in the folder (e.g. samples.png) are kept.

    An OSError (read-only or full disk) leaves any previous folder as it was.
    """
    from safetensors.torch import save_file

    folder = Path(folder)
    config = dict(config if config is not None else model.config)
    config.setdefault("arch", model.arch_name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save_file(fp16_state(model), str(tmp / "model.safetensors"), metadata={"format": "pt", "model_id": str(config.get("model_id", ""))})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(card, encoding="utf-8")
        keep = {n: (folder / n).read_bytes() for n in os.listdir(folder)
                if n not in MODEL_FILES and (folder / n).is_file()} if folder.is_dir() else {}
        for name, data in {**keep, **(extra_files or {})}.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
        for p in tmp.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        tmp.chmod(0o755)
        load_folder(tmp)
        old = folder.with_name(f".{folder.name}.old")
        if folder.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
