"""The evaluation protocol for the 64-256 px models (chest X-rays, BUSI), with the equal-n rules of `equal_n`.

- Synthesis: n = the train split's size; the model makes n images (conditional models in the train split's class
  proportions); the real-vs-real floor is the train split against the test split, at the same n. FID, KID and
  precision/recall with bootstrap 95% intervals are computed in the medzoo-resnet18 space on images downsampled to
  28x28 (antialiased), the resolution that extractor was trained at: PneumoniaMNIST and BreastMNIST are these same
  collections at 28 px, so the space knows them; what finer detail adds is not measured by it (stated in each row's
  `space`). Mask models are compared on their images, with masks drawn from their bank.
- CAS (conditional models): the evaluation classifier (`classifier.Recipe`, at 28 px on the same downsampled images)
  trained on n generated images in the train split's class proportions, its checkpoint chosen on the real validation
  split, tested on the real test split (AUC, accuracy); the floor is the same recipe trained on the real train split.
- Unpaired translation (CycleGAN): the test split's source-class images translated, against the target class's test
  images, in the same space with bootstrap intervals; the untranslated source images are the baseline and as many
  target-class train images (drawn at random, seed 0) the floor, all at the same n.
- Super-resolution taking the low-resolution image itself: SSIM and PSNR of the test split restored from its
  antialiased bicubic downsampling, against plain bicubic upsampling, with bootstrap 95% intervals over images.

Rows go to reproductions/results/evaluations.jsonl (`protocol: highres`), where the catalog build, the cards and the
leaderboard read them.

    python -m reproductions.evaluate.highres pix2pix.chestxray_128_sr64 spade.busi_128 [--threads 2]
"""
from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np
import torch

from reproductions.common.data import dataset_info, load_data
from reproductions.common.train import environment
from reproductions.evaluate.classifier import Recipe, predict_proba, scores, train_classifier
from reproductions.evaluate.equal_n import measure, prior_labels
from reproductions.evaluate.results import append_jsonl, command_line, generator_facts, now, results_path
from reproductions.evaluate.spaces import downsample, embed

FEATURES = "medzoo-resnet18"
SPACE = "medzoo-resnet18 features of the images downsampled to 28x28 (antialiased bilinear)"


def _generate(model: Any, n: int, labels: torch.Tensor | None, seed: int) -> torch.Tensor:
    out = model.generate(n, labels=labels, seed=seed, batch_size=64)
    return out[0] if isinstance(out, tuple) else out


def _rows(model_id: str, kind: str, dataset: str, metrics: dict[str, Any], n: int, n_real: int, seconds: float,
          extra: dict[str, Any]) -> list[dict[str, Any]]:
    env = environment("cpu", 1)
    base = {"model_id": model_id, "dataset": dataset, "kind": kind, "n": n, "n_real": n_real, "seed": 0,
            "reference": "test", "commit": env["git_commit"], "hardware": env["hardware"], "seconds": round(seconds, 1),
            "command": command_line(), "recorded_at": now(), "protocol": "highres", **extra}
    out = []
    for metric in ("fid", "kid_mean", "precision", "recall", "ssim", "psnr", "cas_auc", "cas_acc"):
        if metric in metrics:
            row = {**base, "metric": metric, "value": round(float(metrics[metric]), 6)}
            if f"{metric}_ci95" in metrics:
                row["ci95"] = metrics[f"{metric}_ci95"]
            out.append(row)
    return out


