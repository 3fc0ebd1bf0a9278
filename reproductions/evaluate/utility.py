"""The utility study: a classifier trained on 1-100% of the real train split, without and with (classical, GAN) augmentation.

Each (dataset, fraction, arm, seed) cell is one JSON line in reproductions/results/utility.jsonl, written when the
cell is done; a rerun skips finished cells, and the plan is re-read after every cell, so conditional models that
are registered while the study runs get their GAN arms.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import TensorDataset

from reproductions.common.data import REPO_ROOT, DataError, dataset_info, load_split
from reproductions.common.train import environment
from reproductions.evaluate.classifier import Recipe, predict_proba, scores, train_classifier
from reproductions.evaluate.fidelity import EvaluationError
from reproductions.evaluate.results import RESULTS_DIR, append_jsonl, command_line, now, read_jsonl

FRACTIONS = (0.01, 0.05, 0.10, 0.25, 1.0)
SEEDS = (0, 1, 2)
RATIO = 1.0  # synthetic:real images in the GAN arms
CELLS = RESULTS_DIR / "utility.jsonl"
# MedMNIST v2 (Yang et al. 2023, Table 3), ResNet-18 (28), test split: (AUC, ACC)
PUBLISHED = {"pneumoniamnist": (0.944, 0.854), "breastmnist": (0.901, 0.863), "retinamnist": (0.717, 0.524)}


class StudyLockedError(FileExistsError):
    """Another process is running the study on the same cell file."""


def lock_path(cells: Path, shard: tuple[int, int] = (0, 1)) -> Path:
    """The lock file of a cell file's runner (one per shard), under runs/eval-utility/ (kept out of the committed results)."""
    digest = hashlib.sha256(f"{cells.resolve()}|{shard[0]}/{shard[1]}".encode()).hexdigest()[:16]
    return REPO_ROOT / "runs" / "eval-utility" / f"{digest}.lock"


def cells_path() -> Path:
    """The cell file: $MEDZOO_UTILITY (tests, private runs), else reproductions/results/utility.jsonl."""
    return Path(os.environ.get("MEDZOO_UTILITY") or CELLS)


@dataclass(frozen=True)
class Cell:
    """One classifier training: dataset, share of the real train split, augmentation arm, seed."""

    dataset: str
    fraction: float
    arm: str
    seed: int

    def key(self, recipe_id: str) -> tuple[str, float, str, int, str]:
        return (self.dataset, self.fraction, self.arm, self.seed, recipe_id)

    def shard(self, n: int) -> int:
        """Which of n shards runs this cell: a stable hash, so shards never share a cell even when the plan grows."""
        return int(hashlib.sha256(f"{self.dataset}|{self.fraction}|{self.arm}|{self.seed}".encode()).hexdigest(), 16) % n


def classical_augmentation() -> Callable[[torch.Tensor], torch.Tensor]:
    """Classical augmentation of one uint8 image: horizontal flip, rotation within 10 degrees, brightness/contrast 10%."""
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomHorizontalFlip(), v2.RandomRotation(10), v2.ColorJitter(brightness=0.1, contrast=0.1)])


def gan_models(dataset: str) -> list[str]:
    """Registered class-conditional generators of `dataset` whose files are present (their images come with labels)."""
    from zoo.hub import resolve
    from zoo.registry import entries

    out = []
    for model_id, entry in sorted(entries().items()):
        if entry.task == "conditional-synthesis" and entry.dataset == dataset:
            try:
                resolve(entry)
            except (OSError, ValueError):
                continue
            out.append(model_id)
    return out


def arms(dataset: str) -> list[str]:
    """The arms of a dataset: none, classical, and gan / classical+gan for each available conditional model."""
    models = gan_models(dataset)
    return ["none", "classical", *[f"gan:{m}" for m in models], *[f"classical+gan:{m}" for m in models]]


def plan(datasets: Sequence[str], seeds: Sequence[int] = SEEDS, fractions: Sequence[float] = FRACTIONS) -> list[Cell]:
    """Every cell, seed-major (all of seed 0 first, so means over seeds fill in evenly)."""
    arms_of = {d: arms(d) for d in datasets}
    return [Cell(d, f, a, s) for s in seeds for d in datasets for f in fractions for a in arms_of[d]]


def subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Indices of a stratified random `fraction` of a split: round(fraction * n_c) of each class c, at least one."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    gen = torch.Generator().manual_seed(seed * 7919 + round(fraction * 10_000))
    picked = []
    for c in labels.unique(sorted=True):
        idx = (labels == c).nonzero().flatten()
        k = max(1, round(fraction * len(idx)))
        picked.append(idx[torch.randperm(len(idx), generator=gen)[:k]])
    return torch.cat(picked).sort().values


