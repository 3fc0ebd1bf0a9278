"""Sample grids from exported weights: a quick visual check of what a model folder generates."""
from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from reproductions.common.data import dataset_info, load_data
from zoo.archs.pix2pix import bicubic_degrade
from zoo.folder import load_folder
from zoo.io import save_grid


def _rows_to_grid(rows: list[torch.Tensor], out: Path, scale: int) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    save_grid(out, torch.cat(rows), nrow=len(rows[0]), overwrite=True, scale=scale)
    return out


def _mask_overlay(masks: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 {0, 1} masks shown as white lesions on black, with the image's channel count."""
    return (masks * 255).to(torch.uint8).expand(-1, channels, -1, -1)


def sample_grid(model_dir: str | os.PathLike, out: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                seed: int = 0, columns: int = 10, scale: int | None = None) -> Path:
    """PNG grid from an exported model: rows of samples (one block per class if conditional; image rows above their
    mask rows for mask models), or input/output pairs of real test images for translators."""
    model = load_folder(model_dir)
    cfg = model.config
    scale = scale or max(1, 64 // model.resolution)
    columns = columns if model.resolution <= 64 else 8
    if model.task == "synthesis":
        rows: list[torch.Tensor] = []
        classes = range(model.num_classes) if model.num_classes else [None]
        per_class = max(1, (40 if model.resolution <= 64 else 16) // max(1, model.num_classes) // columns)
        for k in classes:
            out_k = model.generate(per_class * columns, labels=k, seed=seed + (k or 0))
            if isinstance(out_k, tuple):
                imgs, masks = out_k
                for a, b in zip(imgs.split(columns), masks.split(columns)):
                    rows += [a, _mask_overlay(b, model.channels)]
            else:
                rows += list(out_k.split(columns))
        return _rows_to_grid(rows, Path(out), scale)
    info = dataset_info(cfg["dataset"], cfg.get("resolution"))
    test = load_data(info, "test", data_dir)
    images, labels = test["images"], test["labels"]
    if cfg.get("source_class") is not None:
        images = images[labels == int(cfg["source_class"])]
    rows = []
    size = int(getattr(model, "input_size", model.resolution))
    for block in images[: 3 * columns].split(columns):
        if size < model.resolution:  # takes the low-resolution image itself: rows bicubic | model | original
            low = F.interpolate(block.float(), size=(size, size), mode="bicubic", antialias=True).clamp(0, 255).round().to(torch.uint8)
            rows += [bicubic_degrade(block, size), model.translate(low), block]
        elif cfg.get("input_resolution", model.resolution) < model.resolution:
            lowres = bicubic_degrade(block, int(cfg["input_resolution"]))
            rows += [lowres, model.translate(lowres), block]
        else:
            rows += [block, model.translate(block)]
    return _rows_to_grid(rows, Path(out), scale)
