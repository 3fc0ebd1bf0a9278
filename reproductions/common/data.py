"""The one loader of real training data: MedMNIST v2 files and image folders, checksum-verified, as uint8 tensors.

What a dataset is (organ, modality, classes, licence, file checksum, loader) is read from its catalog record
(`catalog/data/datasets/<slug>.yaml`); a path instead of a slug loads a user's own folder in the same layout.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from catalog.datasets import dataset_facts, loadable_datasets
from zoo.registry import sha256_file

if TYPE_CHECKING:
    import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
SPLITS = ("train", "val", "test")
MEDMNIST_URL = "https://zenodo.org/record/5208230/files/{name}"


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about one dataset as training sees it: name, what the images show, classes, and the loaded resolution."""

    name: str
    organ: str
    modality: str
    channels: int
    class_names: tuple[str, ...]
    resolution: int
    license: str = ""
    kind: str = "medmnist"  # medmnist | folder
    sha256: str = ""  # MedMNIST .npz checksum
    filename: str = ""  # MedMNIST file or folder name under the data directory
    medmnist_class: str = ""
    path: str = ""  # a user's folder, when not a catalog dataset
    description: str = ""

    @property
    def url(self) -> str:
        return MEDMNIST_URL.format(name=self.filename)

    @property
    def has_masks(self) -> bool:
        return self.name == "busi" or bool(self.path and _folder_has_masks(Path(self.path)))


class DataError(RuntimeError):
    """A dataset file is missing, corrupt, or unknown, or a folder cannot be read as a dataset."""


def _folder_has_masks(root: Path) -> bool:
    return any(p.stem.rsplit("_mask", 1)[0] != p.stem for p in root.rglob("*_mask*.*"))


def dataset_info(dataset: str, resolution: int | None = None) -> DatasetInfo:
    """Facts about `dataset` (a catalog slug, or a folder path) at `resolution` (default: the data's own)."""
    if os.sep in dataset or dataset.startswith(".") or Path(dataset).is_dir():
        return _user_folder_info(Path(dataset), resolution)
    try:
        facts = dataset_facts(dataset)
    except KeyError:
        facts = {}
    loader = facts.get("loader")
    if not loader:
        raise DataError(f"unknown dataset {dataset!r}; valid datasets: {', '.join(loadable_datasets())}, or a folder path")
    res = int(resolution or loader.get("resolution") or 0) or None
    if loader["kind"] == "medmnist" and res not in (None, 28):
        raise DataError(f"{dataset} is stored at 28x28 only; got --resolution {res}")
    if loader["kind"] == "folder" and res is None:
        raise DataError(f"{dataset} images are resized on load: pass a resolution (e.g. --resolution 128)")
    return DatasetInfo(
        name=dataset, organ=str(facts.get("organ", "")), modality=str(facts.get("modality", "")),
        channels=int(loader.get("channels", 1)), class_names=tuple(facts.get("classes") or ()), resolution=res or 28,
        license=str(facts.get("license", "")), kind=loader["kind"], sha256=str(loader.get("sha256", "")),
        filename=str(loader.get("file") or loader.get("folder", "")), medmnist_class=str(loader.get("medmnist_class", "")),
        description=str(facts.get("name", dataset)),
    )


def _user_folder_info(root: Path, resolution: int | None) -> DatasetInfo:
    from reproductions.common.folders import FolderError, scan

    try:
        folder = scan(root)
    except FolderError as e:
        raise DataError(str(e)) from None
    return DatasetInfo(
        name=root.resolve().name.lower().replace("_", "").replace("-", "") or "folder", organ="", modality="", channels=1,
        class_names=tuple(folder.class_names), resolution=int(resolution or 0), license="the folder owner's",
        kind="folder", path=str(root.resolve()), description=f"images in {root.resolve()}",
    )


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
    """Path of a MedMNIST .npz after checking it exists and its SHA-256 matches the official file."""
    info = dataset_info(dataset)
    path = resolve_data_dir(data_dir) / info.filename
    if not path.is_file():
        raise DataError(
            f"missing data file {info.filename}: expected at {path}. Download it from {info.url} "
            f"(or pass --data-dir / set MEDZOO_DATA to the folder holding it)"
        )
    digest = sha256_file(path)
    if digest != info.sha256:
        raise DataError(f"corrupt data file {info.filename} at {path}: sha256 {digest} != expected {info.sha256}. "
                        f"Download it again from {info.url}")
    return path


def load_data(info: DatasetInfo, split: str, data_dir: str | os.PathLike | None = None, seed: int = 0) -> dict[str, Any]:
    """One split as tensors: {"images": uint8 (N, C, R, R), "labels": long (N,), ["masks": uint8 (N, 1, R, R)]},
    plus "split_sha256" for folders (the recorded split it came from)."""
    import torch

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    if info.kind == "medmnist":
        images, labels = load_split(info.name, split, data_dir)
        return {"images": images, "labels": labels}
    from reproductions.common.folders import FolderError, load_folder, split_arrays

    root = Path(info.path) if info.path else resolve_data_dir(data_dir) / info.filename
    try:
        folder, arrays, record = load_folder(root, info.resolution, info.channels, seed)
        part = split_arrays(folder, arrays, record, split)
    except FolderError as e:
        raise DataError(str(e)) from None
    out: dict[str, Any] = {k: torch.from_numpy(v) for k, v in part.items()}
    out["split_sha256"] = record.sha256
    out["split_method"] = record.method
    return out


def load_split(dataset: str, split: str, data_dir: str | os.PathLike | None = None,
               resolution: int | None = None) -> tuple["torch.Tensor", "torch.Tensor"]:
    """(uint8 images (N, C, R, R), long labels (N,)) of one split: official MedMNIST splits (28 px) read with the
    medmnist package, folder datasets at `resolution` (their default when None) with their recorded split."""
    import medmnist
    import torch

    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    info = dataset_info(dataset, resolution)
    if info.kind != "medmnist":
        data = load_data(info, split, data_dir)
        return data["images"], data["labels"]
    path = verified_path(dataset, data_dir)
    ds = getattr(medmnist, info.medmnist_class)(split=split, root=str(path.parent), download=False)
    images = torch.from_numpy(ds.imgs.copy())
    images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2).contiguous()
    labels = torch.from_numpy(ds.labels.reshape(-1).astype("int64"))
    return images, labels
