"""Fidelity at equal n with uncertainty: every model and the real-vs-real floor at the same n, bootstrap 95% intervals.

FID's and KID's values depend on the number of images compared, so a table that compares a floor of 546 real
images with models of 10,000 generated ones compares sample sizes as much as models. Here, per dataset:

- n = the size of the real train split (PneumoniaMNIST 4708, BreastMNIST 546, RetinaMNIST 1080). The floor is the
  train split against the test split; each generator makes n images (conditional models with labels in the train
  split's class proportions: its labels, shuffled), compared with the same test split.
- DRAWS generator seeds per model (one for DDPM, whose sampling is slow on CPU), each measured separately.
- 95% bootstrap intervals over images (BOOTSTRAP resamples of both sets) for FID and KID, as the estimate plus or
  minus 1.96 bootstrap standard deviations: resampling with replacement duplicates images, which lowers the
  effective n and so raises FID's n-dependent bias, so the resampled values sit above the estimate and a percentile
  interval would often exclude it (the percentile interval is stored too, as `*_boot_pct95`); KID is the
  unbiased MMD^2 with torch-fidelity's cubic polynomial kernel over the whole sets (the expectation of
  torch-fidelity's subset estimate); FID and precision/recall (k=3) of each draw are computed by torch-fidelity's
  own functions on the same features.
- Translators (CycleGAN): the translated test images of the source class against the target class's test images;
  the floor is as many real training images of the target class.
- CAS (conditional models): the evaluation classifier trained on n synthetic images in the train split's class
  proportions and its real-data floor both choose their checkpoint on the real validation split
  (`protocol.cas_scores`).

The same comparisons in raw-pixel space (point estimates) give the cross-space rank agreement.

Rows: one per (model, draw, space) in reproductions/results/fidelity.jsonl; the first draw's figures with their intervals
also go to reproductions/results/evaluations.jsonl (`protocol: equal-n`), which the leaderboard and cards read.

    python -m reproductions.evaluate.equal_n              # every bundled 28 px generator and translator, resumable
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from reproductions.common.data import dataset_info, load_split
from reproductions.common.train import environment
from reproductions.evaluate.results import (RESULTS_DIR, append_jsonl, command_line, generator_facts, is_current, now,
                                           read_jsonl, results_path)
from reproductions.evaluate.spaces import PIXELS, embed, embed_real, space_sha256

ROWS = RESULTS_DIR / "fidelity.jsonl"
DRAWS = (0, 1, 2)
SLOW_FAMILIES = {"ddpm": (0,), "ddpm_cfg": (0,)}  # sampling cost on CPU: one draw
BOOTSTRAP = 200
FEATURES = "medzoo-resnet18"
PROTOCOL = "equal-n"
METRICS = ("fid", "kid_mean", "precision", "recall")
SPACES = (FEATURES, PIXELS)  # the second space is the cross-check (no learned second extractor yet; see the docs)


def rows_path() -> Path:
    return Path(os.environ.get("MEDZOO_FIDELITY") or ROWS)


# ---- the statistics, on feature rows ----

def _sqrtm_psd(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def fid_from_stats(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians; tr sqrt(S1 S2) as the eigenvalues of the symmetric sqrt(S1) S2 sqrt(S1)."""
    a = _sqrtm_psd(s1)
    tr = np.sqrt(np.clip(np.linalg.eigvalsh(a @ s2 @ a), 0, None)).sum()
    d = mu1 - mu2
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * tr)


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """FID of two feature sets (rows)."""
    return fid_from_stats(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def poly_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """torch-fidelity's KID kernel: (a.b / d + 1)^3."""
    return (a @ b.T / a.shape[1] + 1) ** 3


def mmd2_unbiased(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray) -> float:
    """Unbiased MMD^2 from kernel matrices (diagonals of kxx and kyy left out)."""
    m, n = len(kxx), len(kyy)
    sx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    sy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sx + sy - 2 * kxy.mean())


def kid(a: np.ndarray, b: np.ndarray) -> float:
    """KID over the whole sets: unbiased MMD^2, cubic polynomial kernel."""
    return mmd2_unbiased(poly_kernel(a, a), poly_kernel(b, b), poly_kernel(a, b))


