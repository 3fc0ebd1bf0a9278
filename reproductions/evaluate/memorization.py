"""Memorization check: do a model's images copy its training images?

For a generator, N generated images Q (N = the train split's size, at most MAX_GENERATED; conditional models in the
train split's class proportions) are compared with the real train split T, the real test split P and, as the
reference a non-copying model should match, the real validation split V (never seen in training), in two spaces
(raw pixels and the medzoo-resnet18 features):

- the distance from each image to its nearest training image and to its nearest test image, and the share of
  images nearer a training image than a test image;
- the data-copying statistic C_T of Meehan, Chaudhuri and Dasgupta (AISTATS 2020, "A non-parametric test to
  detect data-copying in generative models"): the space is cut into cells by k-means on T (after PCA to at most 64
  dimensions); in each cell holding at least TAU generated images, the Mann-Whitney U statistic of the
  nearest-training distances of Q against those of P is z-scored under the null (Q no closer than P); C_T is the
  average of those z-scores weighted by the cell's share of P. C_T << 0: the model's images lie closer to the
  training data than held-out images do (copying); C_T >> 0: farther (underfitting). V gives C_T's reference value;
- the share of images nearer a training image than the 5th percentile of the training images' own (leave-one-out)
  nearest-neighbour distances, for Q and for V;
- the 8 closest generated/training pairs (pixels) as a picture.

A translation model (CycleGAN) is checked the same way with its translations of the test split's source-class
images as Q against the target class's train, test and validation images. A super-resolution model restores
given test images, so only the paired question applies: the share of restored images nearer some training image
than their own ground truth (bicubic upsampling as the reference).

A model is flagged `copies` when, in either space, C_T < -CT_COPY and also C_T is more than CT_COPY below the
validation images' C_T (a test split that differs from the train split moves both; V shows by how much), or when
its share below the training 5th percentile is at least twice V's and above 10%. `underfits` is the mirror image
(C_T > CT_COPY and more than CT_COPY above V's in every space). One JSON line per (model, space) goes to
reproductions/results/memorization.jsonl; the picture to reproductions/results/memorization/<model>.png.

    python -m reproductions.evaluate.memorization                  # every bundled 28 px model, resumable
    python -m reproductions.evaluate.memorization --flag           # write the verdicts into cards and the registry
"""
from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from reproductions.common.data import dataset_info, load_split
from reproductions.common.train import environment
from reproductions.evaluate.results import RESULTS_DIR, append_jsonl, command_line, generator_facts, is_current, now, read_jsonl
from reproductions.evaluate.spaces import PIXELS, downsample, embed, embed_real, nearest, space_sha256

ROWS = RESULTS_DIR / "memorization.jsonl"
PICTURES = RESULTS_DIR / "memorization"
SPACES = (PIXELS, "medzoo-resnet18")
MAX_GENERATED = 2000  # images per model (DDPM samples ~5 images/s on one CPU thread)
TAU = 20  # a cell enters C_T only with at least this many generated images
CT_COPY = 3.0  # |C_T| above this is called copying (negative) or underfitting (positive)
PCA_DIM = 64
PAIRS = 8
TASKS = ("unconditional-synthesis", "conditional-synthesis", "mask-conditional-synthesis", "image-translation", "super-resolution")


def rows_path() -> Path:
    import os

    return Path(os.environ.get("MEDZOO_MEMORIZATION") or ROWS)


