"""Is the feature space fit for FID and KID? Known degradations of real images must raise both, monotonically.

On each dataset, real test images are degraded at increasing strength and compared with the real train split
(unchanged) in each space (the medzoo-resnet18 features, and raw pixels as a space that needs no training):

- Gaussian blur, sigma in BLUR pixels (0 = none);
- additive Gaussian noise, standard deviation in NOISE grey levels of 255, clipped;
- mode dropping by clusters: k-means (CLUSTERS cells, on a 32-d PCA of the test images' pixels, so the cells do not
  come from the space under test) and, per level, n = |test| images drawn with replacement from the test images of
  the k cells kept (k = CLUSTERS ... 1, cells dropped in a seeded random order; k = CLUSTERS also draws with
  replacement, so every level has the same duplicates);
- mode dropping by classes: the same with the dataset's classes as the cells (k = classes ... 1).

Each level is measured on REPEATS seeds (the noise, the draws and the dropping order; blur is deterministic, one); the check passes for a
(space, degradation, metric) when the mean over seeds rises strictly from each level to the next. One JSON line
per (dataset, space, degradation, level, seed) in reproductions/results/sanity.jsonl; the figure
reproductions/results/feature_sanity.png (`python -m reproductions.evaluate.sanity --plot`).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
import torch

from reproductions.common.data import load_split
from reproductions.common.train import environment
from reproductions.evaluate.equal_n import fid, kid
from reproductions.evaluate.results import RESULTS_DIR, append_jsonl, command_line, now, read_jsonl
from reproductions.evaluate.spaces import PIXELS, embed, embed_real, space_sha256

ROWS = RESULTS_DIR / "sanity.jsonl"
FIGURE = RESULTS_DIR / "feature_sanity.png"
DATASETS = ("breastmnist", "retinamnist", "pneumoniamnist")
SPACES = ("medzoo-resnet18", PIXELS)
BLUR = (0.0, 0.5, 1.0, 1.5, 2.0)
NOISE = (0.0, 8.0, 16.0, 32.0, 64.0)
CLUSTERS = 8
REPEATS = (0, 1, 2)
DEGRADATIONS = ("blur", "noise", "clusters", "classes")


def rows_path() -> Path:
    return Path(os.environ.get("MEDZOO_SANITY") or ROWS)


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of uint8 images (kernel 2*ceil(3 sigma)+1, reflect padding); sigma 0 returns them unchanged."""
    from torchvision.transforms.v2.functional import gaussian_blur

    if sigma <= 0:
        return images
    k = 2 * int(np.ceil(3 * sigma)) + 1
    return gaussian_blur(images, [k, k], [sigma, sigma])


