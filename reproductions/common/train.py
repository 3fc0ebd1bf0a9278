"""The one training loop of every family: seeded, checkpointed, exactly resumable, optionally distributed.

Randomness is a pure function of (seed, epoch) for data order and of (seed, step, rank) for each step's
noise, and the checkpoint holds all module and optimizer state, so resuming from any checkpoint ends
with the same weights as a run that was never interrupted. Under torchrun each process trains on its
own slice of every global batch and gradients are averaged across processes before each update.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from reproductions.common.checkpoint import CheckpointError, load_checkpoint, read_pointer, restore_state, save_checkpoint, state_tensors
from reproductions.common.data import dataset_info, load_data
from reproductions.common.family import broadcast_modules, load_family
from zoo.malloc import keep_freed_memory

LOG = "log.jsonl"


def run_config(
    family: str, dataset: str, seed: int, epochs: int | None, world_size: int, limit: int, overrides: dict[str, Any] | None,
    resolution: int = 28, init_from: str = "",
) -> dict[str, Any]:
    """The full configuration of a run: the family's defaults, then `epochs` and `overrides`."""
    fam = load_family(family)
    defaults = fam.Config()
    fields = {f.name for f in dataclasses.fields(defaults)}
    changes = dict(overrides or {})
    if epochs is not None:
        changes["epochs"] = int(epochs)
    unknown = set(changes) - fields
    if unknown:
        raise ValueError(f"unknown {family} config keys {sorted(unknown)}; known: {', '.join(sorted(fields))}")
    cfg = json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(defaults, **changes))))
    run = {"family": family, "dataset": dataset, "seed": int(seed), "world_size": world_size, "limit": int(limit), **cfg}
    if resolution != 28:
        run["resolution"] = int(resolution)
    if init_from:
        run["init_from"] = init_from
    return run


def step_seed(seed: int, step: int, rank: int) -> int:
    """Seed of the generator that supplies one step's noise on one process."""
    return (seed * 1_000_003 + step * 7919 + rank * 104_729 + 1) % (2**63)


def epoch_order(seed: int, epoch: int, n: int) -> torch.Tensor:
    """The data order of one epoch: a permutation that depends only on (seed, epoch)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def _distributed(device: str) -> tuple[int, int]:
    """(rank, world size), initialising the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    if world > 1:
        return dist.get_rank(), world
    return 0, 1


def _config_diff(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    keys = sorted(set(saved) | set(current))
    return [f"{k}: checkpoint {saved.get(k)!r} != now {current.get(k)!r}" for k in keys if saved.get(k) != current.get(k)]


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint that is resumed (they will be written again)."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)


def environment(device: str, world: int) -> dict[str, Any]:
    """Facts about where a run trains: hardware, torch version and the code's git commit ($MEDZOO_GIT_COMMIT overrides
    it); the CPU and commit facts come from reproductions/common/env.py, as the benchmarks' do."""
    from reproductions.common.env import CODE_PATHS, cpu_model, git_commit

    if device.startswith("cuda") and torch.cuda.is_available():
        hw = f"{world} x {torch.cuda.get_device_name(0)}"
    else:
        hw = f"{world} process(es) x {torch.get_num_threads()} CPU thread(s), {cpu_model()}"
    return {"hardware": hw, "torch": torch.__version__, "git_commit": git_commit(CODE_PATHS, untracked=True)}


class ContinueClock:
    """When the process was last continued after SIGSTOP (SIGCONT), so that a step spanning a stop is not counted as
    training time: `seconds` is the time spent training, not the time a paused job sat stopped."""

    def __init__(self) -> None:
        self.continued_at = 0.0
        self._previous = None
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGCONT, self._on_continue)

    def _on_continue(self, signum: int, frame: Any) -> None:
        self.continued_at = time.monotonic()

    def step_seconds(self, t0: float) -> float:
        """Seconds of a step begun at t0: from the continue when one came during it (the part before the stop, at most
        one step, is not counted), else the whole step."""
        now = time.monotonic()
        return now - self.continued_at if self.continued_at > t0 else now - t0

    def close(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGCONT, self._previous)


def _params_checksum(modules: dict[str, torch.nn.Module]) -> float:
    return float(sum(p.double().sum() for m in modules.values() for p in m.parameters()))