def synthetic_labels(real_labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n labels with the class proportions of the real subset (its labels repeated, shuffled)."""
    gen = torch.Generator().manual_seed(seed)
    reps = real_labels.repeat(math.ceil(n / len(real_labels)))
    return reps[torch.randperm(len(reps), generator=gen)][:n]


def training_set(cell: Cell, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(images, labels, number of synthetic images) of a cell: the real subset, plus zoo.MixedDataset's synthetic part."""
    if "gan:" not in cell.arm:
        return x, y, 0
    import zoo

    model = zoo.load(cell.arm.split("gan:", 1)[1])
    n_syn = round(RATIO * len(x))
    syn = zoo.SyntheticDataset(model, n_syn, labels=synthetic_labels(y, n_syn, cell.seed), seed=10_000 + cell.seed)
    mixed = zoo.MixedDataset(TensorDataset(x, y), syn, RATIO)
    items = [mixed[i] for i in range(len(mixed))]  # in order: each chunk of synthetic images is generated once
    return torch.stack([img for img, _ in items]), torch.tensor([label for _, label in items]), n_syn


def run_cell(cell: Cell, data: dict[str, tuple[torch.Tensor, torch.Tensor]], recipe: Recipe, device: str = "cpu") -> dict[str, Any]:
    """Train one cell's classifier and score it on the official test split."""
    t0 = time.monotonic()
    train_x, train_y = data["train"]
    idx = subset(train_y, cell.fraction, cell.seed)
    x, y, n_syn = training_set(cell, train_x[idx], train_y[idx])
    transform = classical_augmentation() if cell.arm.startswith("classical") else None
    k = len(dataset_info(cell.dataset).class_names)
    model, facts = train_classifier(x, y, k, *data["val"], recipe, cell.seed, transform, device=device)
    s = scores(predict_proba(model, data["test"][0]), data["test"][1].numpy())
    env = environment(device, 1)
    return {**dataclasses.asdict(cell), "recipe_id": recipe.recipe_id(), "auc": round(s["auc"], 6), "acc": round(s["acc"], 6),
            "n_real": len(idx), "n_synthetic": n_syn, "ratio": RATIO if n_syn else 0.0,
            "val_auc": round(facts["val_auc"], 6), "best_epoch": facts["best_epoch"], "epochs": facts["epochs"],
            "seconds": round(time.monotonic() - t0, 1), "recipe": dataclasses.asdict(recipe), "commit": env["git_commit"],
            "hardware": env["hardware"], "command": command_line(), "recorded_at": now()}


def run(datasets: Sequence[str], seeds: Sequence[int] = SEEDS, fractions: Sequence[float] = FRACTIONS, recipe: Recipe = Recipe(),
        path: Path | None = None, data_dir: str | os.PathLike | None = None, device: str = "cpu",
        shard: tuple[int, int] = (0, 1)) -> int:
    """Run every unfinished cell (of shard i of n: one process per shard and cell file); return the number of cells run."""
    if not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {shard[0]}/{shard[1]}")
    path = path or cells_path()
    try:
        data = {d: {s: load_split(d, s, data_dir) for s in ("train", "val", "test")} for d in datasets}
    except DataError as e:
        raise EvaluationError(f"utility study: {e}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_path(path, shard).parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(path, shard), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StudyLockedError(f"another utility run is writing {path}; wait for it or stop it first") from None
        return _run_cells(datasets, seeds, fractions, recipe, path, data, device, shard)


def _run_cells(datasets: Sequence[str], seeds: Sequence[int], fractions: Sequence[float], recipe: Recipe, path: Path,
               data: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]], device: str, shard: tuple[int, int]) -> int:
    """The loop of `run`: re-plan, run the shard's first unfinished cell, append its line; until none is left."""
    from tqdm import tqdm

    rid = recipe.recipe_id()
    done = {Cell(r["dataset"], r["fraction"], r["arm"], r["seed"]).key(r["recipe_id"]) for r in read_jsonl(path)}
    ran = 0
    with tqdm(desc="utility cells", unit="cell", file=sys.stderr, mininterval=0 if sys.stderr.isatty() else 60) as bar:
        while True:
            cells = [c for c in plan(datasets, seeds, fractions) if c.shard(shard[1]) == shard[0]]
            todo = [c for c in cells if c.key(rid) not in done]
            bar.total, bar.n = len(cells), len(cells) - len(todo)
            bar.refresh()
            if not todo:
                return ran
            cell = todo[0]
            bar.set_postfix_str(f"{cell.dataset} {cell.fraction:g} {cell.arm} seed {cell.seed}")
            record = run_cell(cell, data[cell.dataset], recipe, device)
            append_jsonl(path, [record])
            done.add(cell.key(rid))
            ran += 1
            bar.write(f"[{time.strftime('%H:%M:%S')}] {cell.dataset} {cell.fraction:g} {cell.arm} seed {cell.seed}: "
                      f"AUC {record['auc']:.3f} ACC {record['acc']:.3f} ({record['seconds']:.0f} s)")


def ci95(values: pd.Series) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); NaN for fewer than two values."""
    from scipy import stats

    n = len(values)
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")


def summary(path: Path | None = None, recipe: Recipe = Recipe(), dataset: str | None = None) -> pd.DataFrame:
    """Mean and 95% CI of AUC and ACC per (dataset, fraction, arm), with the published MedMNIST v2 ResNet-18 (28) row's difference."""
    df = pd.DataFrame(read_jsonl(path or cells_path()))
    cols = ["dataset", "fraction", "arm", "seeds", "auc", "auc_ci95", "acc", "acc_ci95", "published_auc", "published_acc", "d_auc", "d_acc"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df[df["recipe_id"] == recipe.recipe_id()]
    if dataset is not None:
        df = df[df["dataset"] == dataset]
    g = df.groupby(["dataset", "fraction", "arm"], sort=True)
    out = g.agg(seeds=("seed", "nunique"), auc=("auc", "mean"), acc=("acc", "mean")).reset_index()
    out["auc_ci95"] = g["auc"].apply(ci95).to_numpy()
    out["acc_ci95"] = g["acc"].apply(ci95).to_numpy()
    ref = (out["fraction"] == 1.0) & (out["arm"] == "none")
    out["published_auc"] = np.where(ref, out["dataset"].map(lambda d: PUBLISHED.get(d, (np.nan, np.nan))[0]), np.nan)
    out["published_acc"] = np.where(ref, out["dataset"].map(lambda d: PUBLISHED.get(d, (np.nan, np.nan))[1]), np.nan)
    out["d_auc"] = out["auc"] - out["published_auc"]
    out["d_acc"] = out["acc"] - out["published_acc"]
    return out[cols].round(4)
