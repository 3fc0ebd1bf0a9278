"""Sample grids from exported weights: a quick visual check of what a model folder generates."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image

from reproductions.common.data import load_split
from reproductions.common.export import load_exported
from zoo.archs.pix2pix import bicubic_degrade


def _save_grid(rows: list[torch.Tensor], out: Path, scale: int) -> Path:
    """Stack rows of uint8 images (each (n, C, H, W), equal n) into one PNG with 2-pixel gaps."""
    n = max(len(r) for r in rows)
    c, h, w = rows[0].shape[1:]
    gap = 2
    canvas = torch.full((c, len(rows) * (h + gap) + gap, n * (w + gap) + gap), 255, dtype=torch.uint8)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = gap + i * (h + gap), gap + j * (w + gap)
            canvas[:, y : y + h, x : x + w] = img
    arr = canvas.permute(1, 2, 0).numpy()
    im = Image.fromarray(arr[:, :, 0] if c == 1 else arr, mode="L" if c == 1 else "RGB")
    im = im.resize((im.width * scale, im.height * scale), Image.NEAREST)
    out.parent.mkdir(parents=True, exist_ok=True)
    im.save(out)
    return out


def sample_grid(model_dir: str | os.PathLike, out: str | os.PathLike, data_dir: str | os.PathLike | None = None,
                seed: int = 0, columns: int = 10, scale: int = 2) -> Path:
    """PNG grid from an exported model: rows of samples (one row per class if conditional), or input/output pairs."""
    model = load_exported(model_dir)
    cfg = model.config
    if model.task == "synthesis":
        if model.num_classes:
            per_class = max(2, 40 // model.num_classes // columns)
            rows = []
            for k in range(model.num_classes):
                imgs = model.generate(per_class * columns, labels=k, seed=seed + k)
                rows += list(imgs.split(columns))
        else:
            rows = list(model.generate(8 * columns, seed=seed).split(columns))
        return _save_grid(rows, Path(out), scale)
    images, labels = load_split(cfg["dataset"], "test", data_dir)
    if cfg.get("source_class") is not None:
        images = images[labels == int(cfg["source_class"])]
    rows = []
    for block in images[: 4 * columns].split(columns):
        if cfg.get("input_resolution", model.resolution) < model.resolution:
            lowres = bicubic_degrade(block, int(cfg["input_resolution"]))
            rows += [lowres, model.translate(lowres), block]
        else:
            rows += [block, model.translate(block)]
    return _save_grid(rows, Path(out), scale)
