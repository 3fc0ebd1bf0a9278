"""zoo.SyntheticDataset and zoo.MixedDataset with what users have: model ids, MedMNIST, ImageFolder, MONAI-style
dicts and mask models."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

import zoo
from zoo.errors import InputError, WrongTaskError
from zoo.registry import UnknownModelError

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("MEDZOO_DATA") or REPO.parent / "shared" / "data")
ACGAN, DCGAN = "acgan.pneumoniamnist_28", "dcgan.pneumoniamnist_28"

needs_data = pytest.mark.skipif(not (DATA / "pneumoniamnist.npz").is_file(), reason=f"needs {DATA}/pneumoniamnist.npz")


@pytest.fixture(autouse=True)
def bundled_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The package's own registry and bundled models, whatever a test before set."""
    monkeypatch.delenv("MEDZOO_REGISTRY", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def spade() -> torch.nn.Module:
    """A tiny random-weight SPADE mask model (64 px, 2 classes) with a bank of 4 masks."""
    from zoo.archs.spade import SPADEGenerator

    torch.manual_seed(0)
    model = SPADEGenerator(channels=1, resolution=64, num_classes=2, z_dim=8, base=4)
    masks = torch.zeros(4, 1, 64, 64)
    for k in range(4):
        masks[k, :, 10 + 4 * k : 40 + 2 * k, 12 : 44 - k] = 1
    model.set_bank(masks, torch.tensor([0, 0, 1, 1]))
    return model.eval()


def test_synthetic_dataset_takes_a_model_id_and_equals_generate():
    syn = zoo.SyntheticDataset(ACGAN, n=70, seed=3, chunk=32)
    assert syn.model.arch_name == "acgan"
    images = syn.model.generate(70, seed=3)
    for i in (0, 31, 32, 69):
        img, y = syn[i]
        assert img.dtype == torch.uint8 and img.shape == (1, 28, 28) and y == i % 2
        assert torch.equal(img, images[i])
    assert torch.equal(zoo.SyntheticDataset(ACGAN, n=70, seed=3, chunk=7)[40][0], images[40])  # chunking never changes items
    assert zoo.SyntheticDataset(DCGAN, n=3)[2][1] == -1  # unconditional: no label


def test_an_unknown_id_or_a_wrong_type_is_one_clear_error():
    with pytest.raises(UnknownModelError, match="Did you mean: acgan.pneumoniamnist_28"):
        zoo.SyntheticDataset("acgan.pneumonia_28", n=4)
    with pytest.raises(InputError, match="needs a zoo model or a model id .* got int"):
        zoo.SyntheticDataset(42, n=4)
    with pytest.raises(InputError, match="MixedDataset needs a zoo model or a model id .* got list"):
        zoo.MixedDataset([(torch.zeros(1, 28, 28, dtype=torch.uint8), 0)], [1, 2], ratio=1)
    with pytest.raises(WrongTaskError, match="translation model"):
        zoo.SyntheticDataset("pix2pix.pneumoniamnist_28_sr14", n=4)


@needs_data
def test_medmnist_labels_of_shape_1_mix_with_a_model_id():
    import medmnist

    real = medmnist.PneumoniaMNIST(split="train", root=str(DATA), download=False)
    assert np.asarray(real[0][1]).shape == (1,)
    mixed = zoo.MixedDataset(real, zoo.SyntheticDataset(ACGAN, n=2354), ratio=0.5)
    assert len(mixed) == 4708 + 2354 and mixed.is_synthetic(4708) and not mixed.is_synthetic(4707)
    img, y = mixed[0]
    assert img.dtype == torch.uint8 and img.shape == (1, 28, 28) and y == int(real[0][1][0])
    img, y = mixed[4708 + 5]
    assert img.shape == (1, 28, 28) and y == 5 % 2
    by_id = zoo.MixedDataset(real, ACGAN, ratio=0.5, seed=1)  # the model id alone: made on use
    assert len(by_id) == len(mixed) and torch.equal(by_id[4708 + 3][0], zoo.load(ACGAN).generate(4, seed=1)[3])
    from torchvision.transforms import v2

    mixed = zoo.MixedDataset(real, ACGAN, ratio=0.5, transform=v2.ToDtype(torch.float32, scale=True))
    subset = torch.utils.data.Subset(mixed, [0, 1, 4708, 4709, 2, 4710])
    x, y = next(iter(DataLoader(subset, batch_size=6)))
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y.dtype == torch.long and y.shape == (6,)


def _folder(root: Path, size: int = 28) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls in ("normal", "pneumonia"):
        (root / cls).mkdir(parents=True)
        for k in range(3):
            Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8), "L").save(root / cls / f"{k}.png")
    return root