def noise(images: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """Additive Gaussian noise of `std` grey levels, rounded and clipped to uint8."""
    if std <= 0:
        return images
    g = torch.Generator().manual_seed(seed)
    return (images.float() + std * torch.randn(images.shape, generator=g)).round().clamp(0, 255).to(torch.uint8)


def pixel_cells(images: torch.Tensor, k: int, seed: int = 0) -> np.ndarray:
    """k-means cell of each image, on a 32-d PCA of its pixels (independent of any learned feature space)."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    x = images.reshape(len(images), -1).double().numpy() / 255
    z = PCA(n_components=min(32, len(x) - 1, x.shape[1]), random_state=seed).fit_transform(x)
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit(z).labels_


def keep_cells(cells: np.ndarray, levels: Sequence[int], seed: int, n: int) -> dict[int, np.ndarray]:
    """For each number k of kept cells, n indices drawn with replacement from the images of the first k cells of a
    seeded random order of the cells."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(np.unique(cells))
    out = {}
    for k in levels:
        pool = np.flatnonzero(np.isin(cells, order[:k]))
        out[k] = pool[rng.integers(0, len(pool), n)]
    return out


def levels(degradation: str, n_classes: int) -> list[float]:
    """The strengths of a degradation, from none to most."""
    return {"blur": list(BLUR), "noise": list(NOISE), "clusters": [float(k) for k in range(CLUSTERS)],
            "classes": [float(k) for k in range(n_classes)]}[degradation]


def degraded(test: torch.Tensor, labels: torch.Tensor, degradation: str, seed: int, cells: np.ndarray) -> dict[float, torch.Tensor]:
    """The test images at every level of one degradation (level = blur sigma, noise std, or number of cells dropped)."""
    n_classes = int(labels.max()) + 1
    lv = levels(degradation, n_classes)
    if degradation == "blur":
        return {s: blur(test, s) for s in lv}
    if degradation == "noise":
        return {s: noise(test, s, seed) for s in lv}
    groups = cells if degradation == "clusters" else labels.numpy()
    total = len(np.unique(groups))
    picks = keep_cells(groups, [total - int(d) for d in lv], seed, len(test))
    return {d: test[torch.from_numpy(picks[total - int(d)])] for d in lv}


def run_dataset(dataset: str, spaces: Sequence[str] = SPACES, repeats: Sequence[int] = REPEATS,
                degradations: Sequence[str] = DEGRADATIONS, path: Optional[Path] = None, data_dir: Optional[str] = None,
                limit: int = 0) -> list[dict[str, Any]]:
    """Measure every (space, degradation, level, seed) of one dataset not yet stored; append and return the rows."""
    path = path or rows_path()
    (tx, _), (px, py) = load_split(dataset, "train", data_dir), load_split(dataset, "test", data_dir)
    if limit:
        tx, px, py = tx[:limit], px[:limit], py[:limit]
    done = {(r["space"], r["space_sha256"], r["degradation"], r["level"], r["seed"]) for r in read_jsonl(path)
            if r["dataset"] == dataset and r.get("limit", 0) == limit}
    cells = pixel_cells(px, CLUSTERS)
    env = environment("cpu", 1)
    rows = []
    for space in spaces:
        sha = space_sha256(space)
        train = embed_real(tx, space, dataset, "train", f"-limit{limit}" if limit else "")
        for degradation in degradations:
            for seed in (repeats[:1] if degradation == "blur" else repeats):  # blur is deterministic
                todo = [lv for lv in levels(degradation, int(py.max()) + 1) if (space, sha, degradation, lv, seed) not in done]
                if not todo:
                    continue
                images = degraded(px, py, degradation, seed, cells)
                for lv in todo:
                    t0 = time.monotonic()
                    f = embed(images[lv], space)
                    row = {"dataset": dataset, "space": space, "space_sha256": sha, "degradation": degradation, "level": lv,
                           "seed": seed, "fid": round(fid(f, train), 6), "kid": round(kid(f, train), 7), "n": len(f),
                           "n_reference": len(train), "reference": "train", "limit": limit, "commit": env["git_commit"],
                           "hardware": env["hardware"], "seconds": round(time.monotonic() - t0, 1),
                           "command": command_line(), "recorded_at": now()}
                    append_jsonl(path, [row])
                    rows.append(row)
    return rows


def verdicts(path: Optional[Path] = None, limit: int = 0) -> pd.DataFrame:
    """Per (dataset, space, degradation, metric): the mean at each level and whether it rises strictly throughout
    (rows of runs on the first `limit` images only when `limit` is given: tests)."""
    df = pd.DataFrame(read_jsonl(path or rows_path()))
    cols = ["dataset", "space", "degradation", "metric", "levels", "means", "seeds", "monotone"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    df = df[df["limit"].fillna(0) == limit] if "limit" in df else df
    df = df.sort_values("recorded_at").drop_duplicates(["dataset", "space", "space_sha256", "degradation", "level", "seed"], keep="last")
    out = []
    for (dataset, space, degradation), g in df.groupby(["dataset", "space", "degradation"], sort=True):
        for metric in ("fid", "kid"):
            m = g.groupby("level")[metric].mean().sort_index()
            out.append({"dataset": dataset, "space": space, "degradation": degradation, "metric": metric,
                        "levels": list(m.index), "means": [round(v, 6) for v in m.to_numpy()],
                        "seeds": int(g.groupby("level")["seed"].nunique().min()),
                        "monotone": bool(len(m) > 1 and np.all(np.diff(m.to_numpy()) > 0))})
    return pd.DataFrame(out, columns=cols)


def figure(path: Optional[Path] = None, out: Path = FIGURE, limit: int = 0) -> Optional[Path]:
    """FID (top) and KID (bottom) against degradation strength, one column per degradation, a line per dataset and space."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    v = verdicts(path, limit)
    if v.empty:
        return None
    degs = [d for d in DEGRADATIONS if d in set(v["degradation"])]
    fig, axes = plt.subplots(2, len(degs), figsize=(3.6 * len(degs), 7.0), squeeze=False)
    xlabel = {"blur": "Gaussian blur sigma (pixels)", "noise": "noise std (grey levels)", "clusters": "pixel clusters dropped (of 8)",
              "classes": "classes dropped"}
    colours = {d: f"C{i}" for i, d in enumerate(sorted(v["dataset"].unique()))}
    for j, deg in enumerate(degs):
        for i, metric in enumerate(("fid", "kid")):
            ax = axes[i][j]
            for r in v[(v["degradation"] == deg) & (v["metric"] == metric)].itertuples():
                ax.plot(r.levels, r.means, marker="o" if r.space != PIXELS else "x", ls="-" if r.space != PIXELS else ":",
                        color=colours[r.dataset], label=f"{r.dataset}, {r.space}" if i == 0 and j == 0 else None)
                if not r.monotone:
                    ax.annotate("not monotone", (r.levels[-1], r.means[-1]), fontsize=6, color=colours[r.dataset],
                                xytext=(-40, 4), textcoords="offset points")
            ax.set_xlabel(xlabel[deg], fontsize=8)
            ax.set_ylabel(metric.upper() + " vs real train split", fontsize=8)
            ax.set_yscale("symlog", linthresh=1e-3 if metric == "kid" else 1e-1)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
    fig.legend(loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle("Feature-space sanity: FID and KID of degraded real test images against the real train split "
                 "(mean over seeds; solid: medzoo-resnet18 features, dotted: pixels)", fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main(datasets: str = ",".join(DATASETS), threads: int = 1, plot_only: bool = False) -> None:
    """Run (resume) the sanity study on each dataset, then write the figure and print the verdicts."""
    torch.set_num_threads(threads)
    if not plot_only:
        for dataset in [d for d in datasets.split(",") if d]:
            t0 = time.monotonic()
            rows = run_dataset(dataset)
            print(f"[{time.strftime('%H:%M:%S')}] {dataset}: {len(rows)} rows ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
    print(f"figure: {figure()}", file=sys.stderr)
    print(verdicts().to_string(), file=sys.stderr)


if __name__ == "__main__":
    import typer

    typer.run(main)
