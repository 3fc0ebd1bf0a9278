"""The one loader of real training data: MedMNIST v2 files, checksum-verified, as uint8 tensors."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zoo.registry import sha256_file

if TYPE_CHECKING:
    import torch

OFFICIAL_URL = "https://zenodo.org/record/5208230/files/{name}.npz"
REPO_ROOT = Path(__file__).resolve().parents[2]
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one MedMNIST dataset: its file, checksum, and what its images show."""

    name: str
    medmnist_class: str
    sha256: str
    organ: str
    modality: str
    channels: int
    class_names: tuple[str, ...]
    resolution: int = 28

    @property
    def filename(self) -> str:
        return f"{self.name}.npz"

    @property
    def url(self) -> str:
        return OFFICIAL_URL.format(name=self.name)


DATASETS: dict[str, DatasetInfo] = {
    d.name: d
    for d in (
        DatasetInfo(
            "pneumoniamnist", "PneumoniaMNIST",
            "e1792d3f03751cb101e99f19a63b3c1941436c988665f47853417b05be250cd8",
            "lung", "xray", 1, ("normal", "pneumonia"),
        ),
        DatasetInfo(
            "breastmnist", "BreastMNIST",
            "3a22d2a4625e7dd8903f0f59030e81a3d0c222bece2e5e10927456cb50efdec1",
            "breast", "ultrasound", 1, ("malignant", "normal or benign"),
        ),
        DatasetInfo(
            "retinamnist", "RetinaMNIST",
            "254915f5f0a2074665c4676356824cf4ef4a3bcab233894b4bafcaf48962bd69",
            "eye", "fundus", 3, ("grade 0", "grade 1", "grade 2", "grade 3", "grade 4"),
        ),
    )
}


class DataError(RuntimeError):
    """A dataset file is missing, corrupt, or unknown."""


def dataset_info(dataset: str) -> DatasetInfo:
    """Facts about `dataset`; an error listing the valid names otherwise."""
    try:
        return DATASETS[dataset]
    except KeyError:
        raise DataError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(DATASETS)}") from None


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder: the argument, else $MEDZOO_DATA, else ../shared/data from the cwd or the repo root."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get("MEDZOO_DATA"):
        return Path(os.environ["MEDZOO_DATA"])
    for base in (Path.cwd(), REPO_ROOT):
        candidate = (base / ".." / "shared" / "data").resolve()
        if candidate.is_dir():
            return candidate
    return (REPO_ROOT / ".." / "shared" / "data").resolve()


def verified_path(dataset: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of the dataset's .npz after checking it exists and its SHA-256 matches the official file."""
    info = dataset_info(dataset)
    path = resolve_data_dir(data_dir) / info.filename
    if not path.is_file():
        raise DataError(
            f"missing data file {info.filename}: expected at {path}. Download it from {info.url} "
            f"(or pass --data-dir / set MEDZOO_DATA to the folder holding it)"
        )
    digest = sha256_file(path)
    if digest != info.sha256:
        raise DataError(
            f"corrupt data file {info.filename} at {path}: sha256 {digest} != expected {info.sha256}. "
            f"Download it again from {info.url}"
        )
    return path


def load_split(dataset: str, split: str, data_dir: str | os.PathLike | None = None) -> tuple["torch.Tensor", "torch.Tensor"]:
    """(uint8 images (N, C, 28, 28), long labels (N,)) of one official split, read with the medmnist package."""
    import medmnist
    import torch

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    info = dataset_info(dataset)
    path = verified_path(dataset, data_dir)
    ds = getattr(medmnist, info.medmnist_class)(split=split, root=str(path.parent), download=False)
    images = torch.from_numpy(ds.imgs.copy())
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(ds.labels.reshape(-1).astype("int64"))
    return images, labels
