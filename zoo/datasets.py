"""Torch datasets of synthetic images, and of real images mixed with synthetic ones at a chosen ratio.

Both take a zoo model or a model id. `MixedDataset` takes the real datasets users already have: MedMNIST (labels of
shape (1,)), torchvision `ImageFolder` (PIL images), `TensorDataset`, and MONAI-style dict datasets
(`{"image": ..., "label": ...}`); images come out as tensors (C, H, W) and class labels as ints.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from zoo.base import GenerativeModel, to_uint8
from zoo.errors import InputError, WrongTaskError

Item = Any  # (image, label), (image, mask) or {"image", "label"[, "mask"]}


def as_model(model: GenerativeModel | str, what: str = "SyntheticDataset") -> GenerativeModel:
    """A zoo model from a loaded model or a model id (loaded with zoo.load); anything else is one clear error."""
    if isinstance(model, str):
        from zoo.api import load

        return load(model)  # an unknown id raises UnknownModelError naming close matches
    if isinstance(model, GenerativeModel):
        return model
    raise InputError(f"{what} needs a zoo model or a model id such as 'acgan.pneumoniamnist_28' (see `medzoo models`), "
                     f"got {type(model).__name__}")


def has_masks(model: GenerativeModel) -> bool:
    """Whether the model generates (image, mask) pairs (mask models such as `spade` have `iter_pairs`)."""
    return callable(getattr(model, "iter_pairs", None))


def _spans(start: int, stop: int, step: int) -> Iterator[tuple[int, int]]:
    """[start, stop) cut at multiples of `step`: the forward passes `generate` makes, so items equal its images."""
    s = start
    while s < stop:
        e = min(stop, (s // step + 1) * step)
        yield s, e
        s = e


class SyntheticDataset(Dataset):
    """`n` generated images (uint8, C x H x W) with their labels; item i depends only on (seed, i) and equals image i
    of `model.generate(n, labels, seed)`. Images are made in cached chunks.

    `model` is a zoo model or a model id. Items are `(image, label)` (label -1 for unconditional models); for mask
    models (`iter_pairs`, e.g. `spade`) they are `(image, mask)` with the mask uint8 (1, H, W) in {0, 1}.
    `as_dict=True` gives `{"image", "label"}` (plus `"mask"`) instead, the form MONAI's dictionary transforms take.
    `transform` gets the image (tuple form; for mask models image and mask together, the mask as a torchvision
    `tv_tensors.Mask`, so v2 geometric transforms move both) or the whole dict (dict form).
    """

    def __init__(self, model: GenerativeModel | str, n: int, labels: int | Sequence[int] | None = None, seed: int = 0,
                 transform: Callable | None = None, chunk: int = 256, as_dict: bool = False) -> None:
        model = as_model(model)
        if model.task != "synthesis":
            raise WrongTaskError(f"{model.arch_name} is a translation model; SyntheticDataset needs a generator")
        if int(n) <= 0:
            raise InputError(f"n must be positive, got {n}")
        if int(chunk) <= 0:
            raise InputError(f"chunk must be positive, got {chunk}")
        self.model, self.n, self.seed, self.transform, self.chunk = model, int(n), int(seed), transform, int(chunk)
        self.as_dict, self.masks = bool(as_dict), has_masks(model)
        y = model.check_labels(self.n, labels)
        self.labels = y if y is not None else torch.full((self.n,), -1, dtype=torch.long)
        self._cache: tuple[int, torch.Tensor, torch.Tensor | None] | None = None

    def __len__(self) -> int:
        return self.n

    def form(self, as_dict: bool) -> "SyntheticDataset":
        """This dataset in tuple or dict form (a shallow copy sharing the model when the form changes)."""
        if as_dict == self.as_dict:
            return self
        other = copy.copy(self)
        other.as_dict, other._cache = as_dict, None
        return other

    def _chunk(self, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(images, masks or None) of chunk k, cut into the same forward passes as model.generate."""
        if self._cache is None or self._cache[0] != k:
            start = k * self.chunk
            stop = min(start + self.chunk, self.n)
            model = self.model
            fast = model.inference_module() if not model.training else model
            # generate's forward spans: cpu_forward_batch images on CPU (iter_generate), 16 for mask models (iter_pairs)
            step = 16 if self.masks else model.cpu_forward_batch if model.device.type == "cpu" else self.chunk
            images, masks = [], []
            with torch.inference_mode():
                for s, e in _spans(start, stop, step):
                    y = self.labels[s:e] if model.num_classes else None
                    z = model.noise(e - s, self.seed, s).to(model.device)
                    if self.masks:
                        m = model.sample_masks(y if y is not None else torch.zeros(e - s, dtype=torch.long), self.seed, s)
                        x = fast(z, None if y is None else y.to(model.device), m.to(model.device))
                        masks.append(m.to(torch.uint8))
                    else:
                        x = fast.sample(z, None if y is None else y.to(model.device))
                    images.append(to_uint8(x).cpu())
            self._cache = (k, torch.cat(images), torch.cat(masks) if masks else None)
        return self._cache[1], self._cache[2]

    def record(self, i: int) -> dict[str, Any]:
        """Item i untransformed, as a dict: image, label and (mask models) mask."""
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} synthetic images")
        images, masks = self._chunk(i // self.chunk)
        out: dict[str, Any] = {"image": images[i % self.chunk].clone(), "label": int(self.labels[i])}
        if masks is not None:
            out["mask"] = masks[i % self.chunk].clone()
        return out

    def __getitem__(self, i: int) -> Item:
        rec = self.record(i)
        if self.as_dict:
            return self.transform(rec) if self.transform is not None else rec
        if self.masks:
            return _transform_pair(self.transform, rec["image"], rec["mask"])
        img = self.transform(rec["image"]) if self.transform is not None else rec["image"]
        return img, rec["label"]


def _transform_pair(transform: Callable | None, image: torch.Tensor, mask: torch.Tensor) -> tuple[Any, Any]:
    """(image, mask) through a transform that moves both (torchvision v2: the mask wrapped as tv_tensors.Mask)."""
    if transform is None:
        return image, mask
    from torchvision import tv_tensors

    return transform(image, tv_tensors.Mask(mask))


def to_image(x: Any, channels_first: bool = False) -> torch.Tensor:
    """A real image as a tensor (C, H, W): PIL images as uint8 (their mode's channels), arrays (H, W) or (H, W, C)
    moved channel-first (`channels_first`: arrays already (C, H, W), as MONAI datasets give them); tensors kept."""
    if isinstance(x, torch.Tensor):
        return x[None] if x.ndim == 2 else x
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
        if t.ndim == 2:
            return t[None]
        if t.ndim == 3 and not channels_first and t.shape[-1] in (1, 3, 4) and t.shape[0] not in (1, 3, 4):
            return t.permute(2, 0, 1).contiguous()
        return t
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with torchvision
        Image = None
    if Image is not None and isinstance(x, Image.Image):
        from torchvision.transforms.v2.functional import pil_to_tensor

        return pil_to_tensor(x)
    raise InputError(f"a real image must be a PIL image, a NumPy array or a tensor, got {type(x).__name__}")


def to_label(y: Any) -> int | torch.Tensor:
    """A class label as an int, whatever its shape: 3, np.array([3]) (MedMNIST), tensor([3]), tensor(3.0);
    a label with several entries (multi-label, a segmentation mask) stays a tensor."""
    if isinstance(y, (bool, np.bool_)):
        return int(y)
    if isinstance(y, (int, np.integer)):
        return int(y)
    if isinstance(y, (float, np.floating)) and float(y).is_integer():
        return int(y)
    try:
        t = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
    except (TypeError, ValueError, RuntimeError):
        raise InputError(f"a label must be a number, an array or a tensor, got {type(y).__name__}") from None
    if t.numel() == 1:
        v = t.reshape(-1)[0].item()
        if isinstance(v, int) or (isinstance(v, float) and v.is_integer()):
            return int(v)
    return t.as_subclass(torch.Tensor) if type(t) is not torch.Tensor else t


def to_target(y: Any, channels_first: bool = False) -> int | torch.Tensor:
    """A target: a class label as an int (any shape with one entry), a mask or image-like target as (C, H, W)."""
    if not isinstance(y, (torch.Tensor, np.ndarray, int, float, np.number, bool, np.bool_)) and hasattr(y, "getbands"):
        return to_image(y)  # a PIL mask
    t = to_label(y)
    if isinstance(t, torch.Tensor) and t.ndim >= 2:
        return to_image(t if isinstance(y, torch.Tensor) else np.asarray(y), channels_first)
    return t


def _describe(target: Any) -> str:
    return "a class index" if isinstance(target, int) else f"a tensor of shape {tuple(target.shape)}"


class MixedDataset(Dataset):
    """A real dataset followed by round(ratio * len(real)) synthetic items: ratio is synthetic:real.

    `real` may be any map-style dataset whose items are (image, label) (MedMNIST, ImageFolder, TensorDataset) or
    dicts with "image" and "label" (MONAI style); labels of any shape become ints ((1,) arrays included), PIL images
    and arrays become tensors (C, H, W). `synthetic` is a dataset of generated items (a SyntheticDataset), or a zoo
    model or model id: then the synthetic images are made on use, `seed` and `labels` as in SyntheticDataset.

    Items are (image, label) for tuple datasets and {"image", "label"} for dict datasets, with "mask" too when both
    the real and the synthetic items have masks; (image, mask) when the real targets are masks and the model is a
    mask model. `transform` gets what SyntheticDataset's does, for real and synthetic items alike.
    """

    def __init__(self, real: Dataset, synthetic: Dataset | GenerativeModel | str, ratio: float,
                 transform: Callable | None = None, seed: int = 0, labels: int | Sequence[int] | None = None) -> None:
        if ratio < 0:
            raise ValueError(f"ratio (synthetic:real) must be >= 0, got {ratio}")
        try:
            self.n_real = len(real)  # type: ignore[arg-type]
        except TypeError:
            raise InputError(f"the real dataset must have a length (a map-style dataset), got {type(real).__name__}") from None
        if self.n_real == 0:
            raise InputError("the real dataset is empty")
        self.real, self.transform = real, transform
        self.n_syn = round(ratio * self.n_real)
        first = real[0]
        self.as_dict = isinstance(first, dict)
        if self.as_dict and not {"image", "label"} <= set(first):
            raise InputError(f"dict items of the real dataset need 'image' and 'label' keys, got {sorted(first)}")
        if not self.as_dict and not (isinstance(first, (tuple, list)) and len(first) >= 2):
            raise InputError("items of the real dataset must be (image, label) pairs or dicts with 'image' and 'label', "
                             f"got {type(first).__name__}")
        if not isinstance(synthetic, Dataset):
            synthetic = SyntheticDataset(as_model(synthetic, "MixedDataset"), max(self.n_syn, 1), labels=labels, seed=seed)
        if isinstance(synthetic, SyntheticDataset):
            synthetic = synthetic.form(self.as_dict)
        self.synthetic = synthetic
        if self.n_syn > len(synthetic):  # type: ignore[arg-type]
            raise ValueError(f"ratio {ratio} needs {self.n_syn} synthetic images but the synthetic dataset has {len(synthetic)}")
        self.keep_mask = self.as_dict and "mask" in first
        if self.n_syn:
            self._check(self._real(0), self._synthetic(0))

    def __len__(self) -> int:
        return self.n_real + self.n_syn

    def _real(self, i: int) -> Item:
        item = self.real[i]
        if self.as_dict:
            out = {"image": to_image(item["image"], channels_first=True), "label": to_target(item["label"], True)}
            if "mask" in item and self.keep_mask:
                out["mask"] = to_image(item["mask"], channels_first=True)
            return out
        return to_image(item[0]), to_target(item[1])

    def _synthetic(self, i: int) -> Item:
        item = self.synthetic[i]
        if self.as_dict:
            if not isinstance(item, dict):
                raise InputError("the real items are dicts but the synthetic items are not: use SyntheticDataset(..., "
                                 "as_dict=True) or pass the model or its id")
            out = {"image": to_image(item["image"], channels_first=True), "label": to_target(item["label"], True)}
            if self.keep_mask and "mask" in item:
                out["mask"] = to_image(item["mask"], channels_first=True)
            return out
        return to_image(item[0], channels_first=True), to_target(item[1], True)

    def _check(self, real: Item, syn: Item) -> None:
        """Refuse a mix whose items could not be batched together, saying what differs and how to fix it."""
        r_img, s_img = (real["image"], syn["image"]) if self.as_dict else (real[0], syn[0])
        r_y, s_y = (real["label"], syn["label"]) if self.as_dict else (real[1], syn[1])
        if tuple(r_img.shape) != tuple(s_img.shape):
            raise InputError(f"real images have shape {tuple(r_img.shape)}, synthetic ones {tuple(s_img.shape)}: make them "
                             "match (e.g. ImageFolder(root, transform=v2.Grayscale()) for a 1-channel model, or v2.Resize)")
        if r_img.dtype != s_img.dtype:
            raise InputError(f"real images are {r_img.dtype}, synthetic ones {s_img.dtype}: leave the real dataset "
                             "untransformed and pass the transform to MixedDataset(transform=...), which applies it to both")
        if isinstance(r_y, int) != isinstance(s_y, int) or (
                not isinstance(r_y, int) and tuple(r_y.shape) != tuple(s_y.shape)):
            raise InputError(f"real targets are {_describe(r_y)} but synthetic ones are {_describe(s_y)}")
        if self.as_dict and self.keep_mask and "mask" not in syn:
            raise InputError("the real items have a 'mask' but the synthetic model makes none: choose a mask model "
                             "(e.g. spade) or drop the real masks")

    def __getitem__(self, i: int) -> Item:
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        item = self._real(i) if i < self.n_real else self._synthetic(i - self.n_real)
        if self.transform is None:
            return item
        if self.as_dict:
            return self.transform(item)
        img, y = item
        if isinstance(y, torch.Tensor) and y.ndim == 3 and tuple(y.shape[-2:]) == tuple(img.shape[-2:]):
            return _transform_pair(self.transform, img, y)  # a segmentation mask moves with its image
        return self.transform(img), y

    def is_synthetic(self, i: int) -> bool:
        """Whether item i is generated (for per-source weighting or analysis)."""
        return i >= self.n_real
