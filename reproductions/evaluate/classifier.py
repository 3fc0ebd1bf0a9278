"""The evaluation classifier: a small 28x28 timm ResNet-18 with early stopping on validation AUC, and its scores."""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from zoo.archs.features import as_input, resnet18_28


@dataclass(frozen=True)
class Recipe:
    """How every evaluation classifier is trained (CAS and the utility study)."""

    widths: tuple[int, ...] = (16, 32, 64, 128)  # timm resnet18 at quarter width
    stem_stride: int = 2  # 3x3 stem conv, stride 2, no max-pool: stages at 14, 7, 4, 2 pixels
    batch_size: int = 64
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    max_epochs: int = 15
    min_steps_per_epoch: int = 10  # tiny training sets still take 10 steps between validations
    patience: int = 4  # stop after this many epochs without a better validation AUC; keep the best weights

    def recipe_id(self) -> str:
        """Short hash of the recipe: results of different recipes are never mixed."""
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True).encode()).hexdigest()[:10]

    def describe(self) -> str:
        """One line stating the recipe."""
        w = "x".join(map(str, self.widths))
        return (f"timm resnet18 (stage widths {w}, 3x3 stem stride {self.stem_stride}, no max-pool), batch {self.batch_size}, "
                f"AdamW lr {self.lr} wd {self.weight_decay}, <= {self.max_epochs} epochs of >= {self.min_steps_per_epoch} steps, "
                f"early stopping on val AUC (patience {self.patience}), best-val weights tested")


def scores(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """AUC and ACC as MedMNIST v2 computes them: binary AUC of class 1, else mean one-vs-rest AUC; ACC of the argmax."""
    labels = np.asarray(labels)
    if probs.shape[1] == 2:
        auc = roc_auc_score(labels, probs[:, 1])
    else:
        auc = float(np.mean([roc_auc_score(labels == k, probs[:, k]) for k in range(probs.shape[1]) if 0 < (labels == k).sum() < len(labels)]))
    return {"auc": float(auc), "acc": float((probs.argmax(1) == labels).mean())}


def predict_proba(model: nn.Module, images: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Softmax probabilities of uint8 images (N, C, 28, 28), computed on the model's device."""
    model.eval()
    dev = next(model.parameters()).device
    with torch.inference_mode():
        return torch.cat([model(as_input(images[i : i + batch_size].to(dev))).softmax(1).cpu() for i in range(0, len(images), batch_size)]).numpy()


def _epoch_order(n: int, steps: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    """Indices for one epoch of `steps` batches: as many fresh permutations of n as needed."""
    need = steps * batch
    return torch.cat([torch.randperm(n, generator=gen) for _ in range(math.ceil(need / n))])[:need]


def train_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes: int, val_images: torch.Tensor, val_labels: torch.Tensor,
                     recipe: Recipe, seed: int, transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                     on_epoch: Callable[[int, float], None] | None = None, device: str = "cpu",
                     steps_per_epoch: int | None = None, keep: str = "best", network: nn.Module | None = None
                     ) -> tuple[nn.Module, dict[str, float]]:
    """Train on uint8 `images` (per-image `transform` each time one is drawn, on the CPU); return the best-val-AUC model and facts.

    `steps_per_epoch` fixes the optimizer steps between validations (default: max(ceil(N / batch), min_steps), N the
    number of images), so that arms with more images can train for the same number of steps; `keep="last"` returns
    the last epoch's weights instead of the best on validation; `network` (untrained, 3-channel input) replaces the
    recipe's 28 px ResNet-18, e.g. for 128 px images. The network trains on `device`; the returned model lives there too.
    """
    if len(images) == 0:
        raise ValueError("no training images")
    if len(val_labels.unique()) < 2:
        raise ValueError("the validation set needs at least two classes for its AUC")
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    dev = torch.device(device)
    model = (network if network is not None else resnet18_28(num_classes, recipe.widths, recipe.stem_stride)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps = int(steps_per_epoch) if steps_per_epoch else max(math.ceil(len(images) / recipe.batch_size), recipe.min_steps_per_epoch)
    if keep not in ("best", "last"):
        raise ValueError(f"keep must be 'best' or 'last', got {keep!r}")
    best, best_state, best_epoch, epoch = -1.0, None, -1, 0
    t0 = time.monotonic()
    for epoch in range(recipe.max_epochs):
        model.train()
        for idx in _epoch_order(len(images), steps, recipe.batch_size, gen).split(recipe.batch_size):
            batch = images[idx]
            if transform is not None:
                batch = torch.stack([transform(img) for img in batch])
            loss = nn.functional.cross_entropy(model(as_input(batch.to(dev))), labels[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        val_auc = scores(predict_proba(model, val_images), val_labels.numpy())["auc"]
        if on_epoch is not None:
            on_epoch(epoch, val_auc)
        if val_auc > best:
            best, best_state, best_epoch = val_auc, copy.deepcopy(model.state_dict()), epoch
        elif epoch - best_epoch >= recipe.patience:
            break
    if keep == "best":
        model.load_state_dict(best_state)
    return model, {"val_auc": best if keep == "best" else val_auc, "best_epoch": best_epoch + 1 if keep == "best" else epoch + 1,
                   "epochs": epoch + 1, "steps": (epoch + 1) * steps, "train_seconds": round(time.monotonic() - t0, 1)}
