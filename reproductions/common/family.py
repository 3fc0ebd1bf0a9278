"""The interface a family implements for the shared loop: modules, optimizers, one step, and its exports."""
from __future__ import annotations

import contextlib
import importlib
from pathlib import Path
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from reproductions import FAMILIES
from reproductions.common.data import DatasetInfo
from zoo.archs import get_arch
from zoo.base import GenerativeModel, from_uint8

TASKS = ("unconditional-synthesis", "conditional-synthesis", "mask-conditional-synthesis", "image-translation", "super-resolution")


def load_family(name: str) -> ModuleType:
    """The reproductions.<name> package; an error listing the valid families otherwise."""
    if name not in FAMILIES:
        raise ValueError(f"unknown family {name!r}; valid families: {', '.join(FAMILIES)}")
    return importlib.import_module(f"reproductions.{name}")


@dataclass
class Export:
    """One model a trained run publishes: the inference module plus what its card and config say."""

    suffix: str
    task: str
    model: GenerativeModel
    summary: str
    extra: dict[str, Any] = field(default_factory=dict)


class Trainer:
    """Training state of one family: `modules` and `optimizers` are checkpointed; `step` trains on one batch."""

    def __init__(self, cfg: dict[str, Any], info: DatasetInfo, device: torch.device) -> None:
        self.cfg = cfg
        self.info = info
        self.device = device
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.total_steps = 1

    def build_generator(self, arch: str, arch_kwargs: dict[str, Any], num_classes: int = 0) -> GenerativeModel:
        """The registered inference module `arch`, built from the same config dict an exported folder holds."""
        config = {
            "arch": arch,
            "arch_kwargs": arch_kwargs,
            "channels": self.info.channels,
            "resolution": self.info.resolution,
            "num_classes": num_classes,
        }
        return get_arch(arch).from_config(config).to(self.device)

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast of the forward passes when the run's config sets `bf16` (weights and optimizer stay float32);
        float32 otherwise. On a CPU with AMX a 128 px step runs several times faster (bench/ddpm_diffusers.py)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bool(self.cfg.get("bf16")))

    def prepare(self, images: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Training tensors, all of the same length N, that the loop indexes into batches."""
        return {"x": from_uint8(images), "y": labels}

    def init_from(self, folder: Path) -> None:
        """Start from an exported model's weights (fine-tuning): each export's module is loaded from the folder whose
        config names the same architecture; a folder of another architecture or shape is refused."""
        from zoo.api import load_folder

        source = load_folder(folder)
        targets = [e.model for e in self.exports() if e.model.arch_name == source.arch_name]
        if not targets:
            raise ValueError(f"{folder} holds a {source.arch_name!r} model; this family trains "
                             f"{sorted({e.model.arch_name for e in self.exports()})}")
        state = {k: v.float() for k, v in source.state_dict().items()}
        for target in targets:
            mismatch = [k for k, v in target.state_dict().items() if k not in state or state[k].shape != v.shape]
            if mismatch:
                raise ValueError(f"{folder}: weights do not fit this run's model (e.g. {mismatch[0]}): "
                                 "use the same resolution, channels and classes as the model")
            target.load_state_dict(state)

    def step(self, batch: dict[str, torch.Tensor], gen: torch.Generator, step: int) -> dict[str, float]:
        """Train on one batch with randomness from `gen` only; return losses for the log."""
        raise NotImplementedError

    def exports(self) -> list[Export]:
        """The models this run publishes."""
        raise NotImplementedError


def reduce_grads(*modules: nn.Module) -> None:
    """Average gradients over processes (what DistributedDataParallel does in backward), when distributed."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    world = dist.get_world_size()
    grads = [p.grad for m in modules for p in m.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n


def broadcast_modules(*modules: nn.Module) -> None:
    """Give every process rank 0's parameters and buffers (as DistributedDataParallel does at wrap time)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    for m in modules:
        for t in list(m.parameters()) + list(m.buffers()):
            dist.broadcast(t.data, src=0)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float, step: int | None = None) -> None:
    """Exponential moving average of parameters; buffers (BatchNorm statistics) are copied. With `step`, the decay
    warms up as min(decay, (1 + step) / (10 + step)), so an early export is not mostly the random initialisation."""
    if step is not None:
        decay = min(decay, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def requires_grad(module: nn.Module, flag: bool) -> None:
    """Freeze or unfreeze a module's parameters."""
    for p in module.parameters():
        p.requires_grad_(flag)