def n_cells(n_test: int) -> int:
    """k-means cells for C_T: about 50 test images per cell, 1 to 20 cells."""
    return int(max(1, min(20, n_test // 50)))


def mann_whitney_z(q: np.ndarray, p: np.ndarray) -> float:
    """z-score of the Mann-Whitney U of q against p (U counts pairs with q > p, ties half) under the null."""
    from scipy.stats import mannwhitneyu

    m, n = len(q), len(p)
    u = float(mannwhitneyu(q, p, alternative="less").statistic)
    return (u - m * n / 2) / math.sqrt(m * n * (m + n + 1) / 12)


def data_copying(train: np.ndarray, test: np.ndarray, gen: np.ndarray, k: int, seed: int = 0, tau: int = TAU,
                 pca_dim: int = PCA_DIM) -> dict[str, Any]:
    """Meehan et al.'s C_T of generated rows `gen` against `test`, relative to `train`, on k k-means cells of `train`."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    dim = min(pca_dim, train.shape[1], len(train) - 1)
    if dim < train.shape[1]:
        pca = PCA(n_components=dim, random_state=seed).fit(train)
        train, test, gen = pca.transform(train), pca.transform(test), pca.transform(gen)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(train)
    t_cells, p_cells, q_cells = km.labels_, km.predict(test), km.predict(gen)
    zs, weights, used = [], [], []
    for c in range(k):
        t, p, q = train[t_cells == c], test[p_cells == c], gen[q_cells == c]
        if len(t) == 0 or len(p) == 0 or len(q) < tau:
            continue
        lq, _ = nearest(q, t)
        lp, _ = nearest(p, t)
        zs.append(mann_whitney_z(lq, lp))
        weights.append(len(p) / len(test))
        used.append(c)
    ct = float(np.dot(weights, zs) / np.sum(weights)) if used else float("nan")
    return {"ct": ct, "cells": k, "cells_used": len(used), "cell_z": [round(z, 3) for z in zs],
            "test_share_used": round(float(np.sum(weights)), 4)}


def copying_stats(train: np.ndarray, test: np.ndarray, gen: np.ndarray, ref: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Every statistic of one space: nearest-train/test distances, C_T (and V's), shares below the train 5th percentile."""
    d_train, i_train = nearest(gen, train)
    d_test, _ = nearest(gen, test)
    r_train, _ = nearest(ref, train)
    r_test, _ = nearest(ref, test)
    loo, _ = nearest(train, train, exclude_self=True)
    p5 = float(np.percentile(loo, 5))
    k = n_cells(len(test))
    ct = data_copying(train, test, gen, k, seed)
    ct_ref = data_copying(train, test, ref, k, seed)
    order = np.argsort(d_train, kind="stable")[:PAIRS]
    return {
        "ct": round(ct["ct"], 4), "ct_cells": ct["cells"], "ct_cells_used": ct["cells_used"], "ct_cell_z": ct["cell_z"],
        "ct_reference": round(ct_ref["ct"], 4), "ct_reference_cells_used": ct_ref["cells_used"],
        "share_closer_to_train": round(float((d_train < d_test).mean()), 4),
        "share_closer_to_train_reference": round(float((r_train < r_test).mean()), 4),
        "median_d_train": round(float(np.median(d_train)), 5), "median_d_test": round(float(np.median(d_test)), 5),
        "median_d_train_reference": round(float(np.median(r_train)), 5),
        "median_d_train_train": round(float(np.median(loo)), 5), "train_nn_p5": round(p5, 5),
        "share_below_train_p5": round(float((d_train < p5).mean()), 4),
        "share_below_train_p5_reference": round(float((r_train < p5).mean()), 4),
        "closest": [[int(g), int(i_train[g]), round(float(d_train[g]), 5)] for g in order],
    }


def paired_stats(train: np.ndarray, out: np.ndarray, target: np.ndarray, baseline: np.ndarray) -> dict[str, Any]:
    """Super-resolution: share of outputs nearer some training image than their own target (and of the baseline's)."""
    d_train, i_train = nearest(out, train)
    d_own = np.linalg.norm(out - target, axis=1)
    b_train, _ = nearest(baseline, train)
    b_own = np.linalg.norm(baseline - target, axis=1)
    order = np.argsort(d_train, kind="stable")[:PAIRS]
    return {"share_closer_to_train_than_target": round(float((d_train < d_own).mean()), 4),
            "share_closer_to_train_than_target_reference": round(float((b_train < b_own).mean()), 4),
            "median_d_train": round(float(np.median(d_train)), 5), "median_d_target": round(float(np.median(d_own)), 5),
            "closest": [[int(g), int(i_train[g]), round(float(d_train[g]), 5)] for g in order]}


def verdict(rows: Sequence[dict[str, Any]]) -> str:
    """'copies', 'underfits', 'no evidence of copying' or 'not tested' from a model's rows (one per space)."""
    rows = [r for r in rows if r.get("ct") is not None or r.get("share_closer_to_train_than_target") is not None]
    if not rows:
        return "not tested"
    if any(r.get("share_closer_to_train_than_target") is not None for r in rows):
        paired = [r for r in rows if r.get("share_closer_to_train_than_target") is not None]
        worse = any(r["share_closer_to_train_than_target"] > max(0.10, 2 * r["share_closer_to_train_than_target_reference"])
                    for r in paired)
        return "copies" if worse else "no evidence of copying"
    valid = [r for r in rows if r["ct"] is not None and not math.isnan(r["ct"])]
    near = any(r["share_below_train_p5"] > max(0.10, 2 * r["share_below_train_p5_reference"]) for r in rows)
    if near or any(r["ct"] < -CT_COPY and r["ct"] - r["ct_reference"] < -CT_COPY for r in valid):
        return "copies"
    if valid and all(r["ct"] > CT_COPY and r["ct"] - r["ct_reference"] > CT_COPY for r in valid):
        return "underfits"
    return "no evidence of copying"


def _pairs_picture(gen: torch.Tensor, train: torch.Tensor, closest: list[list], path: Path, title: str) -> Path:
    """Generated images (top row) over their nearest training images (bottom row), pixel distance under each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(closest), figsize=(1.3 * len(closest), 3.1), squeeze=False)
    for j, (g, t, d) in enumerate(closest):
        for row, img in enumerate((gen[g], train[t])):
            ax = axes[row][j]
            arr = img.permute(1, 2, 0).numpy()
            ax.imshow(arr[..., 0] if arr.shape[2] == 1 else arr, cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[1][j].set_xlabel(f"{d:.2f}", fontsize=8)
    axes[0][0].set_ylabel("generated", fontsize=8)
    axes[1][0].set_ylabel("nearest train", fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _by_class(x: torch.Tensor, y: torch.Tensor, c: int) -> torch.Tensor:
    return x[y == c]


def inputs(model_id: str, seed: int = 0, data_dir: Optional[str] = None, max_generated: Optional[int] = None
           ) -> dict[str, Any]:
    """The image sets of one model's check: generated (or translated/restored) images and the real train/test/ref sets."""
    from zoo.api import load
    from zoo.registry import get

    entry = get(model_id)
    if entry.task not in TASKS:
        raise ValueError(f"{model_id} is a {entry.task} model; the memorization check takes {', '.join(TASKS)}")
    model = load(model_id)
    split = {s: load_split(entry.dataset, s, data_dir, entry.resolution) for s in ("train", "val", "test")}
    (tx, ty), (vx, vy), (px, py) = split["train"], split["val"], split["test"]
    part = ""
    if entry.task == "image-translation":
        src = int(model.config["source_class"])
        info = dataset_info(entry.dataset, entry.resolution if entry.resolution != 28 else None)
        dst = info.class_names.index(model.config["target_domain"])
        gen = model.translate(_by_class(px, py, src))
        tx, vx, px = _by_class(tx, ty, dst), _by_class(vx, vy, dst), _by_class(px, py, dst)
        part = f"-class{dst}"
        ref = vx
    elif entry.task == "super-resolution":
        from zoo.archs.pix2pix import bicubic_degrade

        size = int(model.config["input_resolution"])
        ref = bicubic_degrade(px, size)  # bicubic upsampling of the low-resolution image: the reference
        low = ref if int(model.input_size) == entry.resolution else downsample(px, size, "bicubic")
        gen = model.translate(low, batch_size=64)
    else:
        n = min(len(tx), max_generated or MAX_GENERATED)
        labels = None
        if entry.task != "unconditional-synthesis":
            labels = ty[torch.randperm(len(ty), generator=torch.Generator().manual_seed(seed))[:n]]
        gen, ref = model.generate(n, labels=labels, seed=seed, batch_size=64), vx
        gen = gen[0] if isinstance(gen, tuple) else gen  # mask-conditioned models: (images, masks)
    return {"entry": entry, "gen": gen, "train": tx, "test": px, "ref": ref, "part": part}


def check(model_id: str, spaces: Sequence[str] = SPACES, seed: int = 0, data_dir: Optional[str] = None,
          path: Optional[Path] = None, pictures: Path = PICTURES, max_generated: Optional[int] = None) -> list[dict[str, Any]]:
    """Run the check of one model in every space not yet stored for its weights; append and return the new rows
    (`max_generated`: fewer generated images for slow samplers)."""
    from zoo.registry import get

    path = path or rows_path()
    entry = get(model_id)
    facts = generator_facts(model_id)
    done = {(r["space"], r["space_sha256"]) for r in read_jsonl(path)
            if r["model_id"] == model_id and is_current(r, facts) and r["seed"] == seed}
    todo = [s for s in spaces if (s, space_sha256(s)) not in done]
    if not todo:
        return []
    t0 = time.monotonic()
    data = inputs(model_id, seed, data_dir, max_generated)
    t_gen = time.monotonic() - t0
    env = environment("cpu", 1)
    rows = []
    for space in todo:
        t1 = time.monotonic()
        ds = entry.dataset
        train = embed_real(data["train"], space, ds, "train", data["part"])
        test = embed_real(data["test"], space, ds, "test", data["part"])
        gen = embed(data["gen"], space)
        if entry.task == "super-resolution":
            stats = paired_stats(train, gen, test, embed(data["ref"], space))
            ref_name = "bicubic"
        else:
            stats = copying_stats(train, test, gen, embed_real(data["ref"], space, ds, "val", data["part"]), seed)
            ref_name = "val"
        row = {"model_id": model_id, "dataset": ds, "task": entry.task, "space": space, "space_sha256": space_sha256(space),
               **facts, "n_generated": len(data["gen"]), "n_train": len(data["train"]),
               "n_test": len(data["test"]), "n_reference": len(data["ref"]), "reference": ref_name, "seed": seed,
               "tau": TAU, "pca_dim": PCA_DIM, **stats}
        if space == PIXELS:
            title = f"{model_id}: the {PAIRS} generated images nearest a training image (pixel L2 under each)"
            pic = _pairs_picture(data["gen"], data["train"], stats["closest"], pictures / f"{model_id}.png", title)
            row["picture"] = str(pic.relative_to(RESULTS_DIR.parent.parent)) if pic.is_relative_to(RESULTS_DIR.parent.parent) else str(pic)
        row.update({"commit": env["git_commit"], "hardware": env["hardware"],
                    "seconds": round(time.monotonic() - t1 + (t_gen if space == todo[0] else 0), 1),
                    "command": command_line(), "recorded_at": now()})
        append_jsonl(path, [row])
        rows.append(row)
    return rows


def latest_rows(path: Optional[Path] = None) -> dict[str, list[dict[str, Any]]]:
    """The most recent row of every (model, space), grouped by model."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    for r in read_jsonl(path or rows_path()):
        last[(r["model_id"], r["space"])] = r
    out: dict[str, list[dict[str, Any]]] = {}
    for (model_id, _), r in sorted(last.items()):
        out.setdefault(model_id, []).append(r)
    return out


def summary_of(model_id: str, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The registry's `extra["memorization"]`: verdict, C_T per space, and where the rows live."""
    out: dict[str, Any] = {"verdict": verdict(rows), "rows": "reproductions/results/memorization.jsonl"}
    for r in rows:
        key = r["space"].replace("-", "_")
        if r.get("ct") is not None:
            out[f"ct_{key}"] = r["ct"]
        if r.get("share_closer_to_train_than_target") is not None:
            out[f"share_closer_to_train_than_target_{key}"] = r["share_closer_to_train_than_target"]
    out["n_generated"] = rows[0]["n_generated"]
    out["commit"] = rows[0]["commit"]
    return out


CARD_HEADING = "## Memorization"


def card_section(model_id: str, rows: Sequence[dict[str, Any]]) -> str:
    """The card's memorization section (Markdown), from the model's rows."""
    v = verdict(rows)
    lines = [CARD_HEADING, "", f"Verdict: **{v}** (medzoo's memorization check, `python -m reproductions.evaluate.memorization`).", ""]
    for r in rows:
        if r.get("ct") is not None:
            lines.append(f"- {r['space']}: C_T = {r['ct']:+.2f} (validation images: {r['ct_reference']:+.2f}; Meehan et al. 2020; "
                         f"copying: below -{CT_COPY:g} and {CT_COPY:g} below the validation images'); nearer a training than a test image: {r['share_closer_to_train']:.1%} "
                         f"(validation {r['share_closer_to_train_reference']:.1%}); below the training images' 5th-percentile "
                         f"neighbour distance: {r['share_below_train_p5']:.1%} (validation {r['share_below_train_p5_reference']:.1%}); "
                         f"n = {r['n_generated']} vs {r['n_train']} train, {r['n_test']} test")
        else:
            lines.append(f"- {r['space']}: restored test images nearer a training image than their own target: "
                         f"{r['share_closer_to_train_than_target']:.1%} (bicubic {r['share_closer_to_train_than_target_reference']:.1%}); "
                         f"n = {r['n_generated']}")
    lines += ["", f"Measured at commit {rows[0]['commit'][:12]} on {rows[0]['hardware']}. The closest generated/training pairs are "
              "shown on the model's documentation page.", ""]
    return "\n".join(lines)


def with_section(card: str, section: str) -> str:
    """The card with its memorization section replaced (or inserted before `## License`, else appended)."""
    import re

    body = re.sub(rf"\n{re.escape(CARD_HEADING)}\n.*?(?=\n## |\Z)", "\n", card, flags=re.S).rstrip("\n") + "\n"
    if "\n## License" in body:
        head, tail = body.split("\n## License", 1)
        return head.rstrip("\n") + "\n\n" + section + "\n## License" + tail
    return body + "\n" + section


def flag(model_id: str, rows: Sequence[dict[str, Any]]) -> Optional[Path]:
    """Write the verdict into the bundled card and the registry entry's `extra["memorization"]`; None when not bundled."""
    from zoo.registry import entry_from_folder, get, pretrained_dir, register

    entry = get(model_id)
    folder = pretrained_dir() / model_id
    readme = folder / "README.md"
    if not readme.is_file():
        return None
    tmp = folder / ".README.md.tmp"
    tmp.write_text(with_section(readme.read_text(encoding="utf-8"), card_section(model_id, rows)), encoding="utf-8")
    tmp.replace(readme)
    new = entry_from_folder(folder, revision=entry.revision, hub_repo=entry.hub_repo)
    new.extra = {**new.extra, "memorization": summary_of(model_id, rows)}
    register(new)
    return readme


def bundled_models(resolution: int = 28) -> list[str]:
    """Bundled models of `resolution` px that the check takes (generators and translators)."""
    from zoo.registry import entries, pretrained_dir

    return [k for k, e in sorted(entries().items())
            if e.resolution == resolution and e.task in TASKS and (pretrained_dir() / k / "model.safetensors").is_file()]


def main(models: Optional[str] = None, seed: int = 0, threads: int = 1, flag_models: bool = False,
         max_generated: Optional[int] = None) -> None:
    """Check every bundled 28 px model (or the comma-separated `models`); with `flag_models`, write the verdicts."""
    torch.set_num_threads(threads)
    ids = [m for m in (models.split(",") if models else bundled_models()) if m]
    for model_id in ids:
        t0 = time.monotonic()
        rows = check(model_id, seed=seed, max_generated=max_generated)
        for r in rows:
            print(f"[{time.strftime('%H:%M:%S')}] {model_id} {r['space']}: C_T {r.get('ct')} (ref {r.get('ct_reference')}) "
                  f"{r.get('share_below_train_p5', r.get('share_closer_to_train_than_target'))} ({time.monotonic() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
    if flag_models:
        for model_id, rows in latest_rows().items():
            if model_id in ids:
                where = flag(model_id, rows)
                print(f"{model_id}: {verdict(rows)}" + (f" (card {where})" if where else " (not bundled)"), file=sys.stderr)


def cli(models: str = "", seed: int = 0, threads: int = 1, flag_models: bool = False,
        max_generated: Optional[int] = None) -> None:
    """Command line: --models a,b (default every bundled 28 px model), --seed, --threads, --flag-models,
    --max-generated (generated images per model)."""
    main(models or None, seed, threads, flag_models, max_generated)


if __name__ == "__main__":
    import typer

    typer.run(cli)