def evaluate_synthesis(model_id: str, bootstrap: int = 200, limit: int = 0, cas: bool = True, n: int = 0
                       ) -> list[dict[str, Any]]:
    """FID/KID/precision/recall of the model and of the real floor, both at n = the train split's size, and CAS for a
    conditional model (`n`: fewer images on both sides, for slow samplers: the floor then takes n train images drawn
    at random; `limit`: at most this many images on every side, for tests)."""
    from zoo.api import load
    from zoo.registry import get

    entry = get(model_id)
    info = dataset_info(entry.dataset, entry.resolution)
    train, test = load_data(info, "train"), load_data(info, "test")
    val = load_data(info, "val") if model_needs_cas(entry, cas) else None
    if limit:
        train, test, val = (_subset(d, limit) for d in (train, test, val))
    if n and n < len(train["images"]):
        train = _subset(train, n)
    n = len(train["images"])
    model = load(model_id)
    t0 = time.monotonic()
    labels = prior_labels(train["labels"], n, 0) if model.num_classes else None
    fake = _generate(model, n, labels, seed=0)
    real_test = embed(test["images"], FEATURES)
    m = measure(embed(fake, FEATURES), real_test, bootstrap)
    facts = {"features": FEATURES, "space": SPACE, "resolution": entry.resolution}
    rows = _rows(model_id, "model", entry.dataset, m, n, len(real_test), time.monotonic() - t0, {**facts, **generator_facts(model_id)})
    t0 = time.monotonic()
    floor = measure(embed(train["images"], FEATURES), real_test, bootstrap)
    floor_id = f"real-train.{entry.dataset}_{entry.resolution}"
    rows += _rows(floor_id, "floor", entry.dataset, floor, n, len(real_test), time.monotonic() - t0, facts)
    if val is not None:
        t0 = time.monotonic()
        y = prior_labels(train["labels"], n, 1)
        x = _generate(model, n, y, seed=1)
        recipe = Recipe(max_epochs=1, min_steps_per_epoch=1) if limit else Recipe()
        cas_facts = {**facts, "recipe": recipe.recipe_id(), "selection": "real-val", "label_prior": "train",
                     "space": "evaluation classifier on the images downsampled to 28x28 (antialiased bilinear)"}
        k = len(info.class_names)
        rows += _rows(model_id, "model", entry.dataset, cas_scores(x, y, val, test, k, recipe), n,
                      len(test["images"]), time.monotonic() - t0, {**cas_facts, **generator_facts(model_id)})
        if limit or not _floor_cas_stored(floor_id, recipe, n):  # the floor's CAS once per dataset, resolution and recipe
            t0 = time.monotonic()
            rows += _rows(floor_id, "floor", entry.dataset, cas_scores(train["images"], train["labels"], val, test, k, recipe),
                          n, len(test["images"]), time.monotonic() - t0, cas_facts)
    return rows


def _floor_cas_stored(floor_id: str, recipe: Recipe, n: int) -> bool:
    from reproductions.evaluate.results import load_rows

    df = load_rows(current_only=False)
    if df.empty or "recipe" not in df.columns:
        return False
    return bool(((df["model_id"] == floor_id) & (df["metric"] == "cas_auc") & (df["recipe"] == recipe.recipe_id())
                 & (df.get("protocol") == "highres") & (df["n"] == n)).any())


def model_needs_cas(entry: Any, cas: bool) -> bool:
    """CAS is measured for class-conditional synthesis (a label to choose is what it scores)."""
    return cas and entry.task == "conditional-synthesis"


def _subset(split: dict[str, torch.Tensor] | None, limit: int) -> dict[str, torch.Tensor] | None:
    """`limit` images of a split drawn at random (seed 0), so that every class of a class-sorted split can appear."""
    if split is None:
        return None
    keep = torch.randperm(len(split["images"]), generator=torch.Generator().manual_seed(0))[:limit].sort().values
    return {k: split[k][keep] for k in ("images", "labels")}


def cas_scores(x: torch.Tensor, y: torch.Tensor, val: dict[str, torch.Tensor], test: dict[str, torch.Tensor],
               num_classes: int, recipe: Recipe) -> dict[str, float]:
    """CAS-style AUC and accuracy on the real test split of the evaluation classifier trained on (x, y) at 28 px, its
    checkpoint chosen on the real validation split."""
    def small(im: torch.Tensor) -> torch.Tensor:
        return downsample(im, 28)

    model, _ = train_classifier(small(x), y, num_classes, small(val["images"]), val["labels"], recipe, seed=0)
    s = scores(predict_proba(model, small(test["images"])), test["labels"].numpy())
    return {"cas_auc": s["auc"], "cas_acc": s["acc"]}


