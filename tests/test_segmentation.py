"""The segmentation downstream task on a few real BUSI images: MONAI U-Net, paired augmentation, Dice per image."""
from __future__ import annotations

import torch

from reproductions.common.data import dataset_info, load_data
from reproductions.evaluate.segmentation import SegRecipe, classical, dice_per_image, train_and_score


def test_dice_is_one_for_a_perfect_prediction_and_for_two_empty_masks():
    masks = torch.zeros(3, 1, 8, 8)
    masks[0, 0, 2:5, 2:5] = 1
    logits = masks * 20 - 10
    assert dice_per_image(logits, masks).tolist() == [1.0, 1.0, 1.0]
    assert dice_per_image(-logits, masks)[0] == 0


def test_classical_moves_image_and_mask_together():
    x = torch.zeros(4, 1, 32, 32)
    x[:, :, 8:16, 8:16] = 1
    xa, ma = classical(x * 2 - 1, x.clone(), torch.Generator().manual_seed(0))
    assert ((xa > 0).float() - ma).abs().mean() < 0.02 and set(ma.unique().tolist()) <= {0.0, 1.0}


def test_every_arm_trains_on_real_busi_pairs_with_the_same_budget():
    info = dataset_info("busi", 32)
    parts = {s: load_data(info, s) for s in ("train", "val", "test")}
    train, val, test = ({"images": p["images"][:24], "masks": p["masks"][:24]} for p in parts.values())
    synthetic = {"images": train["images"].flip(-1), "masks": train["masks"].flip(-1)}
    recipe = SegRecipe(channels=(4, 8), steps=4, batch_size=4, eval_every=2)
    rows = [train_and_score(train, val, test, arm, recipe, synthetic) for arm in ("none", "classical+synthetic")]
    assert all(r["steps"] == 4 and r["n_test"] == 24 and 0 <= r["dice"] <= 1 for r in rows)
    assert len(rows[0]["dice_per_image"]) == 24
