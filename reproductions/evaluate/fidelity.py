"""torch-fidelity on medzoo feature spaces: a registered zoo feature extractor, or inception-v3-compat when cached."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from zoo.archs.features import as_input

INCEPTION = "inception"
INCEPTION_FIDELITY = "inception-v3-compat"
FEATURE = "pool"
MIN_IMAGES = 10  # fewer images than this give no meaningful FID, KID or k-NN precision/recall


class EvaluationError(ValueError):
    """An input the protocol cannot evaluate, found before any long computation."""


class ZooFeatureExtractor(FeatureExtractorBase):
    """torch-fidelity feature extractor backed by a medzoo feature-extraction model; `name` is its model id."""

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path: str | None = None, **kwargs: object) -> None:
        from zoo.api import load, load_folder

        super().__init__(name, features_list)
        self.model = load_folder(feature_extractor_weights_path) if feature_extractor_weights_path else load(feature_model_id(name))

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return (FEATURE,)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return FEATURE

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, 28, 28, dtype=torch.uint8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        """The pooled feature of uint8 images (B, 3, 28, 28), as torch-fidelity's one-element tuple."""
        return (self.model.body(as_input(x)).float(),)


@dataclass(frozen=True)
class FeatureSpace:
    """A resolved feature extractor: the name the user gave, torch-fidelity's name, and the weights' sha256."""

    name: str
    fidelity_name: str
    sha256: str


def inception_weights() -> Path:
    """Where torch.hub keeps torch-fidelity's inception-v3-compat weights."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(URL_INCEPTION_V3)


def _feature_models() -> dict[str, str]:
    """Short name (the id before its dot, e.g. medzoo-resnet18) -> id of every registered feature-extraction model."""
    from zoo.registry import entries

    ids = sorted(k for k, e in entries().items() if e.task == "feature-extraction")
    short = [k.split(".")[0] for k in ids]
    return {name: k for name, k in zip(short, ids) if short.count(name) == 1} | {k: k for k in ids}


def feature_model_id(name: str) -> str:
    """The registered feature-extraction model that `name` (its id or short name) refers to."""
    found = _feature_models().get(name)
    if found is None:
        raise EvaluationError(f"unknown feature extractor {name!r}; --features takes one of: {', '.join(feature_extractors())}")
    return found


def feature_extractors() -> list[str]:
    """Names `--features` accepts: zoo feature extractors by short name (by id when two share it), then `inception`."""
    models = _feature_models()
    return sorted({k.split(".")[0] if models.get(k.split(".")[0]) == k else k for k in set(models.values())}) + [INCEPTION]


def resolve_features(name: str) -> FeatureSpace:
    """The feature space called `name`, registered with torch-fidelity; EvaluationError when unknown or unavailable."""
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    from zoo.hub import resolve
    from zoo.registry import entries, sha256_file

    if name == INCEPTION:
        path = inception_weights()
        if not path.is_file():
            raise EvaluationError(
                f"--features inception needs torch-fidelity's {INCEPTION_FIDELITY} weights in the torch hub cache, and "
                f"{path} does not exist; medzoo never downloads them. Copy that file there, or use --features "
                f"{' / '.join(feature_extractors()[:-1]) or 'medzoo-resnet18'}")
        return FeatureSpace(name, INCEPTION_FIDELITY, sha256_file(path))
    known = entries()
    if name in known and known[name].task != "feature-extraction":
        raise EvaluationError(f"{name!r} is a {known[name].task} model, not a feature extractor; "
                              f"--features takes one of: {', '.join(feature_extractors())}")
    entry = known[feature_model_id(name)]
    resolve(entry)  # the files are present and match the registry's sha256
    short = entry.model_id.split(".")[0]
    if short not in FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(short, ZooFeatureExtractor)
    return FeatureSpace(short, short, entry.files["model.safetensors"])


class ImageTensorDataset(Dataset):
    """uint8 images (N, 1 or 3, H, W) served as torch-fidelity wants them: 3-channel uint8 tensors."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].expand(3, -1, -1).contiguous()


def kid_subset(n_a: int, n_b: int, requested: int | None) -> int:
    """KID's subset size for sets of n_a and n_b images: `requested`, else min(1000, n_a, n_b); errors when too few."""
    smallest = min(n_a, n_b)
    if smallest < MIN_IMAGES:
        raise EvaluationError(f"too few images: {n_a} vs {n_b}; FID, KID and precision/recall need at least {MIN_IMAGES} in each set")
    if requested is None:
        return min(1000, smallest)
    if not 2 <= requested <= smallest:
        raise EvaluationError(f"KID subset size {requested} does not fit sets of {n_a} and {n_b} images: "
                              f"set --kid-subset-size between 2 and {smallest} (or raise --n)")
    return requested


def distribution_metrics(fake: torch.Tensor, real: torch.Tensor, space: FeatureSpace, seed: int, kid_subset_size: int) -> dict[str, float]:
    """FID, KID (mean, std), precision and recall of uint8 `fake` against uint8 `real` images, by torch-fidelity on CPU."""
    import torch_fidelity

    out = torch_fidelity.calculate_metrics(
        input1=ImageTensorDataset(fake), input2=ImageTensorDataset(real), cuda=torch.cuda.is_available(),
        fid=True, kid=True, prc=True, feature_extractor=space.fidelity_name, kid_subset_size=kid_subset_size,
        kid_subsets=100, rng_seed=seed, batch_size=256, cache=False, save_cpu_ram=True, verbose=False,
    )
    return {"fid": out["frechet_inception_distance"], "kid_mean": out["kernel_inception_distance_mean"],
            "kid_std": out["kernel_inception_distance_std"], "precision": out["precision"], "recall": out["recall"]}
