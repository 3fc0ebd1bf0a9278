"""The `medzoo` command: catalog queries, model zoo, training and evaluation, in one CLI."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from catalog.cli import Format, emit
from catalog.cli import register as register_catalog

app = typer.Typer(help="medzoo: GAN-based medical image augmentation, literature catalog and model zoo.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
catalog_app = register_catalog(app)


@catalog_app.command("coverage")
def coverage_cmd(fmt: Format = typer.Option(Format.table, "--format"), db: Optional[str] = typer.Option(None, "--db", envvar="MEDZOO_DB")) -> None:
    """Coverage report: papers per term, fields filled and sourced, papers missing a DOI, families with models."""
    import json

    from catalog.coverage import coverage
    from zoo.registry import list_models

    rep = coverage(set(list_models().family), db=db)
    if fmt == Format.json:
        print(json.dumps({"papers": rep.papers, "with_doi": rep.with_doi,
                          "fields": rep.fields.to_dict("records"), "families": rep.families.to_dict("records"),
                          "missing_doi": rep.missing_doi.to_dict("records"),
                          "counts": {k: v.to_dict("records") for k, v in rep.counts.items()}}, indent=2, default=str))
        return
    print(rep.summary())
    emit(rep.fields, fmt, title="fields filled and sourced")
    emit(rep.families, fmt, title="architecture families with reproductions")
    for by in ("organ", "modality", "year"):
        emit(rep.counts[by], fmt, title=f"papers by {by}")
    emit(rep.missing_doi, fmt, title="papers without a DOI")


def _mount_reproductions() -> None:
    """Add `train`, `export` and `samples` from reproductions.cli when that package is present."""
    try:
        from reproductions.cli import app as repro_app
    except ImportError:
        return
    app.registered_commands.extend(repro_app.registered_commands)


_mount_reproductions()


@app.command("models")
def models_cmd(family: Optional[str] = None, dataset: Optional[str] = None, organ: Optional[str] = None,
               modality: Optional[str] = None, task: Optional[str] = None,
               fmt: Format = typer.Option(Format.table, "--format")) -> None:
    """Registered pretrained models, filtered by family, dataset, organ, modality or task."""
    from zoo.registry import list_models

    df = list_models(family=family, dataset=dataset, organ=organ, modality=modality, task=task)
    emit(df, fmt, ["model_id", "family", "dataset", "organ", "modality", "task", "num_classes", "params", "revision"])


@app.command("info")
def info_cmd(model_id: str) -> None:
    """Print a model's card (README.md)."""
    from zoo.api import info

    print(info(model_id))


@app.command("generate")
def generate_cmd(model_id: str, n: int = typer.Option(64, "-n", help="number of images"),
                 label: Optional[int] = typer.Option(None, help="class for conditional models (default: balanced)"),
                 seed: int = typer.Option(0), out: Path = typer.Option(..., "--out", help="folder for the PNG files"),
                 grid: Optional[str] = typer.Option(None, help="file name of a sample grid, written inside --out"),
                 batch_size: int = typer.Option(256), overwrite: bool = typer.Option(False),
                 device: str = typer.Option("cpu")) -> None:
    """Generate N images as PNG files, streamed to disk batch by batch."""
    import torch
    from tqdm import tqdm

    from zoo.api import load
    from zoo.io import prepare_dir, safe_child, save_grid, write_png

    if n <= 0:
        raise ValueError(f"-n must be a positive number of images, got {n}")
    folder = prepare_dir(out)
    grid_path = safe_child(folder, grid) if grid else None
    model = load(model_id, device=device)
    written, first = 0, []
    with tqdm(total=n, desc=model_id, unit="img") as bar:
        for images, labels in model.iter_generate(n, labels=label, seed=seed, batch_size=batch_size):
            for k, img in enumerate(images):
                name = f"{written:06d}" + (f"_label{int(labels[k])}" if labels is not None else "") + ".png"
                write_png(safe_child(folder, name), img, overwrite)
                written += 1
            if len(first) < 64:
                first.append(images[: 64 - len(first)])
            bar.update(len(images))
    if grid_path is not None:
        save_grid(grid_path, torch.cat(first), nrow=8, overwrite=overwrite)
    print(f"wrote {written} images to {folder}" + (f" and the grid {grid_path}" if grid_path else ""))


