"""The 128 px chest X-ray utility study's fair rule, on a few real images: every arm trains the same steps on the same
subset, and a synthetic arm's FastGAN saw exactly that subset."""
from __future__ import annotations

import torch

from reproductions.evaluate.classifier import Recipe


def _few(split: dict, n: int, seed: int) -> dict:
    keep = torch.randperm(len(split["labels"]), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return {k: (v[keep] if torch.is_tensor(v) else v) for k, v in split.items()}


def test_fair_classification_cells_use_a_fastgan_trained_on_exactly_the_classifiers_subset(tmp_path, monkeypatch):
    from reproductions.evaluate import utility_chestxray as uc
    from reproductions.evaluate.subsets import nested_subset, subset_sha256

    monkeypatch.setenv("MEDZOO_STUDY_DIR", str(tmp_path / "study"))
    data = uc.splits(64)
    few = {s: _few(d, 40, i) for i, (s, d) in enumerate(data.items())}
    recipe = Recipe(batch_size=8, max_epochs=2, patience=2, min_steps_per_epoch=2)
    tiny = {"g_base": 4, "d_base": 4, "batch_size": 8}
    path = tmp_path / "rows.jsonl"
    rows = uc.run([0.5], [0], recipe, path=path, resolution=64, data=few, gen_steps=2, gen_overrides=tiny)
    assert [r["arm"] for r in rows] == list(uc.ARMS)
    idx = nested_subset(few["train"]["labels"], 0.5, 0)
    assert len({r["steps"] for r in rows}) == 1  # the same optimizer steps in every arm
    for r in rows:
        assert r["subset_sha256"] == subset_sha256(idx) and r["n_train"] == len(idx) and len(r["test_probs"]) == 40
        assert 0 <= r["auc"] <= 1 and r["task"] == "classification"
        if "synthetic" in r["arm"]:  # the fair rule: the generator saw exactly the classifier's training images
            assert r["generator_subset_sha256"] == r["subset_sha256"] and r["generator_id"].startswith("fastgan.chestxray_64_")
            assert r["n_synthetic"] == len(idx)
        else:
            assert "generator_id" not in r and r["n_synthetic"] == 0
    assert uc.run([0.5], [0], recipe, path=path, resolution=64, data=few, gen_steps=2, gen_overrides=tiny) == []  # resumable
    table = uc.summary(path)
    assert set(table.arm) == set(uc.ARMS) and table.loc[table.arm == "none", "gain"].isna().all()


def test_the_bundled_fastgan_was_trained_on_the_current_chest_xray_train_split():
    from reproductions.evaluate import utility_chestxray as uc
    from reproductions.evaluate.generators import bundled_generator

    facts = bundled_generator(uc.BUNDLED, uc.splits()["train"])
    assert facts["generator_id"] == uc.BUNDLED and facts["generator_steps"] == uc.bundled_recipe()["steps"]
