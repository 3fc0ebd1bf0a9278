"""The utility study (fair protocol): does augmentation help a classifier trained on 1-100% of the real train split?

Every (dataset, fraction, seed) is a *group* of cells, one per arm, run one after another by one process (so all
arms of a group share hardware and commit):

- subsets: nested and stratified (`subsets.nested_subset`: one permutation per seed and class, a fraction takes a
  prefix, at least one image per class); the validation subset follows the same rule on the validation split;
- equal steps: every arm of a group trains the evaluation classifier for the same number of optimizer steps
  (`Recipe.max_epochs` rounds of max(ceil(n_real / batch), min_steps) steps, n_real the real subset's size, with
  no early stopping) and keeps the round with the best AUC on the validation subset;
- arms: `none`; `classical` (flips, rotation within 10 degrees, brightness/contrast 10%); `gan:acgan` and
  `classical+gan:acgan` (an ACGAN trained on exactly the group's subset, synthetic:real 1:1, labels in the subset's
  class proportions); `perclass:diffaugment` (one unconditional DiffAugment DCGAN per class, each trained on that
  class's images of the subset, as many synthetic images per class as real ones); `cyclegan:normal2pneumonia`
  (PneumoniaMNIST: a CycleGAN trained on the subset translates the subset's normal images into labelled pneumonia
  images); `privileged-gan:<bundled ACGAN>` (the zoo's ACGAN, trained on the full train split: an upper bound
  shown apart, never a fair arm). Generator arms run at GEN_SEEDS, the others at every seed;
- generators: trained by `generators.subset_generator` with the step budget of `generators.STEPS`;
- quality gate: a generator enters its arm only when a classifier trained on its images alone (same recipe, last
  round's weights) reaches an AUC on the validation subset above 0.5 + GATE_MARGIN; otherwise the arm falls back
  to its arm without the generator (`none` or `classical`: same data, same seed, so the same result is recorded)
  and the generator is listed as failing;
- every row records `subset_sha256` (of the classifier's training indices) and `generator_id`,
  `generator_subset_sha256`, `generator_sha256` (None where no generator is used); outside `privileged-*` arms the
  two subset hashes are equal (`check_rows` enforces the rules; tests pin them).

Each finished cell is one line of reproductions/results/utility.jsonl; the per-test-image scores (for the bootstrap
over test images) go to utility_scores.jsonl. The rows of the earlier, flawed protocol (one generator trained on
the full split at every fraction, unequal steps, full validation split) are kept in utility_v1_flawed.jsonl.
`stats.py` computes the paired gains, intervals and Holm-adjusted verdicts.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from reproductions.common.data import REPO_ROOT, DataError, dataset_info, load_split
from reproductions.common.train import environment
from reproductions.evaluate.classifier import Recipe, predict_proba, scores, train_classifier
from reproductions.evaluate.fidelity import EvaluationError
from reproductions.evaluate.results import RESULTS_DIR, append_jsonl, command_line, now, read_jsonl
from reproductions.evaluate.subsets import nested_subset, subset_sha256

FRACTIONS = (0.01, 0.05, 0.10, 0.25, 1.0)
SEEDS = (0, 1, 2, 3, 4)
GEN_SEEDS = (0, 1, 2)
RATIO = 1.0  # synthetic:real images in the generator arms
GATE_MARGIN = 0.05  # a generator's CAS AUC on the validation subset must exceed 0.5 + this
PROTOCOL = "fair-v2"
CELLS = RESULTS_DIR / "utility.jsonl"
SCORES = RESULTS_DIR / "utility_scores.jsonl"
V1_FLAWED = RESULTS_DIR / "utility_v1_flawed.jsonl"
SUPERSEDED = RESULTS_DIR / "utility_superseded.jsonl"
STUDY_RECIPE = Recipe(patience=Recipe().max_epochs)  # patience >= rounds: no early stopping, equal steps per arm
# MedMNIST v2 (Yang et al. 2023, Table 3), ResNet-18 (28), test split: (AUC, ACC)
PUBLISHED = {"pneumoniamnist": (0.944, 0.854), "breastmnist": (0.901, 0.863), "retinamnist": (0.717, 0.524)}
GENERATOR_FIELDS = ("generator_id", "generator_subset_sha256", "generator_sha256")
ROW_FIELDS = ("dataset", "fraction", "arm", "seed", "recipe_id", "protocol", "auc", "acc", "subset_sha256",
              *GENERATOR_FIELDS, "commit", "hardware", "seconds", "command", "recorded_at")
NO_GENERATOR = ("none", "classical")
PRIVILEGED = "privileged-"


def lock_path(cells: Path, group: tuple[str, float, int]) -> Path:
    """The lock file of one group of a cell file, under runs/eval-utility/ (kept out of the committed results)."""
    digest = hashlib.sha256(f"{cells.resolve()}|{group[0]}|{group[1]}|{group[2]}".encode()).hexdigest()[:16]
    return REPO_ROOT / "runs" / "eval-utility" / f"{digest}.lock"


@contextlib.contextmanager
def claimed(lock: Path) -> Iterator[bool]:
    """Hold an exclusive lock on `lock` while the block runs, yielding True; False at once when another process holds it
    (the kernel drops a dead process's lock, so a killed runner never blocks the next)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def cells_path() -> Path:
    """The cell file: $MEDZOO_UTILITY (tests, private runs), else reproductions/results/utility.jsonl."""
    return Path(os.environ.get("MEDZOO_UTILITY") or CELLS)


def scores_path(cells: Optional[Path] = None) -> Path:
    """The per-test-image scores beside a cell file (utility.jsonl -> utility_scores.jsonl)."""
    cells = cells or cells_path()
    return cells.with_name(cells.stem + "_scores.jsonl")


@dataclass(frozen=True)
class Cell:
    """One classifier training: dataset, share of the real train split, augmentation arm, seed."""

    dataset: str
    fraction: float
    arm: str
    seed: int

    def key(self, recipe_id: str) -> tuple[str, float, str, int, str]:
        return (self.dataset, self.fraction, self.arm, self.seed, recipe_id)

    @property
    def group(self) -> tuple[str, float, int]:
        return (self.dataset, self.fraction, self.seed)

    def shard(self, n: int) -> int:
        """Which of n shards runs this cell: a stable hash of its group, so a group's arms never split across shards."""
        return int(hashlib.sha256(f"{self.dataset}|{self.fraction}|{self.seed}".encode()).hexdigest(), 16) % n


def classical_augmentation() -> Callable[[torch.Tensor], torch.Tensor]:
    """Classical augmentation of one uint8 image: horizontal flip, rotation within 10 degrees, brightness/contrast 10%."""
    from torchvision.transforms import v2

    return v2.Compose([v2.RandomHorizontalFlip(), v2.RandomRotation(10), v2.ColorJitter(brightness=0.1, contrast=0.1)])


def privileged_models(dataset: str) -> list[str]:
    """Registered class-conditional generators of `dataset` whose files are present (trained on the full train split)."""
    from zoo.hub import resolve
    from zoo.registry import entries

    out = []
    for model_id, entry in sorted(entries().items()):
        if entry.task == "conditional-synthesis" and entry.dataset == dataset and entry.resolution == 28:
            try:
                resolve(entry)
            except (OSError, ValueError):
                continue
            out.append(model_id)
    return out


def arms(dataset: str, seed: int = 0, gen_seeds: Sequence[int] = GEN_SEEDS, privileged: bool = True) -> list[str]:
    """The arms of a group, in the order they run: no-generator arms first (gate fallbacks copy them)."""
    out = list(NO_GENERATOR)
    if seed in gen_seeds:
        out += ["gan:acgan", "classical+gan:acgan", "perclass:diffaugment"]
        if dataset == "pneumoniamnist":
            out.append("cyclegan:normal2pneumonia")
        if privileged:
            out += [f"{PRIVILEGED}gan:{m}" for m in privileged_models(dataset)]
    return out


def plan(datasets: Sequence[str], seeds: Sequence[int] = SEEDS, fractions: Sequence[float] = FRACTIONS,
         gen_seeds: Sequence[int] = GEN_SEEDS, privileged: bool = True) -> list[Cell]:
    """Every cell, group by group, seed-major (all of seed 0 first, so paired statistics fill in evenly)."""
    return [Cell(d, f, a, s) for s in seeds for d in datasets for f in fractions for a in arms(d, s, gen_seeds, privileged)]


def synthetic_labels(real_labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n labels with the class proportions of the real subset (its labels repeated, shuffled)."""
    gen = torch.Generator().manual_seed(seed)
    reps = real_labels.repeat(math.ceil(n / len(real_labels)))
    return reps[torch.randperm(len(reps), generator=gen)][:n]


def subset(labels: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """The classifier's training indices of a (fraction, seed): `subsets.nested_subset` of the train split."""
    return nested_subset(labels, fraction, seed, "train")


def steps_per_round(n_real: int, recipe: Recipe) -> int:
    """Optimizer steps between validations for a real subset of n_real images: the same for every arm of a group."""
    return max(math.ceil(n_real / recipe.batch_size), recipe.min_steps_per_epoch)


# ---- the synthetic part of each arm ----

@dataclass
class Synthetic:
    """What a generator arm adds: images, labels, and the generators' facts."""

    images: torch.Tensor
    labels: torch.Tensor
    generators: list[dict[str, Any]]
    gate_images: torch.Tensor  # what the quality gate's classifier trains on (with gate_labels)
    gate_labels: torch.Tensor


def _merged_facts(gens: list[Any], indices: list[torch.Tensor]) -> dict[str, Any]:
    """Row facts of one or more generators: ids joined by '+', the subset hash of all their training indices together,
    the sha256 of one model.safetensors (or of the comma-joined sha256s of several)."""
    if len(gens) == 1:
        return gens[0].facts()
    return {"generator_id": "+".join(g.model_id for g in gens),
            "generator_subset_sha256": subset_sha256(torch.cat(indices)),
            "generator_sha256": hashlib.sha256(",".join(g.sha256 for g in gens).encode()).hexdigest(),
            "generator_steps": sum(g.steps for g in gens), "generator_seconds": round(sum(g.seconds for g in gens), 1),
            "generator_hardware": gens[0].hardware}


def synthetic(cell: Cell, train_x: torch.Tensor, train_y: torch.Tensor, idx: torch.Tensor, device: str = "cpu",
              root: Optional[Path] = None) -> tuple[Synthetic, dict[str, Any]]:
    """The synthetic images of a generator arm and the row facts of its generator(s)."""
    from reproductions.evaluate.generators import subset_generator

    x, y = train_x[idx], train_y[idx]
    family = cell.arm.split(":", 1)[1]
    seed = 10_000 + cell.seed
    if cell.arm.startswith(PRIVILEGED):
        import zoo
        from zoo.registry import get

        model = zoo.load(family)
        n = round(RATIO * len(x))
        labels = synthetic_labels(y, n, cell.seed)
        images = model.generate(n, labels=labels, seed=seed)
        entry = get(family)
        trained_on = model.config.get("training", {}).get("split")  # the zoo's models learn the whole named split
        facts = {"generator_id": family, "generator_sha256": entry.files["model.safetensors"],
                 "generator_subset_sha256": subset_sha256(torch.arange(len(train_y))) if trained_on == "train" else None}
        gens = [facts]
        return Synthetic(images, labels, gens, images, labels), facts
    if family == "acgan":
        g = subset_generator("acgan", cell.dataset, train_x, train_y, idx, cell.seed, device=device, root=root)
        n = round(RATIO * len(x))
        labels = synthetic_labels(y, n, cell.seed)
        images = g.load().generate(n, labels=labels, seed=seed)
        return Synthetic(images, labels, [g.facts()], images, labels), g.facts()
    if family == "diffaugment":
        gens, parts, labs, inds = [], [], [], []
        for c in y.unique(sorted=True).tolist():
            ci = idx[y == c]
            g = subset_generator("diffaugment", cell.dataset, train_x, train_y, ci, cell.seed, tag=f"class{c}", device=device, root=root)
            n_c = round(RATIO * len(ci))
            parts.append(g.load().generate(n_c, seed=seed + 97 * c))
            labs.append(torch.full((n_c,), c, dtype=torch.long))
            gens.append(g)
            inds.append(ci)
        images, labels = torch.cat(parts), torch.cat(labs)
        facts = _merged_facts(gens, inds)
        return Synthetic(images, labels, [g.facts() for g in gens], images, labels), facts
    if family == "normal2pneumonia":
        names = dataset_info(cell.dataset).class_names
        a, b = names.index("normal"), names.index("pneumonia")
        g = subset_generator("cyclegan", cell.dataset, train_x, train_y, idx, cell.seed, device=device, root=root,
                             overrides={"class_a": a, "class_b": b}, export_index=0)
        source = x[y == a]
        images = g.load().translate(source)
        labels = torch.full((len(images),), b, dtype=torch.long)
        gate_x = torch.cat([source, images])
        gate_y = torch.cat([torch.full((len(source),), a, dtype=torch.long), labels])
        return Synthetic(images, labels, [g.facts()], gate_x, gate_y), g.facts()
    raise ValueError(f"unknown arm {cell.arm!r}")


# ---- one group ----

def _train_and_score(x: torch.Tensor, y: torch.Tensor, k: int, val: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
                     recipe: Recipe, seed: int, steps: int, transform: Any, device: str) -> tuple[dict[str, Any], np.ndarray]:
    model, facts = train_classifier(x, y, k, *val, recipe, seed, transform, device=device, steps_per_epoch=steps)
    probs = predict_proba(model, test[0])
    s = scores(probs, test[1].numpy())
    return {"auc": round(s["auc"], 6), "acc": round(s["acc"], 6), "val_auc": round(facts["val_auc"], 6),
            "best_epoch": facts["best_epoch"], "epochs": facts["epochs"], "steps": facts["steps"]}, probs


def gate(syn: Synthetic, k: int, val: tuple[torch.Tensor, torch.Tensor], recipe: Recipe, seed: int, steps: int,
         device: str) -> dict[str, Any]:
    """The quality gate: AUC on the validation subset of the recipe trained on the generator's images alone (last round)."""
    if len(syn.gate_labels.unique()) < 2:
        return {"cas_auc": None, "margin": GATE_MARGIN, "passed": False, "why": "the generator's images cover one class"}
    gate_recipe = dataclasses.replace(recipe, patience=recipe.max_epochs)
    model, _ = train_classifier(syn.gate_images, syn.gate_labels, k, *val, gate_recipe, seed, device=device,
                                steps_per_epoch=steps, keep="last")
    auc = scores(predict_proba(model, val[0]), val[1].numpy())["auc"]
    return {"cas_auc": round(auc, 6), "margin": GATE_MARGIN, "passed": bool(auc > 0.5 + GATE_MARGIN)}


def run_group(cells: Sequence[Cell], data: dict[str, tuple[torch.Tensor, torch.Tensor]], recipe: Recipe, env: dict[str, Any],
              done: dict[tuple, dict[str, Any]], device: str = "cpu", root: Optional[Path] = None,
              on_row: Optional[Callable[[dict[str, Any], np.ndarray], None]] = None) -> list[dict[str, Any]]:
    """Run the unfinished cells of one group (same dataset, fraction and seed), in plan order; return their rows."""
    rid = recipe.recipe_id()
    dataset, fraction, seed = cells[0].group
    (train_x, train_y), (val_x, val_y), test = data["train"], data["val"], data["test"]
    idx = subset(train_y, fraction, seed)
    vidx = nested_subset(val_y, fraction, seed, "val")
    val = (val_x[vidx], val_y[vidx])
    k = len(dataset_info(dataset).class_names)
    steps = steps_per_round(len(idx), recipe)
    sha = subset_sha256(idx)
    rows = []
    for cell in cells:
        if cell.key(rid) in done:
            continue
        t0 = time.monotonic()
        base = {**dataclasses.asdict(cell), "recipe_id": rid, "protocol": PROTOCOL, "n_real": len(idx), "n_val": len(vidx),
                "subset_sha256": sha, "val_subset_sha256": subset_sha256(vidx), "steps_per_round": steps}
        transform = classical_augmentation() if cell.arm.startswith("classical") else None
        if cell.arm in NO_GENERATOR:
            metrics, probs = _train_and_score(train_x[idx], train_y[idx], k, val, test, recipe, seed, steps, transform, device)
            row = {**base, **metrics, **dict.fromkeys(GENERATOR_FIELDS), "n_synthetic": 0, "ratio": 0.0, "gate": None}
        else:
            syn, facts = synthetic(cell, train_x, train_y, idx, device, root)
            verdict = gate(syn, k, val, recipe, seed, steps, device)
            if verdict["passed"]:
                x = torch.cat([train_x[idx], syn.images])
                y = torch.cat([train_y[idx], syn.labels])
                metrics, probs = _train_and_score(x, y, k, val, test, recipe, seed, steps, transform, device)
                row = {**base, **metrics, **facts, "n_synthetic": len(syn.images), "ratio": round(len(syn.images) / len(idx), 4),
                       "gate": verdict, "fallback": None}
            else:
                twin = "classical" if cell.arm.startswith("classical") else "none"
                prev = done.get(Cell(dataset, fraction, twin, seed).key(rid))
                if prev is None:
                    raise RuntimeError(f"{cell}: the gate failed and the fallback arm {twin!r} has not run")
                metrics = {m: prev[m] for m in ("auc", "acc", "val_auc", "best_epoch", "epochs", "steps")}
                probs = None
                row = {**base, **metrics, **facts, "n_synthetic": 0, "ratio": 0.0, "gate": verdict, "fallback": twin}
            row["generators"] = syn.generators if len(syn.generators) > 1 else None
        row.update({"seconds": round(time.monotonic() - t0, 1), "commit": env["git_commit"], "hardware": env["hardware"],
                    "recipe": dataclasses.asdict(recipe), "command": command_line(), "recorded_at": now()})
        done[cell.key(rid)] = row
        if on_row is not None:
            on_row(row, probs)
        rows.append(row)
    return rows


# ---- the runner ----

def _supersede(path: Path, keys: set[tuple]) -> int:
    """Move the rows of `keys` from the cell file to utility_superseded.jsonl (a group restarted under new provenance)."""
    if not keys or not path.exists():
        return 0
    with open(path, "r+", encoding="utf-8") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        lines = f.read().splitlines()
        keep, moved = [], []
        for line in lines:
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue
            k = (r["dataset"], r["fraction"], r["arm"], r["seed"], r["recipe_id"])
            (moved if k in keys else keep).append(line)
        f.seek(0)
        f.truncate()
        f.write("".join(line + "\n" for line in keep))
        f.flush()
        os.fsync(f.fileno())
    if moved:
        with open(path.with_name(SUPERSEDED.name), "a", encoding="utf-8") as g:
            g.write("".join(line + "\n" for line in moved))
    return len(moved)


def run(datasets: Sequence[str], seeds: Sequence[int] = SEEDS, fractions: Sequence[float] = FRACTIONS, recipe: Recipe = STUDY_RECIPE,
        path: Optional[Path] = None, data_dir: str | os.PathLike | None = None, device: str = "cpu",
        shard: tuple[int, int] = (0, 1), gen_seeds: Sequence[int] = GEN_SEEDS, privileged: bool = True,
        root: Optional[Path] = None, max_groups: int = 0) -> int:
    """Run every unfinished cell of shard i of n, group by group; return how many ran. Any number of processes may run
    the same shard: each group is claimed with a lock, and a process skips the groups another one holds."""
    if not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {shard[0]}/{shard[1]}")
    path = path or cells_path()
    try:
        data = {d: {s: load_split(d, s, data_dir) for s in ("train", "val", "test")} for d in datasets}
    except DataError as e:
        raise EvaluationError(f"utility study: {e}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    return _run_groups(datasets, seeds, fractions, recipe, path, data, device, shard, gen_seeds, privileged, root, max_groups)


def _run_groups(datasets: Sequence[str], seeds: Sequence[int], fractions: Sequence[float], recipe: Recipe, path: Path,
                data: dict[str, dict[str, tuple[torch.Tensor, torch.Tensor]]], device: str, shard: tuple[int, int],
                gen_seeds: Sequence[int], privileged: bool, root: Optional[Path], max_groups: int) -> int:
    rid = recipe.recipe_id()
    env = environment(device, 1)  # pinned for the whole run: every group this process runs shares it
    cells = [c for c in plan(datasets, seeds, fractions, gen_seeds, privileged) if c.shard(shard[1]) == shard[0]]
    groups: dict[tuple, list[Cell]] = {}
    for c in cells:
        groups.setdefault(c.group, []).append(c)
    ran, groups_run = 0, 0
    scores_file = scores_path(path)

    def store(row: dict[str, Any], probs: Optional[np.ndarray]) -> None:
        append_jsonl(path, [row])
        if probs is not None:
            kept = probs[:, 1] if probs.shape[1] == 2 else probs
            append_jsonl(scores_file, [{"dataset": row["dataset"], "fraction": row["fraction"], "arm": row["arm"], "seed": row["seed"],
                                        "recipe_id": row["recipe_id"], "scores": np.round(kept, 4).tolist()}])
        print(f"[{time.strftime('%H:%M:%S')}] {row['dataset']} {row['fraction']:g} {row['arm']} seed {row['seed']}: AUC {row['auc']:.3f} "
              f"ACC {row['acc']:.3f}{' (gate failed: ' + str(row['fallback']) + ')' if row.get('fallback') else ''} ({row['seconds']:.0f} s)",
              file=sys.stderr, flush=True)

    for key, group in groups.items():
        with claimed(lock_path(path, key)) as mine_now:
            if not mine_now:  # another process runs this group
                continue
            stored = {(r["dataset"], r["fraction"], r["arm"], r["seed"], r["recipe_id"]): r for r in read_jsonl(path)}
            mine = {c.key(rid): stored[c.key(rid)] for c in group if c.key(rid) in stored}
            if len(mine) == len(group):
                continue
            if mine and {(r["commit"], r["hardware"]) for r in mine.values()} != {(env["git_commit"], env["hardware"])}:
                _supersede(path, set(mine))  # all arms of a group run on the same hardware and commit
                mine = {}
            ran += len(run_group(group, data[key[0]], recipe, env, mine, device, root, store))
        groups_run += 1
        if max_groups and groups_run >= max_groups:
            break
    return ran


# ---- the rules every row obeys ----

def check_rows(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Every violation of the study's rules in `rows` (empty when none): the fields of every row, equal subset hashes
    outside privileged arms, one hardware and commit per group, equal steps per group."""
    problems: list[str] = []
    rows = list(rows)
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for i, r in enumerate(rows):
        where = f"row {i + 1} ({r.get('dataset')} {r.get('fraction')} {r.get('arm')} seed {r.get('seed')})"
        missing = [f for f in ROW_FIELDS if f not in r]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        arm = str(r["arm"])
        uses = arm not in NO_GENERATOR
        if uses and not all(r[f] for f in ("generator_id", "generator_sha256")):
            problems.append(f"{where}: a generator arm without generator_id / generator_sha256")
        if not uses and any(r[f] is not None for f in GENERATOR_FIELDS):
            problems.append(f"{where}: an arm without a generator records generator facts")
        if uses and not arm.startswith(PRIVILEGED) and r["generator_subset_sha256"] != r["subset_sha256"]:
            problems.append(f"{where}: generator_subset_sha256 != subset_sha256 outside a privileged-* arm")
        groups.setdefault((r["dataset"], r["fraction"], r["seed"], r["recipe_id"]), []).append(r)
    for key, g in groups.items():
        prov = {(r["commit"], r["hardware"]) for r in g}
        if len(prov) > 1:
            problems.append(f"group {key}: arms ran on {len(prov)} hardware/commit combinations")
        steps = {r.get("steps") for r in g if r.get("steps") is not None}
        if len(steps) > 1:
            problems.append(f"group {key}: arms trained for different numbers of steps {sorted(steps)}")
        subsets = {r["subset_sha256"] for r in g}
        if len(subsets) > 1:
            problems.append(f"group {key}: arms trained on different subsets")
    return problems


# ---- summaries ----

def ci95(values: pd.Series) -> float:
    """Half-width of the 95% confidence interval of the mean (Student t); NaN for fewer than two values."""
    from scipy import stats

    n = len(values)
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")


def load(path: Optional[Path] = None, recipe: Optional[Recipe] = None, dataset: Optional[str] = None) -> pd.DataFrame:
    """The stored cells of `recipe` (default STUDY_RECIPE; latest row per cell), optionally of one dataset."""
    df = pd.DataFrame(read_jsonl(path or cells_path()))
    if df.empty:
        return df
    df = df[df["recipe_id"] == (recipe or STUDY_RECIPE).recipe_id()]
    if dataset is not None:
        df = df[df["dataset"] == dataset]
    if "recorded_at" in df:
        df = df.sort_values("recorded_at", kind="stable")
    return df.drop_duplicates(["dataset", "fraction", "arm", "seed"], keep="last")


def summary(path: Optional[Path] = None, recipe: Optional[Recipe] = None, dataset: Optional[str] = None) -> pd.DataFrame:
    """Mean and 95% CI of AUC and ACC per (dataset, fraction, arm), with the published MedMNIST v2 ResNet-18 (28) row's difference."""
    df = load(path, recipe, dataset)
    cols = ["dataset", "fraction", "arm", "seeds", "auc", "auc_ci95", "acc", "acc_ci95", "published_auc", "published_acc", "d_auc", "d_acc"]
    if df.empty:
        return pd.DataFrame(columns=cols)
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
