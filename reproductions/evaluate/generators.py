"""Generators trained on exactly a classifier's training subset, with a fixed step budget per resolution.

The utility study's fair arms use generators that saw only the images the classifier sees. `subset_generator`
trains a family on given images of the train split (the family's own Trainer and step, the shared loop's rules for
seeding: data order a function of (seed, position), each step's noise of (seed, step)), checkpoints every
CHECKPOINT_STEPS so that an interrupted run resumes exactly, and exports a Hub-layout model folder (config.json,
fp16 model.safetensors, README.md) whose facts name the subset's sha256. A finished folder is reused.

Step budgets (STEPS, per resolution and family) are fixed whatever the subset's size: batches are drawn from
repeated seeded permutations of the subset, so a 5-image subset is seen many times per step budget.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch

from reproductions.common.checkpoint import load_checkpoint, read_pointer, restore_state, save_checkpoint, state_tensors
from reproductions.common.data import dataset_info
from reproductions.common.family import load_family
from reproductions.common.train import environment, epoch_order, run_config, step_seed
from reproductions.evaluate.results import command_line
from reproductions.evaluate.spaces import work_dir
from reproductions.evaluate.subsets import subset_sha256

# optimizer steps per generator, by resolution and family (batch sizes are the families' defaults)
STEPS: dict[int, dict[str, int]] = {28: {"acgan": 800, "diffaugment": 400, "cyclegan": 600},
                                     128: {"spade": 1766}}  # 128 px: the steps of the bundled spade.busi_128
CHECKPOINT_STEPS = 200


@dataclass(frozen=True)
class Generator:
    """A trained subset generator: its folder, id, the sha256 of its training indices and of its weights."""

    folder: Path
    model_id: str
    subset_sha256: str
    sha256: str
    steps: int
    seconds: float
    hardware: str
    commit: str

    def load(self, device: str = "cpu") -> Any:
        from zoo.folder import load_folder

        return load_folder(self.folder, device)

    def facts(self) -> dict[str, Any]:
        return {"generator_id": self.model_id, "generator_subset_sha256": self.subset_sha256, "generator_sha256": self.sha256,
                "generator_steps": self.steps, "generator_seconds": self.seconds, "generator_hardware": self.hardware}


def bundled_generator(model_id: str, train: dict[str, Any], device: str = "cpu") -> dict[str, Any]:
    """A bundled model and its row facts, when it was trained on this very train split (else ValueError): the 100%
    arms of the 128 px utility studies, whose subset is the whole split."""
    from zoo.folder import load_folder
    from zoo.registry import get, pretrained_dir

    model = load_folder(pretrained_dir() / model_id, device)
    trained_on = model.config.get("training", {}).get("split_sha256")
    if trained_on != train.get("split_sha256"):
        raise ValueError(f"{model_id} was trained on split {trained_on}, not the current train split {train.get('split_sha256')}")
    return {"model": model, "generator_id": model_id, "generator_subset_sha256": subset_sha256(range(len(train["images"]))),
            "generator_sha256": get(model_id).files["model.safetensors"], "generator_steps": model.config["training"]["steps"]}


def budget(family: str, resolution: int) -> int:
    """The stated step budget of a family at a resolution; ValueError when none is stated."""
    try:
        return STEPS[resolution][family]
    except KeyError:
        raise ValueError(f"no step budget for {family} at {resolution} px; STEPS has {STEPS}") from None


def batch_indices(seed: int, step: int, n: int, batch: int) -> torch.Tensor:
    """Indices of one step's batch: positions step*batch ... of the concatenated seeded permutations of n."""
    pos = torch.arange(step * batch, (step + 1) * batch)
    epochs = pos // n
    out = torch.empty(batch, dtype=torch.long)
    for e in epochs.unique().tolist():
        sel = epochs == e
        out[sel] = epoch_order(seed, int(e), n)[pos[sel] % n]
    return out


def _model_id(family: str, dataset: str, resolution: int, tag: str) -> str:
    from zoo.registry import check_model_id

    return check_model_id(f"{family}.{dataset}_{resolution}_{tag}".lower())


def folder(family: str, dataset: str, subset_sha: str, seed: int, steps: int, tag: str = "", root: Optional[Path] = None) -> Path:
    """Where a subset generator's run and model live: <root>/<dataset>/<family>[-<tag>]-<sha[:16]>-s<seed>-<steps>."""
    name = f"{family}{('-' + tag) if tag else ''}-{subset_sha[:16]}-s{seed}-{steps}"
    return (root or work_dir() / "generators") / dataset / name


