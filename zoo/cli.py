"""The zoo's commands (models, info, generate, translate, publish), mounted into `medzoo` by medzoo.cli."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from catalog.cli import Format, emit
from zoo.errors import InputError

app = typer.Typer(help="Find, load and use pretrained medical image augmenters.", no_args_is_help=True)


@app.command("models")
def models_cmd(family: Optional[str] = None, dataset: Optional[str] = None, organ: Optional[str] = None,
               modality: Optional[str] = None, task: Optional[str] = None,
               fmt: Format = typer.Option(Format.table, "--format")) -> None:
    """Registered pretrained models, filtered by family, dataset, organ, modality or task."""
    from zoo.registry import list_models

    df = list_models(family=family, dataset=dataset, organ=organ, modality=modality, task=task)
    emit(df, fmt, ["model_id", "family", "dataset", "organ", "modality", "task", "num_classes", "params", "bundled", "revision"])


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
        raise InputError(f"-n must be a positive number of images, got {n}")
    folder = prepare_dir(out)
    grid_path = safe_child(folder, grid) if grid else None
    model = load(model_id, device=device)
    written, first = 0, []
    pairs = getattr(model, "iter_pairs", None)  # mask models: each image is written with its <name>_mask.png
    batches = (pairs(n, labels=label, seed=seed, batch_size=batch_size) if pairs
               else ((x, None, y) for x, y in model.iter_generate(n, labels=label, seed=seed, batch_size=batch_size)))
    with tqdm(total=n, desc=model_id, unit="img") as bar:
        for images, masks, labels in batches:
            for k, img in enumerate(images):
                name = f"{written:06d}" + (f"_label{int(labels[k])}" if labels is not None else "")
                write_png(safe_child(folder, name + ".png"), img, overwrite)
                if masks is not None:
                    write_png(safe_child(folder, name + "_mask.png"), masks[k] * 255, overwrite)
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
    batch = torch.stack([read_image(p, model.channels, int(getattr(model, "input_size", model.resolution))) for p in images])
    for t, img in zip(targets, model.translate(batch)):
        write_png(t, img, overwrite)
    print(f"wrote {len(targets)} images to {folder}")


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
    print(f"load it from any medzoo installation with: zoo.load(\"hf://{repo}\", revision=\"{revision}\")")
