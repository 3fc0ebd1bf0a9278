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


def test_fair_segmentation_cells_use_a_spade_trained_on_exactly_the_unets_subset(tmp_path, monkeypatch):
    from reproductions.evaluate import utility_highres as uh
    from reproductions.evaluate.subsets import nested_subset, subset_sha256

    monkeypatch.setenv("MEDZOO_STUDY_DIR", str(tmp_path / "study"))
    data = uh.splits(64)
    few = {s: {k: (v[:30] if torch.is_tensor(v) else v) for k, v in d.items()} for s, d in data.items()}
    recipe = SegRecipe(channels=(4, 8), steps=2, batch_size=4, eval_every=2)
    rows = uh.run([0.5], [0], recipe, path=tmp_path / "rows.jsonl", gen_steps=2, resolution=64, data=few)
    assert [r["arm"] for r in rows] == list(uh.ARMS)
    idx = nested_subset(few["train"]["labels"], 0.5, 0)
    for r in rows:
        assert r["subset_sha256"] == subset_sha256(idx) and r["n_train"] == len(idx) and r["steps"] == 2
        if "synthetic" in r["arm"]:  # the fair rule: the generator saw exactly the U-Net's training images
            assert r["generator_subset_sha256"] == r["subset_sha256"] and r["generator_id"].startswith("spade.busi_64_")
        else:
            assert "generator_id" not in r
    assert uh.run([0.5], [0], recipe, path=tmp_path / "rows.jsonl", gen_steps=2, resolution=64, data=few) == []  # resumable
    table = uh.summary(tmp_path / "rows.jsonl")
    assert set(table.arm) == set(uh.ARMS) and table.loc[table.arm == "none", "gain"].isna().all()


def test_the_bundled_spade_was_trained_on_the_current_busi_train_split():
    from reproductions.evaluate import utility_highres as uh

    facts = uh.bundled_generator(uh.BUNDLED, uh.splits()["train"])
    assert facts["generator_id"] == "spade.busi_128" and len(facts["generator_sha256"]) == 64