def train(
    family: str,
    dataset: str,
    out: str | os.PathLike,
    *,
    epochs: int | None = None,
    seed: int = 0,
    resume: bool = False,
    data_dir: str | os.PathLike | None = None,
    device: str = "cpu",
    checkpoint_minutes: float = 10.0,
    checkpoint_steps: int = 0,
    limit: int = 0,
    overrides: dict[str, Any] | None = None,
    log_every: int = 25,
    command: str | None = None,
    resolution: int | None = None,
    init_from: str | os.PathLike | None = None,
) -> Path:
    """Train `family` on the train split of `dataset` (a catalog slug or a folder path) into run folder `out`.

    `init_from` is a model folder (config.json + model.safetensors) whose generator weights start the run (fine-tuning).
    """
    run_dir = Path(out)
    rank, world = _distributed(device)
    info = dataset_info(dataset, resolution)
    cfg = run_config(family, info.path or dataset, seed, epochs, world, limit, overrides, info.resolution,
                     str(init_from or ""))
    dev = torch.device(device)
    if dev.type == "cpu":
        torch.use_deterministic_algorithms(True)
        # deterministic kernels, without NaN-filling every new tensor (a debugging aid: 7-18% of a 128 px step, same
        # weights bit for bit; bench/training_128.py), and with freed activations kept (zoo/malloc.py)
        torch.utils.deterministic.fill_uninitialized_memory = False
        keep_freed_memory()

    saved = None
    if resume:
        tensors, saved = load_checkpoint(run_dir)
        diff = _config_diff(saved["config"], cfg)
        if diff:
            raise CheckpointError(f"checkpoint in {run_dir} belongs to a different run; refusing to resume: " + "; ".join(diff))
        if saved.get("done"):
            return run_dir
    elif rank == 0 and read_pointer_safe(run_dir) is not None:
        raise CheckpointError(f"{run_dir} already holds a checkpoint: pass --resume to continue it, or choose another --out")

    split = load_data(info, "train", data_dir)
    images, labels, masks = split["images"], split["labels"], split.get("masks")
    if limit:  # a random subset (seed 0), so that every class of a class-sorted split can appear
        keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:limit].sort().values
        images, labels = images[keep], labels[keep]
        masks = None if masks is None else masks[keep]
    fam = load_family(family)
    torch.manual_seed(seed)
    trainer = fam.Trainer(cfg, info, dev)
    if init_from and saved is None:
        trainer.init_from(Path(init_from))
    data = {k: v.to(dev) for k, v in trainer.prepare(images, labels, masks).items()}
    n = len(next(iter(data.values())))
    batch = int(cfg["batch_size"])
    steps_per_epoch = n // (batch * world)
    if steps_per_epoch < 1:
        raise ValueError(f"{n} training images are fewer than one global batch of {batch} x {world} processes")
    total = steps_per_epoch * int(cfg["epochs"])
    trainer.total_steps = total
    cfg_facts = {"n_train": len(images), "rows_per_epoch": n, "steps_per_epoch": steps_per_epoch, "total_steps": total,
                 "data": {"name": info.name, "description": info.description, "license": info.license,
                          "resolution": info.resolution, "split_sha256": split.get("split_sha256", ""),
                          "split_method": split.get("split_method", "official MedMNIST v2 train split")}}

    start, seconds = 0, 0.0
    if saved is not None:
        restore_state(trainer.modules, trainer.optimizers, tensors, saved)
        start, seconds = int(saved["step"]), float(saved["seconds"])
        del tensors
    else:
        broadcast_modules(*trainer.modules.values())
    if command is None:
        prog = Path(sys.argv[0]).name
        command = shlex.join([*(["python", "-m", "reproductions.cli"] if prog == "cli.py" else [prog]), *sys.argv[1:]])
    env = environment(device, world)

    def checkpoint(step: int) -> None:
        tensors_now, extra = state_tensors(trainer.modules, trainer.optimizers)
        meta = {
            "step": step, "epoch": step / steps_per_epoch, "seconds": seconds, "config": cfg, **cfg_facts,
            "done": step >= total, "command": saved["command"] if saved else command, "env": env, **extra,
        }
        save_checkpoint(run_dir, tensors_now, meta)

    if rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        if saved is not None:
            _truncate_log(run_dir / LOG, start)
    log = open(run_dir / LOG, "a" if saved is not None else "w") if rank == 0 else None
    bar = tqdm(total=total, initial=start, desc=f"{family}/{dataset}", disable=rank != 0, mininterval=1 if sys.stderr.isatty() else 60)
    last_ckpt = time.monotonic()
    window_t, window_imgs = time.monotonic(), 0
    clock = ContinueClock()
    order, order_epoch = None, -1
    for step in range(start, total):
        t0 = time.monotonic()
        epoch, i = divmod(step, steps_per_epoch)
        if epoch != order_epoch:
            order, order_epoch = epoch_order(seed, epoch, n), epoch
        lo = (i * world + rank) * batch
        idx = order[lo : lo + batch].to(dev)
        gen = torch.Generator(dev).manual_seed(step_seed(seed, step, rank))
        losses = trainer.step({k: v[idx] for k, v in data.items()}, gen, step)
        seconds += clock.step_seconds(t0)
        window_imgs += batch * world
        bar.update(1)
        if log is not None and ((step + 1) % log_every == 0 or step + 1 == total):
            now = time.monotonic()
            record = {"step": step + 1, "epoch": round((step + 1) / steps_per_epoch, 4), **{k: round(float(v), 5) for k, v in losses.items()},
                      "images_per_s": round(window_imgs / max(now - window_t, 1e-9), 2), "seconds": round(seconds, 2)}
            log.write(json.dumps(record) + "\n")
            log.flush()
            bar.set_postfix({k: f"{float(v):.3f}" for k, v in losses.items()})
            window_t, window_imgs = now, 0
        due = (checkpoint_steps and (step + 1) % checkpoint_steps == 0) or time.monotonic() - last_ckpt >= checkpoint_minutes * 60
        if rank == 0 and due and step + 1 < total:
            checkpoint(step + 1)
            last_ckpt = time.monotonic()
    bar.close()
    clock.close()
    if world > 1:
        sums = [torch.zeros(1, dtype=torch.float64, device=dev) for _ in range(world)]
        dist.all_gather(sums, torch.tensor([_params_checksum(trainer.modules)], dtype=torch.float64, device=dev))
        if len({float(s) for s in sums}) != 1:
            raise RuntimeError(f"processes ended with different weights: {[float(s) for s in sums]}")
    if rank == 0:
        checkpoint(total)
        log.write(json.dumps({"step": total, "done": True, "seconds": round(seconds, 2), "world_size": world}) + "\n")
        log.close()
    if world > 1:
        dist.barrier()
    return run_dir


def read_pointer_safe(run_dir: Path) -> dict[str, Any] | None:
    """checkpoint.json of a run folder, treating an unreadable pointer as present."""
    try:
        return read_pointer(run_dir)
    except CheckpointError:
        return {}