def test_imagefolder_mixes_and_a_channel_mismatch_says_how_to_fix_it(tmp_path: Path):
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

    root = _folder(tmp_path / "xray")
    with pytest.raises(InputError, match=r"real images have shape \(3, 28, 28\), synthetic ones \(1, 28, 28\).*Grayscale"):
        zoo.MixedDataset(ImageFolder(root), ACGAN, ratio=1)  # ImageFolder opens every file as RGB
    real = ImageFolder(root, transform=v2.Grayscale())
    mixed = zoo.MixedDataset(real, ACGAN, ratio=2)
    assert len(mixed) == 18
    x, y = next(iter(DataLoader(mixed, batch_size=18)))
    assert x.shape == (18, 1, 28, 28) and x.dtype == torch.uint8
    assert y.tolist() == [0, 0, 0, 1, 1, 1] + [i % 2 for i in range(12)]
    with pytest.raises(InputError, match="leave the real dataset untransformed"):
        zoo.MixedDataset(ImageFolder(root, transform=v2.Compose([v2.Grayscale(), v2.ToImage(),
                                                                 v2.ToDtype(torch.float32, scale=True)])), ACGAN, ratio=1)


class DictDataset(Dataset):
    """MONAI-style items: {"image": (1, H, W) float array, "label": label in one of the shapes MONAI users store}."""

    def __init__(self, n: int, label_shape: str, masks: bool = False) -> None:
        self.n, self.label_shape, self.masks = n, label_shape, masks
        self.rng = np.random.default_rng(1)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        y = i % 2
        label = {"int": y, "array1": np.array([y]), "tensor0": torch.tensor(float(y)), "tensor1": torch.tensor([y])}[self.label_shape]
        size = 64 if self.masks else 28
        item = {"image": self.rng.integers(0, 256, (1, size, size)).astype(np.uint8), "label": label}
        if self.masks:
            item["mask"] = (self.rng.random((1, size, size)) > 0.5).astype(np.uint8)
        return item


@pytest.mark.parametrize("label_shape", ["int", "array1", "tensor0", "tensor1"])
def test_monai_style_dict_datasets_with_labels_of_any_shape(label_shape: str):
    mixed = zoo.MixedDataset(DictDataset(6, label_shape), ACGAN, ratio=1)
    batch = next(iter(DataLoader(mixed, batch_size=12)))
    assert set(batch) == {"image", "label"}
    assert batch["image"].shape == (12, 1, 28, 28) and batch["image"].dtype == torch.uint8
    assert batch["label"].tolist() == [0, 1] * 6


def test_monai_dictionary_transforms_take_the_dict_items(spade: torch.nn.Module):
    monai = pytest.importorskip("monai")
    from monai.transforms import Compose, EnsureTyped, ScaleIntensityd

    t = Compose([EnsureTyped(keys=["image", "mask"], dtype=torch.float32), ScaleIntensityd(keys=["image"])])
    syn = zoo.SyntheticDataset(spade, n=5, seed=0, as_dict=True, transform=t)
    item = syn[2]
    assert set(item) == {"image", "label", "mask"} and item["label"] == 0
    assert item["image"].shape == (1, 64, 64) and float(item["image"].min()) == 0 and float(item["image"].max()) == 1
    mixed = zoo.MixedDataset(DictDataset(4, "tensor1", masks=True), spade, ratio=1, transform=t)
    batch = monai.data.list_data_collate([mixed[i] for i in range(8)])
    assert set(batch) == {"image", "label", "mask"} and batch["mask"].shape == (8, 1, 64, 64)
    assert batch["label"].tolist() == [0, 1, 0, 1, 0, 1, 0, 1]


def test_mask_models_yield_image_mask_pairs_equal_to_generate(spade: torch.nn.Module):
    syn = zoo.SyntheticDataset(spade, n=20, labels=1, seed=4, chunk=8)
    images, masks = spade.generate(20, labels=1, seed=4)
    for i in (0, 7, 8, 19):
        img, mask = syn[i]
        assert img.shape == (1, 64, 64) and mask.shape == (1, 64, 64) and mask.dtype == torch.uint8
        assert torch.equal(img, images[i]) and torch.equal(mask, masks[i])
    assert set(torch.unique(syn[3][1]).tolist()) <= {0, 1}
    d = syn.form(as_dict=True)[3]
    assert set(d) == {"image", "label", "mask"} and d["label"] == 1 and torch.equal(d["mask"], masks[3])
    from torchvision.transforms import v2

    flipped = zoo.SyntheticDataset(spade, n=20, labels=1, seed=4, transform=v2.RandomHorizontalFlip(p=1))[5]
    assert torch.equal(flipped[0], images[5].flip(-1)) and torch.equal(flipped[1], masks[5].flip(-1))  # both moved
