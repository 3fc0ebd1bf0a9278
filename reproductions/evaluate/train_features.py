"""Train medzoo-resnet18: a 28x28 ResNet-18 over the classes of three MedMNIST train splits, exported as a feature extractor.

    python -m reproductions.evaluate.train_features --epochs 1    # -> zoo/pretrained/medzoo-resnet18.medmnist_28/, registered
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import typer
from torch import nn
from tqdm import tqdm

from reproductions.common.data import dataset_info, load_split
from reproductions.common.train import environment
from reproductions.evaluate.results import command_line
from zoo.archs.features import RESNET18_WIDTHS, ResNet18Features, as_input

MODEL_ID = "medzoo-resnet18.medmnist_28"  # `--features medzoo-resnet18` (the id before the dot) names it
FEATURE_DATASETS = ("pneumoniamnist", "breastmnist", "retinamnist")
PAPERS = ["10.1109/CVPR.2016.90", "10.1038/s41597-022-01721-8"]
# MedMNIST v2 (Yang et al. 2023, Table 3), ResNet-18 (28), test accuracy: what a converged extractor should approach
PUBLISHED_ACC = {"pneumoniamnist": 0.854, "breastmnist": 0.863, "retinamnist": 0.524}


@dataclass(frozen=True)
class FeatureRecipe:
    """How the feature extractor is trained: one softmax head over the classes of all datasets."""

    epochs: int = 1
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    widths: tuple[int, ...] = RESNET18_WIDTHS
    seed: int = 0
    limit: int = 0  # images per dataset and split (tests); 0: all


def joint_split(split: str, data_dir: str | os.PathLike | None, limit: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(uint8 images (N, 3, 28, 28), labels over all datasets' classes, class names) of one split of FEATURE_DATASETS."""
    images, labels, names = [], [], []
    for dataset in FEATURE_DATASETS:
        x, y = load_split(dataset, split, data_dir)
        if limit:
            x, y = x[:limit], y[:limit]
        images.append(x.expand(-1, 3, -1, -1).contiguous())
        labels.append(y + len(names))
        names += [f"{dataset}/{c}" for c in dataset_info(dataset).class_names]
    return torch.cat(images), torch.cat(labels), names


