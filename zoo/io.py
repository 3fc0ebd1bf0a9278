"""Safe image files: names that cannot escape the output folder, no silent overwrite, PNG in and out."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from zoo.errors import InputError


def safe_child(folder: Path, name: str) -> Path:
    """folder/name, refusing names that are absolute, contain '..', NUL or a separator, or resolve outside folder."""
    if not name or "\x00" in name or "/" in name or "\\" in name or name in (".", "..") or os.path.isabs(name):
        raise InputError(f"output name {name!r} must be a plain file name inside {folder}")
    path = folder / name
    if path.resolve().parent != folder.resolve():
        raise InputError(f"output name {name!r} resolves outside {folder} (symlink?); refused")
    return path


def prepare_dir(folder: str | os.PathLike) -> Path:
    """Create the output folder; refuse a path with NUL bytes or one that is an existing file."""
    s = os.fspath(folder)
    if "\x00" in s:
        raise InputError(f"output folder {s!r} contains a NUL byte")
    path = Path(s)
    if path.exists() and not path.is_dir():
        raise InputError(f"--out {path} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_png(path: Path, image: torch.Tensor, overwrite: bool = False) -> None:
    """Write a uint8 (C, H, W) tensor as PNG; an existing file is kept unless overwrite."""
    from PIL import Image

    if path.is_symlink() or (path.exists() and not overwrite):
        raise FileExistsError(f"{path} exists; pass --overwrite to replace it")
    arr = image.permute(1, 2, 0).numpy()
    tmp = path.with_name(f".{path.name}.tmp")
    try:  # a full or read-only disk leaves no half-written PNG behind, and the error names the file
        Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(tmp, format="PNG")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None


def read_image(path: str | os.PathLike, channels: int, size: int) -> torch.Tensor:
    """A PNG/JPEG file as uint8 (C, H, W) with the model's channels; a wrong size is refused, never resized silently."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if channels == 1 else "RGB")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError) as e:
        raise InputError(f"{path}: not a readable image ({e})") from None
    if arr.shape[:2] != (size, size):
        raise InputError(f"{path}: image is {arr.shape[1]}x{arr.shape[0]}, the model takes {size}x{size}")
    t = torch.from_numpy(arr.copy())
    return t[None] if channels == 1 else t.permute(2, 0, 1)


def save_grid(path: Path, images: torch.Tensor, nrow: int, overwrite: bool = False, scale: int = 1) -> None:
    """A sample grid PNG of uint8 images (N, C, H, W), `nrow` per row, 2-pixel white gaps, enlarged `scale` times."""
    from torchvision.utils import make_grid

    grid = make_grid(images, nrow=nrow, padding=2, pad_value=255)
    if scale > 1:
        grid = grid.repeat_interleave(scale, 1).repeat_interleave(scale, 2)
    write_png(path, grid, overwrite=overwrite)