def _ssim_psnr_per_image(out: torch.Tensor, target: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    from reproductions.evaluate.paired import ssim_psnr

    per = [ssim_psnr(out[i : i + 1], target[i : i + 1]) for i in range(len(out))]
    return np.array([p["ssim"] for p in per]), np.array([p["psnr"] for p in per])


def _with_interval(values: np.ndarray, name: str, b: int, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    boot = np.array([values[rng.integers(0, len(values), len(values))].mean() for _ in range(b)])
    return {name: float(values.mean()), f"{name}_ci95": [round(float(np.percentile(boot, 2.5)), 6),
                                                         round(float(np.percentile(boot, 97.5)), 6)]}


def evaluate_super_resolution(model_id: str, bootstrap: int = 1000, limit: int = 0) -> list[dict[str, Any]]:
    """SSIM/PSNR of the model and of bicubic upsampling on the whole test split (`limit`: its first images, for
    tests), per image, with bootstrap intervals."""
    from zoo.api import load
    from zoo.archs.pix2pix import bicubic_degrade
    from zoo.registry import get

    entry = get(model_id)
    info = dataset_info(entry.dataset, entry.resolution)
    target = load_data(info, "test")["images"]
    target = target[:limit] if limit else target
    model = load(model_id)
    size = int(model.input_size)
    t0 = time.monotonic()
    low = downsample(target, size, "bicubic")
    restored = model.translate(low, batch_size=64)
    ssim, psnr = _ssim_psnr_per_image(restored, target)
    extra = {"input_resolution": size, "resolution": entry.resolution}
    rows = _rows(model_id, "model", entry.dataset, {**_with_interval(ssim, "ssim", bootstrap), **_with_interval(psnr, "psnr", bootstrap)},
                 len(target), len(target), time.monotonic() - t0, extra)
    t0 = time.monotonic()
    ssim_b, psnr_b = _ssim_psnr_per_image(bicubic_degrade(target, size), target)
    rows += _rows(f"bicubic.{entry.dataset}_{entry.resolution}_sr{size}", "baseline", entry.dataset,
                  {**_with_interval(ssim_b, "ssim", bootstrap), **_with_interval(psnr_b, "psnr", bootstrap)},
                  len(target), len(target), time.monotonic() - t0, extra)
    gain = psnr - psnr_b
    print(f"{model_id}: PSNR gain over bicubic {gain.mean():.3f} dB (paired over {len(gain)} test images; "
          f"model better on {int((gain > 0).sum())})", file=sys.stderr)
    return rows


def evaluate_translation(model_id: str, bootstrap: int = 200, limit: int = 0) -> list[dict[str, Any]]:
    """FID/KID/precision/recall of the translated test images of the source class against the target class's test
    images, beside the untranslated baseline and a real floor at the same n (`limit`: at most this many images per
    side, for tests)."""
    from zoo.api import load
    from zoo.registry import get

    entry = get(model_id)
    info = dataset_info(entry.dataset, entry.resolution)
    model = load(model_id)
    names = info.class_names
    src, dst = int(model.config["source_class"]), names.index(model.config["target_domain"])
    test, train = load_data(info, "test"), load_data(info, "train")
    source = test["images"][test["labels"] == src]
    target = test["images"][test["labels"] == dst]
    if limit:
        source, target = source[:limit], target[:limit]
    n = len(source)
    pool = train["images"][train["labels"] == dst]
    floor_images = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))[:n]]
    real = embed(target, FEATURES)
    facts = {"features": FEATURES, "space": SPACE, "resolution": entry.resolution, "reference": f"test:{names[dst]}"}
    rows: list[dict[str, Any]] = []
    for row_id, kind, images, extra in (
            (model_id, "model", None, generator_facts(model_id)),
            (f"untranslated.{entry.dataset}_{entry.resolution}_{names[src]}".replace(" ", "-"), "baseline", source, {}),
            (f"real-train.{entry.dataset}_{entry.resolution}_{names[dst]}".replace(" ", "-"), "floor", floor_images, {})):
        t0 = time.monotonic()
        fake = model.translate(source, batch_size=64) if images is None else images
        rows += _rows(row_id, kind, entry.dataset, measure(embed(fake, FEATURES), real, bootstrap), n, len(real),
                      time.monotonic() - t0, {**facts, **extra})
    return rows


def evaluate(model_id: str, n: int = 0) -> list[dict[str, Any]]:
    """The rows of one model under the protocol its task calls for (`n`: generated images of a synthesis model,
    default the train split's size)."""
    from zoo.registry import get

    task = get(model_id).task
    if task == "super-resolution":
        return evaluate_super_resolution(model_id)
    if task == "image-translation":
        return evaluate_translation(model_id)
    return evaluate_synthesis(model_id, n=n)


def main(argv: list[str] | None = None) -> None:
    """Evaluate each model and append its rows to the results file."""
    import argparse

    p = argparse.ArgumentParser(description="the 128 px evaluation protocol")
    p.add_argument("models", nargs="+", help="model ids")
    p.add_argument("--threads", type=int, default=1, help="CPU threads")
    p.add_argument("--n", type=int, default=0, help="generated images (and real ones in the floor) for synthesis models; "
                   "default the train split's size")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for model_id in args.models:
        rows = evaluate(model_id, args.n)
        append_jsonl(results_path(), rows)
        for r in rows:
            ci = f" [{r['ci95'][0]:.4g}, {r['ci95'][1]:.4g}]" if "ci95" in r else ""
            print(f"{r['model_id']}\t{r['metric']}\t{r['value']:.4g}{ci}\tn={r['n']}")


if __name__ == "__main__":
    main()
