"""Lesion segmentation as a downstream task: MONAI's U-Net trained on (image, mask) pairs, scored by Dice.

The utility study at real resolution (issue 19) trains it on BUSI at 128 px with and without synthetic pairs from a
mask model (`spade.*`): arms `none`, `classical` (random flips and small affine changes of image and mask together),
`synthetic` and `classical+synthetic`, every arm with the same number of optimizer steps. Early stopping uses the
validation split; Dice is reported on the test split, per image, so paired intervals over images can be formed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

ARMS = ("none", "classical", "synthetic", "classical+synthetic")


@dataclass(frozen=True)
class SegRecipe:
    """U-Net widths and optimisation; `steps` is the same for every arm (the budget)."""

    channels: tuple[int, ...] = (16, 32, 64, 128)
    steps: int = 600
    batch_size: int = 16
    lr: float = 1e-3
    eval_every: int = 100
    seed: int = 0

    def describe(self) -> str:
        return (f"MONAI UNet (channels {list(self.channels)}, strides 2, 2 residual units), Dice + BCE loss, Adam lr {self.lr}, "
                f"{self.steps} steps of {self.batch_size}, best validation Dice every {self.eval_every} steps")


def build_unet(recipe: SegRecipe) -> torch.nn.Module:
    """MONAI's 2D U-Net: one grey channel in, one lesion logit out."""
    from monai.networks.nets import UNet

    return UNet(spatial_dims=2, in_channels=1, out_channels=1, channels=recipe.channels,
                strides=(2,) * (len(recipe.channels) - 1), num_res_units=2)


def classical(images: torch.Tensor, masks: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The same random horizontal flip, rotation (+-10 deg), scale (0.9-1.1) and shift (+-5%) for image and mask."""
    n = len(images)
    u = torch.rand(n, 5, generator=gen)
    angle = (u[:, 0] * 20 - 10) * math.pi / 180
    scale = 0.9 + 0.2 * u[:, 1]
    flip = torch.where(u[:, 4] < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(angle) / scale * flip
    theta[:, 0, 1] = -torch.sin(angle) / scale
    theta[:, 1, 0] = torch.sin(angle) / scale * flip
    theta[:, 1, 1] = torch.cos(angle) / scale
    theta[:, :, 2] = (u[:, 2:4] - 0.5) * 0.1
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    x = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    m = F.grid_sample(masks, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return x, m


def dice_per_image(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Dice of the thresholded prediction per image; an image with no lesion and no prediction scores 1."""
    pred = (logits > 0).float().flatten(1)
    true = masks.float().flatten(1)
    inter, total = (pred * true).sum(1), pred.sum(1) + true.sum(1)
    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))


def _as_float(images: torch.Tensor) -> torch.Tensor:
    return images.float() / 127.5 - 1


def train_and_score(train: dict[str, torch.Tensor], val: dict[str, torch.Tensor], test: dict[str, torch.Tensor], arm: str,
                    recipe: SegRecipe = SegRecipe(), synthetic: dict[str, torch.Tensor] | None = None,
                    device: str = "cpu") -> dict[str, Any]:
    """Train one arm and return its test Dice per image, mean Dice, and the step whose validation Dice was best.

    `train`/`val`/`test`: {"images": uint8 (N, 1, R, R), "masks": uint8 {0, 1} (N, 1, R, R)}; `synthetic`: the same
    form, required by the synthetic arms (half of each batch is synthetic there). Batches are drawn and augmented on
    the CPU (the same random stream on every device); the U-Net trains on `device`.
    """
    from monai.losses import DiceCELoss

    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r}; arms: {', '.join(ARMS)}")
    if "synthetic" in arm and synthetic is None:
        raise ValueError(f"arm {arm!r} needs synthetic image + mask pairs")
    torch.manual_seed(recipe.seed)
    gen = torch.Generator().manual_seed(recipe.seed)
    dev = torch.device(device)
    model = build_unet(recipe).to(dev)
    loss_fn = DiceCELoss(sigmoid=True)
    opt = torch.optim.Adam(model.parameters(), recipe.lr)
    x, m = _as_float(train["images"]), train["masks"].float()
    sx = _as_float(synthetic["images"]) if synthetic is not None else None
    sm = synthetic["masks"].float() if synthetic is not None else None
    best = (-1.0, 0, {k: v.clone() for k, v in model.state_dict().items()})
    for step in range(1, recipe.steps + 1):
        model.train()
        n_syn = recipe.batch_size // 2 if "synthetic" in arm else 0
        idx = torch.randint(len(x), (recipe.batch_size - n_syn,), generator=gen)
        bx, bm = x[idx], m[idx]
        if n_syn:
            j = torch.randint(len(sx), (n_syn,), generator=gen)
            bx, bm = torch.cat([bx, sx[j]]), torch.cat([bm, sm[j]])
        if "classical" in arm:
            bx, bm = classical(bx, bm, gen)
        loss = loss_fn(model(bx.to(dev)), bm.to(dev))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % recipe.eval_every == 0 or step == recipe.steps:
            score = float(predict_dice(model, val).mean())
            if score > best[0]:
                best = (score, step, {k: v.clone() for k, v in model.state_dict().items()})
    model.load_state_dict(best[2])
    per_image = predict_dice(model, test)
    return {"arm": arm, "dice": float(per_image.mean()), "dice_per_image": per_image.tolist(), "best_step": best[1],
            "val_dice": best[0], "steps": recipe.steps, "n_train": len(x), "n_test": len(per_image),
            "recipe": recipe.describe()}


@torch.no_grad()
def predict_dice(model: torch.nn.Module, split: dict[str, torch.Tensor], batch: int = 32) -> torch.Tensor:
    """Per-image Dice of `model` on a split (computed on the model's device, returned on the CPU)."""
    model.eval()
    dev = next(model.parameters()).device
    x, m = _as_float(split["images"]), split["masks"]
    return torch.cat([dice_per_image(model(x[i : i + batch].to(dev)).cpu(), m[i : i + batch]) for i in range(0, len(x), batch)])