def cached(base: Path) -> Optional[Generator]:
    """The finished generator in `base` (a `folder`), or None when it has not finished training there."""
    model_dir, facts_path = base / "model", base / "facts.json"
    if not (facts_path.is_file() and (model_dir / "model.safetensors").is_file()):
        return None
    return Generator(folder=model_dir, **{k: v for k, v in json.loads(facts_path.read_text()).items() if k != "folder"})


def subset_generator(family: str, dataset: str, images: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor,
                     seed: int, tag: str = "", steps: Optional[int] = None, device: str = "cpu",
                     overrides: Optional[dict[str, Any]] = None, root: Optional[Path] = None, export_index: int = 0,
                     resolution: Optional[int] = None, masks: Optional[torch.Tensor] = None) -> Generator:
    """Train (or reuse) `family` on images[indices] (and masks[indices], for mask models) of the train split at
    `resolution` (the dataset's own by default); return the exported generator's facts.

    `tag` distinguishes models trained on the same indices (e.g. the class of a per-class generator); `export_index`
    picks which of the family's exports is used (CycleGAN exports A->B first).
    """
    info = dataset_info(dataset, resolution)
    steps = int(steps or budget(family, info.resolution))
    sha = subset_sha256(indices)
    base = folder(family, dataset, sha, seed, steps, tag, root)
    model_dir, facts_path = base / "model", base / "facts.json"
    done = cached(base)
    if done is not None:
        return done

    cfg = run_config(family, dataset, seed, None, 1, 0, overrides, info.resolution)
    cfg.update({"steps": steps, "subset_sha256": sha, "tag": tag})
    dev = torch.device(device)
    fam = load_family(family)
    torch.manual_seed(seed)
    trainer = fam.Trainer(cfg, info, dev)
    trainer.total_steps = steps
    parts = (images[indices], labels[indices]) + ((masks[indices],) if masks is not None else ())
    data = {k: v.to(dev) for k, v in trainer.prepare(*parts).items()}
    n = len(next(iter(data.values())))
    batch = int(cfg["batch_size"])
    run_dir = base / "run"
    start, seconds = 0, 0.0
    if read_pointer(run_dir) is not None:
        tensors, meta = load_checkpoint(run_dir)
        if meta["config"] != cfg:
            raise ValueError(f"{run_dir} holds a checkpoint of another configuration; remove it to retrain")
        restore_state(trainer.modules, trainer.optimizers, tensors, meta)
        start, seconds = int(meta["step"]), float(meta["seconds"])
    env = environment(device, 1)

    def meta_at(step: int) -> dict[str, Any]:
        return {"step": step, "epoch": step * batch / n, "seconds": seconds, "config": cfg, "n_train": int(len(indices)),
                "done": step >= steps, "command": command_line(), "env": env,
                "data": {"description": f"{info.description}, {len(indices)} images of the train split",
                         "split_method": f"subset sha256 {sha} (reproductions.evaluate.subsets)", "split_sha256": sha}}

    for step in range(start, steps):
        t0 = time.monotonic()
        idx = batch_indices(seed, step, n, batch).to(dev)
        gen = torch.Generator(dev).manual_seed(step_seed(seed, step, 0))
        trainer.step({k: v[idx] for k, v in data.items()}, gen, step)
        seconds += time.monotonic() - t0
        if (step + 1) % CHECKPOINT_STEPS == 0 and step + 1 < steps:
            t, extra = state_tensors(trainer.modules, trainer.optimizers)
            save_checkpoint(run_dir, t, {**meta_at(step + 1), **extra})

    from reproductions.common.export import model_card, model_config
    from zoo.folder import save_folder
    from zoo.registry import sha256_file

    export = trainer.exports()[export_index]
    export.model.eval()
    model_id = _model_id(family, dataset, info.resolution, f"{tag + '_' if tag else ''}{sha[:10]}_s{seed}")
    config = model_config(export, model_id, meta_at(steps), list(fam.PAPERS))
    save_folder(export.model, model_dir, model_card(config), config)
    g = Generator(folder=model_dir, model_id=model_id, subset_sha256=sha, sha256=sha256_file(model_dir / "model.safetensors"),
                  steps=steps, seconds=round(seconds, 1), hardware=env["hardware"], commit=env["git_commit"])
    facts_path.write_text(json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in g.__dict__.items()}, indent=1))
    return g
