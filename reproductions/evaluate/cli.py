"""The evaluation commands (eval, leaderboard, utility), mounted into `medzoo` by medzoo.cli."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from catalog.cli import Format, emit

app = typer.Typer(help="Measure zoo models: fidelity, CAS, utility of augmentation.", no_args_is_help=True)


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
