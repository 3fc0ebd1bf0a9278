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
    dataset: Optional[str] = typer.Option(None, "--dataset", help="a catalog dataset (pneumoniamnist, breastmnist, retinamnist, chestxray, busi)"),
    resolution: Optional[int] = typer.Option(None, "--resolution", help="resize images to R x R on load (folders; MedMNIST is 28)"),
    epochs: Optional[int] = typer.Option(None, help="epochs over the official train split (family default if left out)"),
    seed: int = typer.Option(0, help="seed of initialisation, data order and noise"),
    resume: bool = typer.Option(False, "--resume", help="continue from the run folder's last checkpoint"),
    out: Optional[Path] = typer.Option(None, help="run folder for log and checkpoints (default runs/<family>.<dataset>_<resolution>)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder of the catalog datasets, or, without --dataset, your own image folder (ROOT/<class>/<image>[_mask.png])"),
    device: str = typer.Option("cpu", help="cpu or cuda"),
    checkpoint_minutes: float = typer.Option(10.0, help="minutes between checkpoints (one is always written at the end)"),
    checkpoint_steps: int = typer.Option(0, help="also checkpoint every this many steps (0: off)"),
    limit: int = typer.Option(0, help="train on N train images drawn at random, seed 0 (tests, quick tries; 0: all)"),
    set_: list[str] = typer.Option([], "--set", help="override a config field, key=value (repeatable)"),
) -> None:
    """Train FAMILY on the train split of a catalog dataset, or of your own image folder (--data-dir without --dataset)."""
    _train(family, dataset, resolution, epochs, seed, resume, out, data_dir, device, checkpoint_minutes, checkpoint_steps,
           limit, set_, None)


def _train(family: str, dataset: str | None, resolution: int | None, epochs: int | None, seed: int, resume: bool,
           out: Path | None, data_dir: Path | None, device: str, checkpoint_minutes: float, checkpoint_steps: int,
           limit: int, set_: list[str], init_from: Path | None) -> Path:
    if family not in FAMILIES:
        _fail(f"unknown family {family!r}; valid families: {', '.join(FAMILIES)}")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        _fail(f"unknown device {device!r}; valid: cpu, cuda")
    if dataset is None and data_dir is None:
        _fail("pass --dataset NAME (a catalog dataset) or --data-dir PATH (your own image folder)")
    from reproductions.common.checkpoint import CheckpointError
    from reproductions.common.data import DataError, dataset_info
    from reproductions.common.train import train as run_training

    source = dataset if dataset is not None else str(data_dir)
    try:
        info = dataset_info(source, resolution)
    except DataError as e:
        _fail(str(e))
    run_dir = out or Path("runs") / f"{family}.{info.name}_{info.resolution}"
    try:
        run_training(family, source, run_dir, epochs=epochs, seed=seed, resume=resume,
                     data_dir=data_dir if dataset is not None else None, device=device,
                     checkpoint_minutes=checkpoint_minutes, checkpoint_steps=checkpoint_steps, limit=limit,
                     overrides=_parse_sets(set_), resolution=resolution, init_from=init_from)
    except (CheckpointError, DataError, ValueError) as e:
        _fail(str(e))
    typer.echo(f"trained: {run_dir}")
    return run_dir


@app.command()
def finetune(
    model_id: str = typer.Argument(..., help="a zoo model id (its family, resolution and hyper-parameters are kept)"),
    data_dir: Path = typer.Option(..., "--data-dir", help="your image folder: ROOT/<class>/<image>[, <name>_mask.png]"),
    epochs: int = typer.Option(10, help="epochs over your train split"),
    seed: int = typer.Option(0, help="seed of data order and noise"),
    resume: bool = typer.Option(False, "--resume", help="continue from the run folder's last checkpoint"),
    out: Optional[Path] = typer.Option(None, help="run folder (default runs/<model id>-finetuned)"),
    device: str = typer.Option("cpu", help="cpu or cuda"),
    checkpoint_minutes: float = typer.Option(10.0, help="minutes between checkpoints"),
    limit: int = typer.Option(0, help="train on the first N images only (0: all)"),
    set_: list[str] = typer.Option([], "--set", help="override a config field, key=value (repeatable)"),
) -> None:
    """Continue training a zoo model on your own images (its generator weights start the run), then `export` it."""
    from reproductions.common.family import load_family
    from zoo.hub import resolve
    from zoo.registry import get

    entry = get(model_id)
    folder = resolve(entry)
    import json

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    fam = load_family(config["family"])
    fields = set(fam.Config.__dataclass_fields__)
    kept = {k: v for k, v in config.get("training", {}).get("hyperparameters", {}).items() if k in fields and k != "epochs"}
    sets = [f"{k}={json.dumps(v)}" for k, v in kept.items()] + list(set_)
    _train(config["family"], None, config["resolution"], epochs, seed, resume, out or Path("runs") / f"{model_id}-finetuned",
           data_dir, device, checkpoint_minutes, 0, limit, sets, folder)


@app.command()
def export(
    checkpoint_dir: Path = typer.Argument(..., help="run folder written by `train`"),
    out: Optional[Path] = typer.Option(None, help="parent folder of the model folders (default zoo/pretrained)"),
    model_id: Optional[str] = typer.Option(None, "--model-id", help="model id (default <family>.<dataset>_<resolution>[_suffix])"),
    weights: str = typer.Option("ema", help="ema (the family's exported weights), live (the trained module, not its average) "
                                            "or ema-debiased (the average without its initial weights' share)"),
) -> None:
    """Export a run's latest checkpoint as Hugging Face model folder(s)."""
    from reproductions.common.checkpoint import CheckpointError
    from reproductions.common.export import export_run

    try:
        folders = export_run(checkpoint_dir, out, model_id, weights)
    except (CheckpointError, ValueError) as e:
        _fail(str(e))
    for folder in folders:
        typer.echo(f"exported: {folder}")


@app.command()
def samples(
    model_dir: Path = typer.Argument(..., help="exported model folder (config.json + model.safetensors)"),
    out: Path = typer.Option(..., "--out", help="PNG file to write"),
    seed: int = typer.Option(0, help="noise seed"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="data folder (translation models draw real test images)"),
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
