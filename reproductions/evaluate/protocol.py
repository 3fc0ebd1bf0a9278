"""`medzoo eval`: one protocol for every zoo model, checked in full before any long computation.

Synthesis models: FID, KID, precision and recall of N generated images (conditional models: labels in the train
split's class proportions) against the real test split, with real train vs real test as the floor, and CAS for
conditional models (the synthetic-data classifier and its real-data floor both choose their checkpoint on the real
validation split). `reproductions.evaluate.equal_n` measures every model at equal n with bootstrap intervals.
Super-resolution: SSIM and PSNR of the restored test split (bicubic upsampling as the baseline).
Unpaired translation: the same distribution metrics for translated test images of the source class against
real test images of the target class (untranslated source images as the baseline, train vs test as the floor).
"""
from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from reproductions.common.data import DataError, DatasetInfo, dataset_info, load_split
from reproductions.common.train import environment
from reproductions.evaluate.classifier import Recipe, predict_proba, scores, train_classifier
from reproductions.evaluate.fidelity import EvaluationError, FeatureSpace, distribution_metrics, kid_subset, resolve_features
from reproductions.evaluate.paired import ssim_psnr
from reproductions.evaluate.results import append_jsonl, command_line, load_rows, now, results_path

SYNTHESIS = ("unconditional-synthesis", "conditional-synthesis")
DISTRIBUTION = ("fid", "kid_mean", "kid_std", "precision", "recall")
CAS_SELECTION = "real-val"  # CAS and its floor choose their checkpoint on the real validation split


@dataclass
class Plan:
    """Everything one evaluation needs, loaded and checked: the model, real data, feature space, sizes."""

    model_id: str
    task: str
    info: DatasetInfo
    model: Any
    space: FeatureSpace | None
    n: int
    seed: int
    kid_subset_size: int
    cas: bool
    real: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)