def bootstrap(fake: np.ndarray, real: np.ndarray, b: int = BOOTSTRAP, seed: int = 0) -> dict[str, np.ndarray]:
    """FID and KID of `b` resamples (with replacement) of both sets."""
    rng = np.random.default_rng(seed)
    kff, krr, kfr = poly_kernel(fake, fake), poly_kernel(real, real), poly_kernel(fake, real)
    fids, kids = np.empty(b), np.empty(b)
    for i in range(b):
        f = rng.integers(0, len(fake), len(fake))
        r = rng.integers(0, len(real), len(real))
        fids[i] = fid(fake[f], real[r])
        kids[i] = mmd2_unbiased(kff[np.ix_(f, f)], krr[np.ix_(r, r)], kfr[np.ix_(f, r)])
    return {"fid": fids, "kid_mean": kids}


def precision_recall(fake: np.ndarray, real: np.ndarray, k: int = 3) -> tuple[float, float]:
    """torch-fidelity's k-NN precision and recall (fake first)."""
    from torch_fidelity.metric_prc import calculate_precision_recall_full

    return calculate_precision_recall_full(torch.from_numpy(fake).float(), torch.from_numpy(real).float(), k, 10000)


def measure(fake: np.ndarray, real: np.ndarray, b: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Every figure of one comparison: FID (torch-fidelity's formula), KID, precision, recall, bootstrap intervals."""
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    stats = [fid_features_to_statistics(torch.from_numpy(x)) for x in (fake, real)]
    out: dict[str, Any] = {"fid": fid_statistics_to_metric(*stats, verbose=False)["frechet_inception_distance"],
                           "kid_mean": kid(fake, real)}
    out["precision"], out["recall"] = precision_recall(fake, real)
    if b:
        boot = bootstrap(fake, real, b, seed)
        for k, v in boot.items():
            sd = float(v.std(ddof=1))
            out[f"{k}_ci95"] = [out[k] - 1.96 * sd, out[k] + 1.96 * sd]
            out[f"{k}_boot_sd"] = sd
            out[f"{k}_boot_pct95"] = [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
    return {k: (round(v, 6) if isinstance(v, float) else [round(x, 6) for x in v] if isinstance(v, list) else v)
            for k, v in out.items()}


# ---- the images of each comparison ----

def prior_labels(train_labels: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n labels in the train split's class proportions (its labels repeated and shuffled)."""
    from reproductions.evaluate.utility import synthetic_labels

    return synthetic_labels(train_labels, n, seed)


def comparisons(model_id: str, draws: Sequence[int], data_dir: Optional[str] = None) -> list[dict[str, Any]]:
    """What one model is compared on: per draw, the fake images, the real reference and the floor's images."""
    from zoo.api import load
    from zoo.registry import get

    from reproductions.evaluate.protocol import train_images

    entry = get(model_id)
    model = load(model_id)
    (tx, ty), (px, py) = load_split(entry.dataset, "train", data_dir), load_split(entry.dataset, "test", data_dir)
    seen = train_images(model.config)
    out = []
    if entry.task == "image-translation":
        src = int(model.config["source_class"])
        dst = dataset_info(entry.dataset).class_names.index(model.config["target_domain"])
        source, target = px[py == src], px[py == dst]
        pool = tx[ty == dst]
        floor = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(0))[: len(source)]]
        out.append({"draw": 0, "fake": model.translate(source), "real": target, "part": f"-class{dst}",
                    "reference": f"test:{dataset_info(entry.dataset).class_names[dst]}", "floor": floor, "train_images": seen,
                    "floor_id": f"real-train.{entry.dataset}_{dataset_info(entry.dataset).class_names[dst]}".replace(" ", "-")})
        return out
    n = len(tx)
    for seed in draws:
        labels = prior_labels(ty, n, seed) if entry.task == "conditional-synthesis" else None
        out.append({"draw": seed, "fake": model.generate(n, labels=labels, seed=seed), "real": px, "part": "",
                    "reference": "test", "floor": tx, "floor_id": f"real-train.{entry.dataset}", "train_images": seen})
    return out


def draws_of(model_id: str) -> tuple[int, ...]:
    from zoo.registry import get

    return SLOW_FAMILIES.get(get(model_id).family, DRAWS)


def _row(model_id: str, kind: str, dataset: str, draw: int, m: dict[str, Any], n: int, n_real: int, reference: str,
         generator: dict[str, Any], t0: float, env: dict[str, Any], space: str = FEATURES, **extra: Any) -> dict[str, Any]:
    return {"model_id": model_id, "kind": kind, "dataset": dataset, "draw": draw, "n": n, "n_real": n_real,
            "reference": reference, "features": space, "features_sha256": space_sha256(space),
            **(generator or {"generator_sha256": None}), "bootstrap": BOOTSTRAP, **m, **extra, "commit": env["git_commit"],
            "hardware": env["hardware"], "seconds": round(time.monotonic() - t0, 1), "command": command_line(),
            "recorded_at": now()}


def run_model(model_id: str, draws: Optional[Sequence[int]] = None, path: Optional[Path] = None,
              data_dir: Optional[str] = None, b: int = BOOTSTRAP, spaces: Sequence[str] = SPACES) -> list[dict[str, Any]]:
    """Measure one model's draws (and its dataset's floor once) in each space, where not stored yet; append and return
    the rows. Bootstrap intervals for the first draw and the floor in the first space; the other draws and the
    cross-check spaces get point estimates (their spread over draws is reported beside the interval)."""
    from zoo.registry import get

    path = path or rows_path()
    entry = get(model_id)
    facts = generator_facts(model_id)
    done = {(r["model_id"], r["draw"], r["features_sha256"]) for r in read_jsonl(path) if is_current(r, facts)}
    draws = tuple(draws if draws is not None else draws_of(model_id))
    if entry.task == "image-translation":
        draws = (0,)
    todo = [d for d in draws if any((model_id, d, space_sha256(s)) not in done for s in spaces)]
    if not todo:
        return []
    env = environment("cpu", 1)
    rows = []
    label_prior = "train" if entry.task == "conditional-synthesis" else None
    for c in comparisons(model_id, todo, data_dir):
        for k, space in enumerate(spaces):
            sha = space_sha256(space)
            boot = b if k == 0 and c["draw"] == min(draws) else 0  # intervals for the first draw (the one reported)
            real = embed_real(c["real"], space, entry.dataset, "test", c["part"])
            if (model_id, c["draw"], sha) not in done:
                t0 = time.monotonic()
                fake = embed(c["fake"], space)
                rows.append(_row(model_id, "model", entry.dataset, c["draw"], measure(fake, real, boot, c["draw"]), len(fake),
                                 len(real), c["reference"], facts, t0, env, space, label_prior=label_prior,
                                 train_images=c["train_images"]))
                append_jsonl(path, rows[-1:])
            if (c["floor_id"], 0, sha) not in done:
                t0 = time.monotonic()
                boot = b if k == 0 else 0
                floor = embed_real(c["floor"], space, entry.dataset, "train", f"{c['part']}-n{len(c['floor'])}")
                rows.append(_row(c["floor_id"], "floor", entry.dataset, 0, measure(floor, real, boot, 0), len(floor), len(real),
                                 c["reference"], None, t0, env, space, train_images=len(floor)))
                append_jsonl(path, rows[-1:])
                done.add((c["floor_id"], 0, sha))
    return rows


def sync_evaluations(path: Optional[Path] = None, evaluations: Optional[Path] = None) -> int:
    """Write every stored first-draw row of fidelity.jsonl not yet in evaluations.jsonl (idempotent, so an interrupted
    run's rows reach the leaderboard and cards too); returns how many evaluation rows were written."""
    from reproductions.evaluate.results import load_rows

    ev = load_rows(evaluations, current_only=False)
    have = set()
    if not ev.empty and "protocol" in ev:
        sel = ev[ev["protocol"] == PROTOCOL]
        have = set(zip(sel["model_id"], sel["recorded_at"]))
    todo = [r for r in read_jsonl(path or rows_path()) if (r["model_id"], r["recorded_at"]) not in have]
    return to_evaluations(todo, evaluations)


def to_evaluations(rows: Sequence[dict[str, Any]], path: Optional[Path] = None) -> int:
    """Each first draw's figures as evaluation rows (protocol equal-n, with intervals); returns how many were written."""
    out = []
    for r in rows:
        if r["draw"] != 0 or r["features"] != FEATURES:
            continue
        for metric in METRICS:
            ci = r.get(f"{metric}_ci95")
            out.append({"model_id": r["model_id"], "dataset": r["dataset"], "kind": r["kind"], "metric": metric,
                        "value": r[metric], "n": r["n"], "n_real": r["n_real"], "seed": 0, "features": r["features"],
                        "reference": r["reference"], "commit": r["commit"], "hardware": r["hardware"], "seconds": r["seconds"],
                        "command": r["command"], "recorded_at": r["recorded_at"], "features_sha256": r["features_sha256"],
                        "protocol": PROTOCOL, "generator_sha256": r.get("generator_sha256"),
                        **({"config_sha256": r["config_sha256"]} if r.get("config_sha256") else {}),
                        "ci_low": ci[0] if ci else None, "ci_high": ci[1] if ci else None,
                        **({"ci95": list(ci)} if ci else {}),  # the [low, high] form highres.py and the cards read
                        "bootstrap": r["bootstrap"] if ci else 0, "train_images": r.get("train_images"),
                        **({"label_prior": r["label_prior"]} if r.get("label_prior") else {})})
    if out:
        append_jsonl(path or results_path(), out)
    return len(out)


def cas(model_id: str, data_dir: Optional[str] = None) -> list[dict[str, Any]]:
    """CAS of a conditional model and its floor by `protocol`'s rules (train-split label prior, real-val checkpoints)."""
    from reproductions.evaluate import protocol

    p = protocol.plan(model_id, n=len(load_split(get_dataset(model_id), "train", data_dir)[0]), features=FEATURES, data_dir=data_dir)
    rec = protocol._Recorder(p, command_line())
    protocol._cas(rec, protocol.Recipe())
    append_jsonl(results_path(), rec.rows)
    return rec.rows


def get_dataset(model_id: str) -> str:
    from zoo.registry import get

    return get(model_id).dataset


def bundled(resolution: int = 28) -> list[str]:
    """Bundled generators and translators of `resolution` px (the fidelity table's models)."""
    from zoo.registry import entries, pretrained_dir

    tasks = ("unconditional-synthesis", "conditional-synthesis", "image-translation")
    found = [(e.family in SLOW_FAMILIES, k) for k, e in sorted(entries().items())
             if e.resolution == resolution and e.task in tasks and (pretrained_dir() / k / "model.safetensors").is_file()]
    return [k for _, k in sorted(found)]  # slow samplers (DDPM) last


def cas_done(model_id: str) -> bool:
    """Whether CAS rows of the current protocol (real-val selection) are stored for the model's current weights."""
    from reproductions.evaluate.results import load_rows

    df = load_rows()
    if df.empty or "selection" not in df.columns:
        return False
    sel = df[(df["model_id"] == model_id) & (df["metric"] == "cas_auc") & (df["selection"] == "real-val")]
    return not sel.empty


def main(models: str = "", threads: int = 1, bootstrap_n: int = BOOTSTRAP, with_cas: bool = True) -> None:
    """Every bundled 28 px generator and translator (or the comma-separated `models`); resumable."""
    from zoo.registry import get

    torch.set_num_threads(threads)
    for model_id in [m for m in (models.split(",") if models else bundled()) if m]:
        t0 = time.monotonic()
        from reproductions.evaluate.cards import update_card

        rows = run_model(model_id, b=bootstrap_n)
        if sync_evaluations():  # the cards' model-index shows the equal-n figures as soon as they are stored
            for mid in sorted({r["model_id"] for r in read_jsonl(rows_path()) if r["kind"] == "model"}):
                update_card(mid)
        for r in rows:
            ci = r.get("fid_ci95") or [float("nan")] * 2
            print(f"[{time.strftime('%H:%M:%S')}] {r['model_id']} {r['features']} draw {r['draw']}: FID {r['fid']:.4f} [{ci[0]:.4f}, {ci[1]:.4f}] "
                  f"KID {r['kid_mean']:.5f} P {r['precision']:.3f} R {r['recall']:.3f} n={r['n']} vs {r['n_real']} "
                  f"({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
        if with_cas and get(model_id).task == "conditional-synthesis" and not cas_done(model_id):
            for r in cas(model_id):
                print(f"[{time.strftime('%H:%M:%S')}] {r['model_id']} {r['metric']} {r['value']:.4f} (selection real-val)",
                      file=sys.stderr, flush=True)
                rows.append(r)
            update_card(model_id)


if __name__ == "__main__":
    import typer

    typer.run(main)