@app.command("translate")
def translate_cmd(model_id: str, images: list[Path], out: Path = typer.Option(..., "--out"),
                  overwrite: bool = typer.Option(False), device: str = typer.Option("cpu")) -> None:
    """Translate image files (PNG/JPEG at the model's size) and write the results as PNG into --out."""
    import torch

    from zoo.api import load
    from zoo.io import prepare_dir, read_image, safe_child, write_png

    model = load(model_id, device=device)
    folder = prepare_dir(out)
    targets = [safe_child(folder, f"{p.stem}_{model_id.split('.')[0]}.png") for p in images]
    if not overwrite:
        clash = [t for t in targets if t.exists()]
        if clash:
            raise FileExistsError(f"{clash[0]} exists; pass --overwrite to replace it")
    batch = torch.stack([read_image(p, model.channels, model.resolution) for p in images])
    for t, img in zip(targets, model.translate(batch)):
        write_png(t, img, overwrite)
    print(f"wrote {len(targets)} images to {folder}")


def main() -> None:
    """Entry point: user errors print one clear line and exit with status 2, never a traceback."""
    from catalog.cli import fast_main
    from catalog.errors import CatalogError

    try:
        if not fast_main(sys.argv[1:]):  # plain catalog queries skip typer's pydantic-based parsing (bench/loading.py)
            app()
    except (CatalogError, ValueError, KeyError, FileNotFoundError, FileExistsError, PermissionError, TypeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)


@app.command("publish")
def publish_cmd(model_id: str, repo: str = typer.Option(..., "--repo", help="Hub repo to upload to, org/name"),
                endpoint: Optional[str] = typer.Option(None, help="Hub URL (default $HF_ENDPOINT, else huggingface.co)"),
                token: Optional[str] = typer.Option(None, help="Hub token with write access (default: the logged-in one)"),
                private: bool = typer.Option(False, help="create the repo as private")) -> None:
    """Upload a bundled model to the Hub, verify it, and pin the registry to the new commit."""
    from zoo.publish import PublishError, publish

    try:
        revision = publish(model_id, repo, endpoint=endpoint, token=token, private=private)
    except PublishError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(f"published {model_id} to {repo} at commit {revision}")


docs_app = typer.Typer(help="Build the documentation site from the catalog database and the zoo registry.",
                       no_args_is_help=True)
app.add_typer(docs_app, name="docs")


@docs_app.command("build")
def docs_build_cmd(
    site: Optional[Path] = typer.Option(None, "--site", help="folder to write the site into (default: site/)"),
    db: Optional[str] = typer.Option(None, "--db", envvar="MEDZOO_DB", help="SQLAlchemy URL or SQLite path (default: the cached catalog)"),
) -> None:
    """Build the site with `mkdocs build --strict`, offline: every data page generated at build time."""
    import os
    import subprocess
    import time

    root = Path(__file__).resolve().parents[1]
    config = root / "mkdocs.yml"
    if not config.is_file():
        raise FileNotFoundError(f"{config} is missing: the site builds from a source checkout of medzoo")
    out = (site or root / "site").resolve()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    if db:
        env["MEDZOO_DB"] = db
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-f", str(config), "-d", str(out)]
    start = time.perf_counter()
    if subprocess.run(cmd, env=env, cwd=root).returncode:
        print("error: the strict site build failed; the warnings above say why", file=sys.stderr)
        raise typer.Exit(1)
    pages = sum(1 for _ in out.rglob("index.html"))
    print(f"built {pages} pages into {out} in {time.perf_counter() - start:.0f} s")


