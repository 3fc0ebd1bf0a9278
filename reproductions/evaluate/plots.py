"""Figures from the stored results, each written by this script from the rows it shows:

- utility_<dataset>.png: the fair study's curves (mean, 95% CI over seeds) and gains_<dataset>.png: its paired gains
  over no augmentation (95% intervals over seeds, Holm-adjusted verdicts marked);
- utility_v1_<dataset>.png: the earlier, flawed protocol's curves (kept for the record, labelled so);
- fidelity_equal_n.png: FID of every model and floor at equal n with bootstrap 95% intervals;
- feature_sanity.png: FID/KID under blur, noise and mode dropping (reproductions.evaluate.sanity);
- study_samples_<dataset>.png: the real subset of one study group beside samples of the generators its arms used
  (those in the study's work dir), with each gate's verdict;
- fid_vs_training_images.png: each model's FID against the real images it was trained on;
- utility_highres.png and utility_chestxray.png: BUSI lesion segmentation and chest X-ray classification at 128 px
  (reproductions.evaluate.utility_highres, .utility_chestxray), test Dice / AUC per arm at each fraction and the
  paired gains over no augmentation, 95% intervals over seeds.

    python -m reproductions.evaluate.plots
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from reproductions.evaluate.cards import latest  # noqa: E402
from reproductions.evaluate.classifier import Recipe  # noqa: E402
from reproductions.evaluate.results import RESULTS_DIR, load_rows  # noqa: E402
from reproductions.evaluate.segmentation import ARMS as ARM_ORDER  # noqa: E402
from reproductions.evaluate.utility import PUBLISHED, summary  # noqa: E402



def _save(fig: plt.Figure, out: Path) -> Path:
    """Lay out, write at 120 dpi and close: every figure of the docs the same way."""
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out

def utility_figure(table: pd.DataFrame, dataset: str, out: Path, title: str = "utility of augmentation") -> Path:
    """AUC and ACC against the share of real training images, one line per arm with 95% CI error bars."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, metric in zip(axes, ("auc", "acc")):
        for arm, group in table.groupby("arm", sort=True):
            g = group.sort_values("fraction")
            ax.errorbar(g["fraction"] * 100, g[metric], yerr=g[f"{metric}_ci95"].fillna(0), marker="o", capsize=3, label=arm)
        if dataset in PUBLISHED:
            ax.axhline(PUBLISHED[dataset][0 if metric == "auc" else 1], color="grey", ls="--", lw=1, label="MedMNIST v2 ResNet-18 (28), 100%")
        ax.set_xscale("log")
        ax.set_xticks([1, 5, 10, 25, 100], ["1", "5", "10", "25", "100"])
        ax.set_xlabel("real training images used (% of the official train split)")
        ax.set_ylabel(f"test {metric.upper()}")
        ax.grid(alpha=0.3)
    lo, hi = int(table["seeds"].min()), int(table["seeds"].max())
    fig.suptitle(f"{dataset}: {title} (mean and 95% CI over {lo if lo == hi else f'{lo}-{hi}'} seeds)", fontsize=10)
    axes[1].legend(fontsize=7, loc="lower right")
    return _save(fig, out)