def _real_splits(info: DatasetInfo, splits: tuple[str, ...], data_dir: str | os.PathLike | None,
                 model_id: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The real splits an evaluation compares with; a missing one is an EvaluationError naming it."""
    out = {}
    for split in splits:
        try:
            out[split] = load_split(info.name, split, data_dir)
        except DataError as e:
            raise EvaluationError(f"cannot evaluate {model_id}: the real {split} split of {info.name} is not available: {e}") from None
    return out


def plan(model_id: str, n: int = 10000, features: str = "medzoo-resnet18", seed: int = 0, kid_subset_size: int | None = None,
         cas: bool = True, data_dir: str | os.PathLike | None = None) -> Plan:
    """Load and check everything `run` needs; EvaluationError naming the problem otherwise."""
    from zoo.api import load
    from zoo.registry import UnknownModelError, get

    if n <= 0:
        raise EvaluationError(f"--n must be a positive number of images, got {n}")
    try:
        entry = get(model_id)
    except UnknownModelError as e:
        raise EvaluationError(str(e)) from None
    if entry.task == "feature-extraction":
        raise EvaluationError(f"{model_id} is a feature extractor; `medzoo eval` evaluates generators and translators")
    try:
        info = dataset_info(entry.dataset)
    except DataError as e:
        raise EvaluationError(f"{model_id}: {e}") from None
    if (entry.channels, entry.resolution) != (info.channels, info.resolution):
        raise EvaluationError(f"{model_id} makes {entry.channels}-channel {entry.resolution}x{entry.resolution} images but its dataset "
                              f"{info.name} has {info.channels}-channel {info.resolution}x{info.resolution} images; they cannot be compared")
    paired = entry.task == "super-resolution"
    space = None if paired else resolve_features(features)
    real = _real_splits(info, ("test",) if paired else ("test", "train", "val"), data_dir, model_id)
    model = load(model_id)
    if (model.channels, model.resolution) != (info.channels, info.resolution):
        raise EvaluationError(f"{model_id}'s weights make {model.channels}x{model.resolution}x{model.resolution} images, "
                              f"{info.name} has {info.channels}x{info.resolution}x{info.resolution}")
    p = Plan(model_id, entry.task, info, model, space, n, seed, 0, cas and entry.task == "conditional-synthesis", real)
    test_x, test_y = real["test"]
    if entry.task in SYNTHESIS:
        train_x = real["train"][0]
        p.kid_subset_size = kid_subset(n, len(test_x), kid_subset_size)
        kid_subset(len(train_x), len(test_x), p.kid_subset_size)
    elif entry.task == "image-translation":
        src = int(model.config["source_class"])
        dst = info.class_names.index(model.config["target_domain"])
        n_src, n_dst = int((test_y == src).sum()), int((test_y == dst).sum())
        p.n = min(n, n_src)
        p.kid_subset_size = kid_subset(p.n, n_dst, kid_subset_size)
        kid_subset(int((real["train"][1] == dst).sum()), n_dst, p.kid_subset_size)
        p.facts = {"source_class": src, "target_class": dst}
    elif paired:
        p.n = min(n, len(test_x))
        p.facts = {"input_resolution": int(model.config["input_resolution"])}
    else:
        raise EvaluationError(f"{model_id} has task {entry.task!r}, which the protocol does not know")
    return p


def train_images(config: dict[str, Any]) -> int | None:
    """How many real images a model was trained on, from its config.json's training facts."""
    found = re.search(r"\((\d+) images", str(config.get("training", {}).get("data", "")))
    return int(found.group(1)) if found else None


class _Recorder:
    """Rows of one `run`: each figure with the facts every row carries (commit, hardware, seconds, command)."""

    def __init__(self, p: Plan, command: str) -> None:
        self.p, self.command, self.env, self.rows = p, command, environment("cpu", 1), []

    def add(self, model_id: str, kind: str, metrics: dict[str, float], n: int, n_real: int, reference: str, t0: float,
            **extra: Any) -> None:
        """Append one row per metric, measured since monotonic time `t0`."""
        p, seconds = self.p, round(time.monotonic() - t0, 1)
        self.rows += [{"model_id": model_id, "dataset": p.info.name, "kind": kind, "metric": k, "value": round(float(v), 6),
                       "n": n, "n_real": n_real, "seed": p.seed, "features": p.space.name if p.space else None,
                       "reference": reference, "commit": self.env["git_commit"], "hardware": self.env["hardware"],
                       "seconds": seconds, "command": self.command, "recorded_at": now(),
                       "features_sha256": p.space.sha256 if p.space else None, **extra} for k, v in metrics.items()]


def _stored(p: Plan, model_id: str, metrics: tuple[str, ...], reference: str, **extra: Any) -> bool:
    """Whether rows for this reference set (same seed, feature weights and extra facts) are already stored."""
    df = load_rows()
    if df.empty:
        return False
    mask = (df["model_id"] == model_id) & (df["reference"] == reference) & (df["seed"] == p.seed) & df["metric"].isin(metrics)
    if p.space is not None:
        mask &= df.get("features_sha256", None) == p.space.sha256
    for k, v in extra.items():
        mask &= df.get(k, None) == v
    return set(df.loc[mask, "metric"]) == set(metrics)


def _say(message: str) -> None:
    """A time-stamped progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _distribution(rec: _Recorder, model_id: str, kind: str, fake: torch.Tensor, real: torch.Tensor, reference: str,
                  once: bool = False, **extra: Any) -> None:
    """torch-fidelity's FID, KID, precision and recall of two uint8 image sets; `once`: skip when already stored."""
    p = rec.p
    kid = {"kid_subset_size": p.kid_subset_size}
    if once and _stored(p, model_id, DISTRIBUTION, reference, n=len(fake), **kid):
        _say(f"{model_id} vs {reference}: stored rows reused")
        return
    t0 = time.monotonic()
    _say(f"torch-fidelity on {p.space.name} features: {model_id}, {len(fake)} vs {len(real)} images")
    metrics = distribution_metrics(fake, real, p.space, p.seed, p.kid_subset_size)
    rec.add(model_id, kind, metrics, len(fake), len(real), reference, t0, **kid, **extra)


def prior_labels(p: Plan, n: int, seed: int) -> torch.Tensor | None:
    """n labels in the train split's class proportions for a conditional model (None for an unconditional one)."""
    from reproductions.evaluate.utility import synthetic_labels

    return synthetic_labels(p.real["train"][1], n, seed) if p.task == "conditional-synthesis" else None


def _generate(p: Plan) -> torch.Tensor:
    """The plan's N images (conditional models: labels in the train split's class proportions), with a progress bar."""
    from tqdm import tqdm

    images = []
    with tqdm(total=p.n, desc=f"generate {p.model_id}", unit="img", mininterval=10, file=sys.stderr) as bar:
        for x, _ in p.model.iter_generate(p.n, labels=prior_labels(p, p.n, p.seed), seed=p.seed):
            images.append(x)
            bar.update(len(x))
    return torch.cat(images)


def _classifier_scores(p: Plan, x: torch.Tensor, y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
                       recipe: Recipe) -> dict[str, float]:
    """CAS-style scores: the recipe trained on (x, y), early-stopped on (val_x, val_y), tested on the real test split."""
    model, _ = train_classifier(x, y, len(p.info.class_names), val_x, val_y, recipe, p.seed)
    s = scores(predict_proba(model, p.real["test"][0]), p.real["test"][1].numpy())
    return {"cas_auc": s["auc"], "cas_acc": s["acc"]}


def _cas(rec: _Recorder, recipe: Recipe) -> None:
    """Classification accuracy score: train on as many synthetic images as the real train split has (labels in its class
    proportions), choose the checkpoint on the real validation split, test on the real test split.

    The same recipe trained on the real train split, with the same checkpoint choice, is the floor, once per dataset."""
    p = rec.p
    (train_x, train_y), (val_x, val_y), n_test = p.real["train"], p.real["val"], len(p.real["test"][0])
    n = len(train_x)
    t0 = time.monotonic()
    _say(f"CAS: classifier on {n} synthetic images (train-split class proportions), tested on {n_test} real test images")
    y = prior_labels(p, n, p.seed + 1)
    x = p.model.generate(n, labels=y, seed=p.seed + 1)
    facts = {"recipe": recipe.recipe_id(), "selection": CAS_SELECTION, "label_prior": "train"}
    rec.add(p.model_id, "model", _classifier_scores(p, x, y, val_x, val_y, recipe), n, n_test, "test", t0, **facts)
    floor_id = f"real-train.{p.info.name}"
    floor_facts = {"recipe": recipe.recipe_id(), "selection": CAS_SELECTION}
    if not _stored(p, floor_id, ("cas_auc", "cas_acc"), "test", **floor_facts):
        t0 = time.monotonic()
        _say("CAS floor: the same classifier trained on the real train split")
        rec.add(floor_id, "floor", _classifier_scores(p, train_x, train_y, val_x, val_y, recipe), n, n_test, "test", t0, **floor_facts)


def run(p: Plan, recipe: Recipe = Recipe(), command: str | None = None) -> list[dict[str, Any]]:
    """Compute every figure of the plan, append the rows to the results file and return them."""
    from zoo.archs.pix2pix import bicubic_degrade

    rec = _Recorder(p, command or command_line())
    (test_x, test_y), d = p.real["test"], p.info.name
    if p.task in SYNTHESIS:
        _distribution(rec, p.model_id, "model", _generate(p), test_x, "test", train_images=train_images(p.model.config))
        train_x = p.real["train"][0]
        _distribution(rec, f"real-train.{d}", "floor", train_x, test_x, "test", once=True, train_images=len(train_x))
        if p.cas:
            _cas(rec, recipe)
    elif p.task == "image-translation":
        names, src, dst = p.info.class_names, p.facts["source_class"], p.facts["target_class"]
        ref = f"test:{names[dst]}"
        source, target = test_x[test_y == src][: p.n], test_x[test_y == dst]
        _distribution(rec, p.model_id, "model", p.model.translate(source), target, ref)
        _distribution(rec, f"untranslated.{d}_{names[src]}".replace(" ", "-"), "baseline", source, target, ref, once=True)
        train_x, train_y = p.real["train"]
        _distribution(rec, f"real-train.{d}_{names[dst]}".replace(" ", "-"), "floor", train_x[train_y == dst], target, ref, once=True)
    else:
        r = p.facts["input_resolution"]
        target = test_x[: p.n]
        t0 = time.monotonic()
        low = bicubic_degrade(target, r)
        rec.add(p.model_id, "model", ssim_psnr(p.model.translate(low), target), p.n, p.n, "test", t0, input_resolution=r)
        t0 = time.monotonic()
        rec.add(f"bicubic.{d}_sr{r}", "baseline", ssim_psnr(low, target), p.n, p.n, "test", t0, input_resolution=r)
    append_jsonl(results_path(), rec.rows)
    return rec.rows
