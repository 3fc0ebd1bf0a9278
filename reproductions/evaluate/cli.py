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
    datasets: str = typer.Option("breastmnist,retinamnist,pneumoniamnist", help="comma-separated datasets, run in this order"),
    seeds: int = typer.Option(5, help="classifier seeds 0..N-1"),
    gen_seeds: int = typer.Option(3, help="generator arms run at seeds 0..N-1"),
    fractions: str = typer.Option("0.01,0.05,0.1,0.25,1.0", help="comma-separated shares of the train split"),
    privileged: bool = typer.Option(True, "--privileged/--no-privileged", help="also the privileged-* upper-bound arms"),
    threads: int = typer.Option(1, help="torch CPU threads"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir"),
    device: str = typer.Option("cpu", help="cpu or cuda: where generators and classifiers train"),
    shard: str = typer.Option("0/1", help="run only shard I of N (I/N), so N processes can share the study"),
    max_groups: int = typer.Option(0, help="stop after this many (dataset, fraction, seed) groups (0: all)"),
) -> None:
    """Run (or resume) every unfinished cell of the fair study; each finished cell is one line of reproductions/results/utility.jsonl."""
    import torch

    from reproductions.evaluate.utility import run

    try:
        i, n = (int(v) for v in shard.split("/"))
        fracs = tuple(float(f) for f in fractions.split(",") if f.strip())
    except ValueError:
        print(f"error: --shard must look like I/N (e.g. 0/4) and --fractions like 0.01,0.1; got {shard!r}, {fractions!r}", file=sys.stderr)
        raise typer.Exit(2) from None
    torch.set_num_threads(threads)
    names = [d.strip() for d in datasets.split(",") if d.strip()]
    try:
        ran = run(names, tuple(range(seeds)), fracs, data_dir=data_dir, device=device, shard=(i, n),
                  gen_seeds=tuple(range(gen_seeds)), privileged=privileged, max_groups=max_groups)
        print(f"ran {ran} cells")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from None


@utility_app.command("report")
def utility_report_cmd(dataset: Optional[str] = typer.Option(None), fmt: Format = typer.Option(Format.table, "--format"),
                       paired: bool = typer.Option(True, "--paired/--means", help="paired gains with Holm verdicts, or per-arm means"),
                       bootstrap: int = typer.Option(1000, help="bootstrap resamples of the test images (0: none)")) -> None:
    """Paired gains over no augmentation (95% intervals over seeds and over test images, Holm-adjusted verdicts), or means."""
    from reproductions.evaluate.utility import STUDY_RECIPE, summary

    print(f"recipe {STUDY_RECIPE.recipe_id()}: {STUDY_RECIPE.describe()}; equal steps per arm", file=sys.stderr)
    if not paired:
        emit(summary(dataset=dataset), fmt)
        return
    from reproductions.evaluate.report import paired_table

    emit(paired_table(dataset=dataset, b=bootstrap), fmt)


@utility_app.command("readme")
def utility_readme_cmd(check: bool = typer.Option(False, "--check", help="only compare: exit 1 when the README is out of date"),
                       readme: Optional[Path] = typer.Option(None, help="README to rewrite (default the repository's)")) -> None:
    """Rewrite the README's block on the fair study from the stored rows (paired gains, Holm verdicts, progress)."""
    from reproductions.evaluate import readme as block

    path = readme or block.README
    try:
        if check:
            text = path.read_text(encoding="utf-8")
            if block.rewrite(text, block.block()) != text:
                print(f"{path}: the utility-study block differs from the stored rows; run `medzoo utility readme`", file=sys.stderr)
                raise typer.Exit(1)
            print(f"{path}: the utility-study block matches the stored rows", file=sys.stderr)
            return
        changed = block.write(path)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(f"{path}: {'rewritten from' if changed else 'already matches'} the stored rows", file=sys.stderr)


@utility_app.command("check")
def utility_check_cmd(path: Optional[Path] = typer.Argument(None, help="cell file (default reproductions/results/utility.jsonl)")) -> None:
    """Check every row against the study's rules (fields, equal subset hashes outside privileged-* arms, one
    hardware/commit and step count per group); exit status 1 listing the violations."""
    from reproductions.evaluate.results import read_jsonl
    from reproductions.evaluate.utility import cells_path, check_rows

    rows = read_jsonl(path or cells_path())
    problems = check_rows(rows)
    for p in problems:
        print(p)
    print(f"{len(rows)} rows, {len(problems)} violation(s)", file=sys.stderr)
    raise typer.Exit(1 if problems else 0)
