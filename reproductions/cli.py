"""Command line of the reproductions: train a family, export a run, draw a sample grid (mounted into `medzoo`)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from reproductions import FAMILIES

app = typer.Typer(help="Train, export and inspect the zoo's reproduced GAN and diffusion models.", no_args_is_help=True)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _parse_sets(items: list[str]) -> dict[str, object]:
    """`key=value` config overrides; values are parsed as JSON when they can be (numbers, booleans)."""
    import json

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            _fail(f"--set expects key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


@app.command()
def train(
    family: str = typer.Argument(..., help=f"one of: {', '.join(FAMILIES)}"),
    dataset: str = typer.Option(..., "--dataset", help="pneumoniamnist, breastmnist or retinamnist"),
    epochs: Optional[int] = typer.Option(None, help="epochs over the official train split (family default if left out)"),
    seed: int = typer.Option(0, help="seed of initialisation, data order and noise"),
    resume: bool = typer.Option(False, "--resume", help="continue from the run folder's last checkpoint"),
    out: Optional[Path] = typer.Option(None, help="run folder for log and checkpoints (default runs/<family>.<dataset>_28)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder holding the MedMNIST .npz files"),
    device: str = typer.Option("cpu", help="cpu or cuda"),
    checkpoint_minutes: float = typer.Option(10.0, help="minutes between checkpoints (one is always written at the end)"),
    checkpoint_steps: int = typer.Option(0, help="also checkpoint every this many steps (0: off)"),
    limit: int = typer.Option(0, help="train on the first N train images only (tests; 0: all)"),
    set_: list[str] = typer.Option([], "--set", help="override a config field, key=value (repeatable)"),
) -> None:
    """Train FAMILY on the official train split of a dataset."""
    from reproductions.common.data import DATASETS

    if family not in FAMILIES:
        _fail(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    if dataset not in DATASETS:
        _fail(f"unknown dataset {dataset!r}; valid datasets: {', '.join(DATASETS)}")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        _fail(f"unknown device {device!r}; valid: cpu, cuda")
    from reproductions.common.checkpoint import CheckpointError
    from reproductions.common.data import DataError
    from reproductions.common.train import train as run_training

    run_dir = out or Path("runs") / f"{family}.{dataset}_28"
    try:
        run_training(family, dataset, run_dir, epochs=epochs, seed=seed, resume=resume, data_dir=data_dir, device=device,
                     checkpoint_minutes=checkpoint_minutes, checkpoint_steps=checkpoint_steps, limit=limit,
                     overrides=_parse_sets(set_))
    except (CheckpointError, DataError, ValueError) as e:
        _fail(str(e))
    typer.echo(f"trained: {run_dir}")


@app.command()
def export(
    checkpoint_dir: Path = typer.Argument(..., help="run folder written by `train`"),
    out: Optional[Path] = typer.Option(None, help="parent folder of the model folders (default zoo/pretrained)"),
    model_id: Optional[str] = typer.Option(None, "--model-id", help="model id (default <family>.<dataset>_28[_direction])"),
) -> None:
    """Export a run's latest checkpoint as Hugging Face model folder(s)."""
    from reproductions.common.checkpoint import CheckpointError
    from reproductions.common.export import export_run

    try:
        folders = export_run(checkpoint_dir, out, model_id)
    except (CheckpointError, ValueError) as e:
        _fail(str(e))
    for folder in folders:
        typer.echo(f"exported: {folder}")


@app.command()
def samples(
    model_dir: Path = typer.Argument(..., help="exported model folder (config.json + model.safetensors)"),
    out: Path = typer.Option(..., "--out", help="PNG file to write"),
    seed: int = typer.Option(0, help="noise seed"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder holding the MedMNIST .npz files (translation models)"),
) -> None:
    """Write a sample grid PNG from exported weights."""
    from reproductions.common.data import DataError
    from reproductions.common.samples import sample_grid

    if not (model_dir / "config.json").is_file():
        _fail(f"{model_dir} is not an exported model folder (no config.json)")
    try:
        typer.echo(f"wrote: {sample_grid(model_dir, out, data_dir, seed)}")
    except DataError as e:
        _fail(str(e))


if __name__ == "__main__":
    app()