@app.command("eval")
def eval_cmd(
    model_id: str,
    n: int = typer.Option(10000, "--n", "-n", help="images to generate (translation: test images to translate, at most all)"),
    features: str = typer.Option("medzoo-resnet18", help="feature extractor: a zoo feature-extraction model, or inception"),
    seed: int = typer.Option(0, help="seed of generation and of KID's subsets"),
    kid_subset_size: Optional[int] = typer.Option(None, help="KID subset size (default min(1000, n, real images))"),
    cas: bool = typer.Option(True, "--cas/--no-cas", help="train the CAS classifier (conditional models)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder holding the MedMNIST .npz files"),
    threads: int = typer.Option(0, help="torch CPU threads (0: torch's default)"),
    fmt: Format = typer.Option(Format.table, "--format"),
) -> None:
    """Evaluate a zoo model with medzoo's protocol; rows go to reproductions/results/evaluations.jsonl and its card."""
    import pandas as pd
    import torch

    from reproductions.evaluate.cards import update_card
    from reproductions.evaluate.protocol import plan, run

    if threads:
        torch.set_num_threads(threads)
    rows = run(plan(model_id, n, features, seed, kid_subset_size, cas, data_dir))
    card = update_card(model_id)
    emit(pd.DataFrame(rows), fmt, ["model_id", "kind", "metric", "value", "n", "n_real", "reference", "features", "seconds"])
    print(f"model card updated and re-registered: {card}" if card else f"{model_id} is not bundled: its card was not updated",
          file=sys.stderr)


@app.command("leaderboard")
def leaderboard_cmd(
    dataset: str = typer.Option(..., "--dataset"), metric: str = typer.Option("fid", "--metric"),
    features: str = typer.Option("medzoo-resnet18", help="feature space of distribution metrics"),
    seed: Optional[int] = typer.Option(None), fmt: Format = typer.Option(Format.table, "--format"),
) -> None:
    """Rank models on a dataset by a stored metric (floors and baselines listed unranked)."""
    from reproductions.evaluate.leaderboard import leaderboard

    emit(leaderboard(dataset, metric, features, seed), fmt, title=f"{metric} on {dataset}")


utility_app = typer.Typer(help="The utility study: classifiers on 1-100% of real data, with and without augmentation.",
                          no_args_is_help=True)
app.add_typer(utility_app, name="utility")


@utility_app.command("run")
def utility_run_cmd(
    datasets: str = typer.Option("pneumoniamnist,breastmnist", help="comma-separated datasets, run in this order"),
    seeds: int = typer.Option(3, help="seeds 0..N-1"), threads: int = typer.Option(1, help="torch CPU threads"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir"),
    device: str = typer.Option("cpu", help="cpu or cuda: where the classifiers train"),
    shard: str = typer.Option("0/1", help="run only shard I of N (I/N), so N processes can share the study"),
) -> None:
    """Run (or resume) every unfinished cell; each finished cell is one line of reproductions/results/utility.jsonl."""
    import torch

    from reproductions.evaluate.utility import run

    try:
        i, n = (int(v) for v in shard.split("/"))
    except ValueError:
        print(f"error: --shard must look like I/N (e.g. 0/4), got {shard!r}", file=sys.stderr)
        raise typer.Exit(2) from None
    torch.set_num_threads(threads)
    names = [d.strip() for d in datasets.split(",") if d.strip()]
    try:
        print(f"ran {run(names, tuple(range(seeds)), data_dir=data_dir, device=device, shard=(i, n))} cells")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from None


@utility_app.command("report")
def utility_report_cmd(dataset: Optional[str] = typer.Option(None), fmt: Format = typer.Option(Format.table, "--format")) -> None:
    """Mean and 95% CI of AUC/ACC per (dataset, fraction, arm), and the 100%/none row against MedMNIST v2's ResNet-18 (28)."""
    from reproductions.evaluate.classifier import Recipe
    from reproductions.evaluate.utility import summary

    print(f"recipe {Recipe().recipe_id()}: {Recipe().describe()}", file=sys.stderr)
    emit(summary(dataset=dataset), fmt)