def utility_highres_figure(table: pd.DataFrame, out: Path, metric: str = "dice",
                           title: str = "BUSI lesion segmentation at 128 px, MONAI U-Net",
                           xlabel: str = "real training images used (% of BUSI's train split)") -> Path:
    """`metric` per arm at each fraction (mean, 95% t-interval over seeds) and each arm's paired gain over `none`; a
    cell with fewer than two seeds has no interval, and a gain's marker is filled when it survives Holm's correction."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    fractions = sorted(table.fraction.unique())
    arms = [a for a in ARM_ORDER if a in set(table.arm)] + sorted(set(table.arm) - set(ARM_ORDER))
    width = 0.8 / len(arms)
    name = {"dice": "Dice", "auc": "AUC", "acc": "accuracy"}.get(metric, metric)
    for k, arm in enumerate(arms):
        g = table[table.arm == arm].set_index("fraction").reindex(fractions)
        xs = np.array([i + (k - (len(arms) - 1) / 2) * width for i in range(len(fractions))])
        has_ci = (g.seeds >= 2).to_numpy()
        axes[0].bar(xs, g[metric], width, label=arm, color=f"C{k}")
        axes[0].errorbar(xs[has_ci], g[metric][has_ci], yerr=g[f"{metric}_ci95"][has_ci], fmt="none", ecolor="black", capsize=3)
        if arm != "none":
            lo = g.gain - g.gain_ci95.map(lambda c: c[0] if isinstance(c, list) else float("nan"))
            axes[1].errorbar(xs, g.gain, yerr=np.where(has_ci, lo, np.nan), fmt="o", capsize=3, color=f"C{k}",
                             markerfacecolor="white")
            survives = (g.p_holm < 0.05).to_numpy()
            axes[1].plot(xs[survives], g.gain[survives], "o", color=f"C{k}")  # filled: the gain survives Holm
    for ax, label in zip(axes, (f"test {name} (mean over seeds)", f"{name} gain over no augmentation (paired by seed)")):
        ax.set_xticks(range(len(fractions)), [f"{100 * f:g}%" for f in fractions])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].axhline(0, color="grey", lw=1)
    axes[0].legend(fontsize=7)
    seeds = table.groupby("fraction").seeds.min()
    fig.suptitle(f"{title}: 95% intervals over seeds ({', '.join(f'{100 * f:g}%: {n}' for f, n in seeds.items())}); "
                 "filled markers survive Holm", fontsize=10)
    return _save(fig, out)


def fid_figure(rows: pd.DataFrame, out: Path, features: str = "medzoo-resnet18") -> Path:
    """Each model's FID (and the real-train floor) against the number of real images it was trained on."""
    sel = latest(rows[(rows["metric"] == "fid") & (rows["features"] == features) & rows["kind"].isin(["model", "floor"])
                      & (rows["reference"] == "test")])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {d: f"C{i}" for i, d in enumerate(sorted(sel["dataset"].unique()))}
    for (dataset, kind), g in sel.groupby(["dataset", "kind"], sort=True):
        ax.scatter(g["train_images"], g["value"], marker="o" if kind == "model" else "*", s=60 if kind == "model" else 140,
                   color=colours[dataset], label=f"{dataset} ({'models' if kind == 'model' else 'real train vs test'})")
        for r in g.itertuples():
            ax.annotate(r.model_id.split(".")[0], (r.train_images, r.value), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel("real training images of the model")
    ax.set_ylabel(f"FID vs real test split ({features} features)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out)


def gains_figure(gains: pd.DataFrame, dataset: str, out: Path) -> Path:
    """Paired AUC gain over no augmentation per fraction and arm, 95% interval over seeds; filled markers survive Holm."""
    g = gains[gains["dataset"] == dataset]
    fig, ax = plt.subplots(figsize=(8, 4.4))
    arms = sorted(g["arm"].unique())
    for k, arm in enumerate(arms):
        a = g[g["arm"] == arm].sort_values("fraction")
        x = a["fraction"] * 100 * (1 + 0.04 * (k - len(arms) / 2))
        ax.errorbar(x, a["gain"], yerr=a["gain_ci95"].fillna(0), ls="none", capsize=3, color=f"C{k}", label=arm)
        sig = a["verdict"].isin(["helps", "hurts"])
        ax.scatter(x[sig], a["gain"][sig], color=f"C{k}", s=40, zorder=3)
        ax.scatter(x[~sig], a["gain"][~sig], facecolors="white", edgecolors=f"C{k}", s=40, zorder=3)
    ax.axhline(0, color="grey", lw=1)
    ax.set_xscale("log")
    ax.set_xticks([1, 5, 10, 25, 100], ["1", "5", "10", "25", "100"])
    ax.set_xlabel("real training images used (% of the official train split)")
    ax.set_ylabel("test AUC gain over no augmentation")
    ax.set_title(f"{dataset}: paired gains, 95% CI over seeds (filled: Holm-adjusted p < 0.05)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, out)


def fidelity_figure(table: pd.DataFrame, out: Path) -> Path:
    """FID (first draw) with its bootstrap 95% interval, per dataset and reference set; floors as grey bars."""
    groups = list(table.groupby(["dataset", "reference"], sort=True))
    fig, axes = plt.subplots(1, len(groups), figsize=(3.2 * len(groups), 4.2), squeeze=False)
    for ax, ((dataset, reference), g) in zip(axes[0], groups):
        g = g.sort_values(["kind", "fid"], ascending=[True, True])
        y = range(len(g))
        for yi, r in zip(y, g.itertuples()):
            colour = "grey" if r.kind == "floor" else "C0"
            ax.errorbar([r.fid], [yi], xerr=[[r.fid - r.fid_low], [r.fid_high - r.fid]], fmt="o", capsize=3, color=colour)
            if len(r.fid_draws) > 1:
                ax.scatter(r.fid_draws[1:], [yi] * (len(r.fid_draws) - 1), marker="x", color=colour, s=20, zorder=3)
        ax.set_yticks(list(y), [m.split(".")[0] if k == "model" else "real train (floor)" for m, k in zip(g["model_id"], g["kind"])],
                      fontsize=7)
        ax.set_title(f"{dataset} ({reference}), n={int(g['n'].iloc[0])}", fontsize=8)
        ax.set_xlabel("FID, 95% CI (x: other draws)", fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle("Fidelity at equal n (medzoo-resnet18 features): every model and the real-vs-real floor at the same n; "
                 "first draw with its bootstrap 95% CI", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def _grid(images: "torch.Tensor", n: int, cols: int = 4) -> np.ndarray:
    """n uint8 images as one grid, (H, W) grey or (H, W, 3) colour (white tiles where fewer than n are given)."""
    import torch
    from torchvision.utils import make_grid

    tiles = torch.ones((n, *images.shape[1:]))
    tiles[: len(images)] = images[:n].float() / 255
    grid = make_grid(tiles, nrow=cols, padding=1, pad_value=1.0)
    return grid[0].numpy() if images.shape[1] == 1 else grid.permute(1, 2, 0).numpy()


def _study_group(dataset: str, y: "torch.Tensor", root: Optional[Path] = None) -> Optional[dict]:
    """The largest fraction below 100% at seed 0 whose ACGAN and per-class arms have run and whose generators are in the
    study's work dir with the sha256 their rows record: its rows (by arm), subset indices and generators. `y`: the
    train split's labels, from which the subsets are drawn."""
    from reproductions.evaluate import generators, utility
    from reproductions.evaluate.subsets import subset_sha256
    from zoo.registry import sha256_file

    rows = utility.load(dataset=dataset)
    if rows.empty:
        return None
    rows = rows[(rows["seed"] == 0) & (rows["fraction"] < 1)]
    for fraction in sorted(rows["fraction"].unique(), reverse=True):
        g = rows[rows["fraction"] == fraction].set_index("arm")
        if not {"gan:acgan", "perclass:diffaugment"} <= set(g.index):
            continue
        idx = utility.subset(y, fraction, 0)
        classes = sorted(y[idx].unique().tolist())
        acgan = generators.cached(generators.folder("acgan", dataset, subset_sha256(idx), 0, generators.budget("acgan", 28),
                                                     root=root))
        per = {c: generators.cached(generators.folder("diffaugment", dataset, subset_sha256(idx[y[idx] == c]), 0,
                                                      generators.budget("diffaugment", 28), f"class{c}", root)) for c in classes}
        used = {g.loc["gan:acgan", "generator_sha256"]} | {f["generator_sha256"] for f in g.loc["perclass:diffaugment", "generators"] or []}
        if all(m is not None and sha256_file(m.folder / "model.safetensors") in used for m in (acgan, *per.values())):
            return {"fraction": fraction, "rows": g, "indices": idx, "classes": classes, "acgan": acgan, "per_class": per}
    return None


def study_samples_figure(dataset: str, out: Path, n: int = 8, root: Optional[Path] = None) -> Optional[Path]:
    """Real subset images beside samples of the generators its arms used, per class, with each gate's verdict, for
    the group `_study_group` finds (None when there is none)."""
    import torch

    from reproductions.common.data import dataset_info, load_split
    from reproductions.evaluate.utility import GATE_MARGIN

    x, y = load_split(dataset, "train")
    found = _study_group(dataset, y, root)
    if found is None:
        return None
    idx, classes, g = found["indices"], found["classes"], found["rows"]
    names = dataset_info(dataset).class_names
    ac, pc = found["acgan"].load(), {c: m.load() for c, m in found["per_class"].items()}
    sources = [("real subset", lambda c: x[idx[y[idx] == c][:n]]),
               ("ACGAN", lambda c: ac.generate(n, labels=torch.full((n,), c, dtype=torch.long), seed=1)),
               ("per-class DCGAN", lambda c: pc[c].generate(n, seed=1))]
    fig, axes = plt.subplots(len(sources), len(classes), figsize=(max(2.4 * len(classes), 7), 1.6 * len(sources) + 1),
                             squeeze=False)
    for i, (label, draw) in enumerate(sources):
        for j, c in enumerate(classes):
            ax = axes[i, j]
            ax.imshow(_grid(draw(c), n), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{names[c]} ({int((y[idx] == c).sum())} real)", fontsize=8)
            if j == 0:
                ax.set_ylabel(label, fontsize=8)

    def verdict(arm: str) -> str:
        gate = g.loc[arm, "gate"]
        return f"CAS AUC {gate['cas_auc']:.2f}, {'passed' if gate['passed'] else 'FAILED'}"
    fig.suptitle(f"{dataset}, {found['fraction']:.0%} of train, seed 0 (quality gate: CAS AUC > {0.5 + GATE_MARGIN:g})\n"
                 f"ACGAN: {verdict('gan:acgan')}; per-class DCGANs: {verdict('perclass:diffaugment')}", fontsize=8)
    return _save(fig, out)


def main(out_dir: Path = RESULTS_DIR, recipe: Optional[Recipe] = None) -> list[Path]:
    """Write every figure the stored results allow; return their paths."""
    from reproductions.evaluate import report, sanity
    from reproductions.evaluate.utility import STUDY_RECIPE, V1_FLAWED

    recipe = recipe or STUDY_RECIPE
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    table = summary(recipe=recipe)
    for dataset, g in table.groupby("dataset"):
        written.append(utility_figure(g, dataset, out_dir / f"utility_{dataset}.png", "fair protocol"))
    gains = report.paired_table(b=0)
    for dataset in sorted(gains["dataset"].unique()):
        written.append(gains_figure(gains, dataset, out_dir / f"gains_{dataset}.png"))
    if recipe == STUDY_RECIPE and V1_FLAWED.is_file():
        v1 = summary(V1_FLAWED, Recipe())
        for dataset, g in v1.groupby("dataset"):
            written.append(utility_figure(g, dataset, out_dir / f"utility_v1_{dataset}.png", "EARLIER, FLAWED protocol"))
    fid = report.fidelity_table()
    if not fid.empty:
        written.append(fidelity_figure(fid, out_dir / "fidelity_equal_n.png"))
    fig = sanity.figure(out=out_dir / "feature_sanity.png")
    if fig is not None:
        written.append(fig)
    rows = load_rows()
    if not rows.empty and (rows["metric"] == "fid").any():
        written.append(fid_figure(rows, out_dir / "fid_vs_training_images.png"))
    from reproductions.evaluate import utility_chestxray, utility_highres

    seg = utility_highres.summary()
    if not seg.empty:
        written.append(utility_highres_figure(seg, out_dir / "utility_highres.png"))
    cls = utility_chestxray.summary()
    if not cls.empty:
        written.append(utility_highres_figure(cls, out_dir / "utility_chestxray.png", "auc",
                                              "Chest X-ray classification at 128 px, timm ResNet-18",
                                              "real training images used (% of the chest X-ray train split)"))
    for dataset in sorted(gains["dataset"].unique()):
        fig = study_samples_figure(dataset, out_dir / f"study_samples_{dataset}.png")
        if fig is not None:
            written.append(fig)
    return written


if __name__ == "__main__":
    for path in main():
        print(f"wrote: {path}")
