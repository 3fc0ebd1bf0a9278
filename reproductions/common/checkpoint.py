"""Pickle-free training checkpoints: safetensors for tensors, a JSON pointer for everything else.

A checkpoint is `checkpoints/step-<N>.safetensors` plus `checkpoint.json`, which names that file and its
SHA-256. Both are written to a temporary name and moved into place with os.replace, the JSON last, so a
process killed mid-write leaves the previous checkpoint as the one that is resumed.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from zoo.registry import sha256_file

FORMAT = "medzoo-checkpoint/1"
POINTER = "checkpoint.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt, or does not belong to this run."""


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def state_tensors(modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Flatten module and optimizer state into (tensors for safetensors, JSON-able rest)."""
    tensors: dict[str, torch.Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"module/{name}/{key}"] = value.detach().cpu().contiguous().clone()
    optim_json: dict[str, Any] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, entry in sd["state"].items():
            for key, value in entry.items():
                if torch.is_tensor(value):
                    tensors[f"optim/{name}/{idx}/{key}"] = value.detach().cpu().contiguous().clone()
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        optim_json[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    tensors["rng/torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    return tensors, {"optimizers": optim_json}


def restore_state(
    modules: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer], tensors: dict[str, torch.Tensor], extra: dict[str, Any]
) -> None:
    """Load what `state_tensors` flattened back into modules and optimizers; refuse any key mismatch."""
    for name, module in modules.items():
        prefix = f"module/{name}/"
        sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(sd, strict=True)
        except RuntimeError as e:
            raise CheckpointError(f"module {name!r} does not match the checkpoint: {e}") from None
    saved = extra.get("optimizers", {})
    if set(saved) != set(optimizers):
        raise CheckpointError(f"optimizers in checkpoint {sorted(saved)} != this run's {sorted(optimizers)}")
    for name, opt in optimizers.items():
        prefix = f"optim/{name}/"
        state: dict[int, dict[str, Any]] = {}
        for k, v in tensors.items():
            if k.startswith(prefix):
                idx, key = k[len(prefix):].split("/", 1)
                state.setdefault(int(idx), {})[key] = v
        for idx, entry in saved[name]["scalars"].items():
            state.setdefault(int(idx), {}).update(entry)
        try:
            opt.load_state_dict({"state": state, "param_groups": saved[name]["param_groups"]})
        except (ValueError, KeyError) as e:
            raise CheckpointError(f"optimizer {name!r} does not match the checkpoint: {e}") from None
    torch.set_rng_state(tensors["rng/torch"])
    cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng/cuda/")]
    if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)


def save_checkpoint(run_dir: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write tensors + meta as the run's latest checkpoint, atomically; then remove older and half-written files."""
    ckpt_dir = Path(run_dir) / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = ckpt_dir / f"step-{int(meta['step']):09d}.safetensors"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "step": str(meta["step"])})
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)
    pointer = {"format": FORMAT, "file": f"checkpoints/{path.name}", "sha256": sha256_file(path), "written": time.time(), **meta}
    _atomic_write_bytes(Path(run_dir) / POINTER, json.dumps(pointer, indent=1, sort_keys=True).encode())
    for old in ckpt_dir.iterdir():
        if old != path:
            old.unlink()
    return path


def read_pointer(run_dir: Path) -> dict[str, Any] | None:
    """The run's checkpoint.json as a dict, None when there is no checkpoint; CheckpointError when unreadable."""
    p = Path(run_dir) / POINTER
    if not p.exists():
        return None
    try:
        meta = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{p} is not valid JSON ({e}); refusing to resume") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not a {FORMAT} checkpoint pointer; refusing to resume")
    return meta


def load_checkpoint(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, meta) of the run's latest checkpoint after verifying its SHA-256; CheckpointError with the reason."""
    meta = read_pointer(run_dir)
    if meta is None:
        raise CheckpointError(f"no checkpoint in {run_dir} (no {POINTER}); nothing to resume")
    path = Path(run_dir) / meta["file"]
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} named by {POINTER} is missing; refusing to resume")
    digest = sha256_file(path)
    if digest != meta["sha256"]:
        raise CheckpointError(f"checkpoint file {path} is corrupt: sha256 {digest} != {meta['sha256']} in {POINTER}; refusing to resume")
    try:
        tensors = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for malformed headers
        raise CheckpointError(f"checkpoint file {path} cannot be read: {e}") from None
    return tensors, meta