def accuracy_by_dataset(model: ResNet18Features, images: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Top-1 accuracy on each dataset's part of a joint split (argmax over all classes)."""
    model.eval()
    with torch.inference_mode():
        pred = torch.cat([model(as_input(images[i : i + 256])).argmax(1) for i in range(0, len(images), 256)])
    out, start = {}, 0
    for dataset in FEATURE_DATASETS:
        k = len(dataset_info(dataset).class_names)
        mask = (labels >= start) & (labels < start + k)
        out[dataset] = round(float((pred[mask] == labels[mask]).float().mean()), 4)
        start += k
    return out


def model_card(config: dict[str, Any]) -> str:
    """README.md of the feature extractor, through the one card writer (zoo.card)."""
    from zoo.card import render

    t = config["training"]
    data = ", ".join(f"{d} {n}" for d, n in t["train_images"].items())
    val = ", ".join(f"{d} {a:.3f}" for d, a in t["val_accuracy"].items())
    test = ", ".join(f"{d} {a:.3f} (MedMNIST v2 ResNet-18 (28): {PUBLISHED_ACC[d]:.3f})" for d, a in t.get("test_accuracy", {}).items()
                     if d in PUBLISHED_ACC)
    short = config["model_id"].split(".")[0]
    sections = [
        ("Intended use", [
            "The feature space of medzoo's evaluation protocol (`medzoo eval`): FID, KID, precision and recall of",
            f"generated 28x28 MedMNIST images are computed on its pooled {config['feature_dim']}-d features, registered with torch-fidelity",
            f"as the feature extractor `{short}` (`--features {short}`). **Not for diagnosis.**",
        ]),
        ("Use", ["```python", "import zoo", f"fx = zoo.load(\"{config['model_id']}\")",
                 f"features = fx.features(images)  # uint8 (N, 1 or 3, 28, 28) -> (N, {config['feature_dim']})", "```"]),
        ("Model", [
            f"- architecture: timm `resnet18` with a 3x3 stride-1 stem convolution and no max-pool (`{config['arch']}` "
            f"{json.dumps(config['arch_kwargs'])}); input 3 channels, grayscale repeated, pixels scaled to [-1, 1]",
            f"- feature: global-average-pooled output of the last stage, {config['feature_dim']}-d",
            f"- head (training only): one linear softmax over the {config['num_classes']} classes of all three datasets",
            "- weights: `model.safetensors`, float16",
        ]),
        ("Training", [
            f"- data: official train splits of MedMNIST v2 at 28x28 ({data} images), jointly; no augmentation",
            f"- {t['epochs']} epochs, {t['steps']} steps, batch {t['batch_size']}, AdamW lr {t['lr']} (cosine to 0), "
            f"weight decay {t['weight_decay']}, seed {t['seed']}",
            f"- top-1 accuracy on the official val splits: {val}",
            *([f"- top-1 accuracy on the official test splits (argmax over all {config['num_classes']} classes): {test}"]
              if test else []),
            f"- time: {t['seconds']} s on {t['hardware']}",
            f"- torch {t['torch']}, code commit {t['git_commit'] or 'unknown'}",
            f"- command: `{t['command']}`",
        ]),
        ("License", ["Weights: CC BY 4.0, as the MedMNIST v2 training data (Yang et al. 2023, doi:10.1038/s41597-022-01721-8)."]),
    ]
    return render(config, sections, ["feature-extraction", "resnet18", "fid"])


def train_feature_extractor(out: str | os.PathLike, recipe: FeatureRecipe = FeatureRecipe(), data_dir: str | os.PathLike | None = None,
                            model_id: str = MODEL_ID, register: bool = True, command: str | None = None) -> Path:
    """Train on the joint train splits, export config.json + fp16 model.safetensors + README.md into `out`, register it."""
    from zoo.folder import save_folder
    from zoo.registry import check_model_id, entry_from_folder, register as register_entry

    check_model_id(model_id)
    torch.manual_seed(recipe.seed)
    x, y, names = joint_split("train", data_dir, recipe.limit)
    config: dict[str, Any] = {
        "model_id": model_id, "arch": "resnet18_28", "arch_kwargs": {"widths": list(recipe.widths), "stem_stride": 1},
        "family": "resnet", "task": "feature-extraction",
        "summary": "ResNet-18 feature extractor for 28x28 medical images, trained on PneumoniaMNIST, BreastMNIST and RetinaMNIST",
        "dataset": "+".join(FEATURE_DATASETS),
        "organ": ", ".join(dataset_info(d).organ for d in FEATURE_DATASETS),
        "modality": ", ".join(dataset_info(d).modality for d in FEATURE_DATASETS),
        "resolution": 28, "channels": 3, "num_classes": len(names), "class_names": names, "license": "cc-by-4.0",
        "papers": PAPERS, "feature_dim": int(recipe.widths[-1]),
    }
    model = ResNet18Features.from_config(config)
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(x) / recipe.batch_size)
    total = steps_per_epoch * recipe.epochs
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    t0 = time.monotonic()
    bar = tqdm(total=total, desc=model_id, mininterval=5)
    for epoch in range(recipe.epochs):
        model.train()
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(recipe.seed * 1000 + epoch))
        for i in range(steps_per_epoch):
            idx = order[i * recipe.batch_size : (i + 1) * recipe.batch_size]
            loss = nn.functional.cross_entropy(model(as_input(x[idx])), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
    bar.close()
    seconds = time.monotonic() - t0
    vx, vy, _ = joint_split("val", data_dir, recipe.limit)
    tx, ty, _ = joint_split("test", data_dir, recipe.limit)
    config["training"] = {
        **{k: v for k, v in dataclasses.asdict(recipe).items() if k != "widths"},
        "steps": total, "train_images": {d: int(n) for d, n in zip(FEATURE_DATASETS, _split_sizes(y))},
        "val_accuracy": accuracy_by_dataset(model, vx, vy), "test_accuracy": accuracy_by_dataset(model, tx, ty),
        "seconds": round(seconds, 1),
        **environment("cpu", 1), "command": command or command_line(),
    }
    folder = save_folder(model, Path(out), model_card(config), config)
    if register:
        register_entry(entry_from_folder(folder))
    return folder


def _split_sizes(labels: torch.Tensor) -> list[int]:
    """Number of images of each dataset in a joint label vector."""
    sizes, start = [], 0
    for dataset in FEATURE_DATASETS:
        k = len(dataset_info(dataset).class_names)
        sizes.append(int(((labels >= start) & (labels < start + k)).sum()))
        start += k
    return sizes


def main(
    out: Optional[Path] = typer.Option(None, help=f"model folder (default zoo/pretrained/{MODEL_ID})"),
    epochs: int = typer.Option(FeatureRecipe.epochs), batch_size: int = typer.Option(FeatureRecipe.batch_size),
    seed: int = typer.Option(0), threads: int = typer.Option(1, help="torch CPU threads"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir"),
) -> None:
    """Train, export and register the medzoo-resnet18 feature extractor (`--features medzoo-resnet18`)."""
    from zoo.registry import pretrained_dir

    torch.set_num_threads(threads)
    folder = train_feature_extractor(out or pretrained_dir() / MODEL_ID, FeatureRecipe(epochs=epochs, batch_size=batch_size, seed=seed), data_dir)
    typer.echo(f"exported and registered: {folder}")


if __name__ == "__main__":
    typer.run(main)
