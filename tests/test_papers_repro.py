"""Repeating a paper's augmentation experiment on a few real BUSI images: arms, both budgets and both selection rules
per run, rows that resume, the generator's split checked, and the table beside the paper's own figures."""
from __future__ import annotations

import dataclasses
import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from reproductions.common.export import export_run
from reproductions.common.train import train
from reproductions.evaluate.papers import aldhabyani2019, manaf2025
from reproductions.evaluate.papers.protocol import ARMS, build_cnn, run, splits, table

FX = "medzoo-resnet18.medmnist_28"


@pytest.fixture(scope="module")
def busi_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private registry with a tiny 64 px class-conditional FastGAN trained on 32 BUSI train images."""
    from zoo import registry

    root = tmp_path_factory.mktemp("papers")
    shutil.copytree(registry.pretrained_dir() / FX, root / "pretrained" / FX)
    (root / "models.json").write_text(json.dumps({FX: json.loads(registry.registry_path().read_text())[FX]}))
    deterministic = torch.are_deterministic_algorithms_enabled()
    run_dir = train("fastgan", "busi", root / "runs" / "g", epochs=1, limit=32, resolution=64,
                    overrides={"g_base": 4, "d_base": 4, "batch_size": 16}, command="pytest")
    torch.use_deterministic_algorithms(deterministic)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDZOO_REGISTRY", str(root / "models.json"))
        for folder in export_run(run_dir, root / "pretrained"):
            registry.register(registry.entry_from_folder(folder))
    return root


def tiny(setting):
    """The Al-Dhabyani setting at 64 px, two epochs without early stopping, 8 synthetic images per class, 2 seeds."""
    return dataclasses.replace(setting, resolution=64, epochs=2, patience=None, generator="fastgan.busi_64", seeds=(0, 1),
                               synthetic_counts=lambda labels, k: {c: 8 for c in range(k)}, extra={"per_class": 8})


def test_run_writes_both_budgets_and_selections_and_resumes(busi_zoo, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDZOO_REGISTRY", str(busi_zoo / "models.json"))
    setting = tiny(aldhabyani2019.SETTING)
    data = splits(setting, limit=24)
    path = tmp_path / "papers.jsonl"
    rows = run(setting, data=data, path=path)
    assert len(rows) == len(ARMS) * 2 * 2 * 2  # arms x seeds x budgets x selections
    by = {(r["arm"], r["seed"], r["budget"], r["selection"]): r for r in rows}
    for arm in ARMS:
        for seed in (0, 1):
            # picking the epoch on the test split can only flatter: it is never below the validation-selected figure
            assert by[(arm, seed, "paper", "test")]["accuracy"] >= by[(arm, seed, "paper", "val")]["accuracy"]
            assert by[(arm, seed, "equal", "val")]["steps"] == 2 * 1  # 2 epochs of the 24 real images, batch 32
    assert by[("classical+synthetic", 0, "paper", "val")]["steps"] == 2 * 5  # 2 epochs of 24 + 4x24 + 3x8 = 144 images
    assert by[("classical", 0, "paper", "val")]["n_train"] == 5 * 24  # each of the 4 methods adds one copy
    assert by[("synthetic", 0, "paper", "val")]["n_train"] == 24 + 3 * 8
    assert by[("none", 0, "equal", "val")]["same_run_as_paper_budget"]  # same steps, no early stopping: one run
    assert not by[("classical", 0, "equal", "val")]["same_run_as_paper_budget"]
    assert by[("synthetic", 0, "paper", "val")]["generator_sha256"] and "generator_id" not in by[("none", 0, "paper", "val")]
    assert run(setting, data=data, path=path) == []  # every cell stored: nothing runs again

    effects = pd.DataFrame([{"key": setting.paper, "classifier": setting.classifier, "arm": a, "without": 58.0, "with": w}
                            for a, w in (("classical", 62.0), ("synthetic", 73.0), ("classical+synthetic", 78.0))])
    t = table(setting, path=path, effects=effects).set_index("arm")
    assert t.loc["none", "paper"] == 58.0 and t.loc["classical+synthetic", "paper"] == 78.0
    assert (t.paper_setting_seeds == 2).all() and (t.fair_seeds == 2).all() and (t.n_test == 24).all()
    assert 0 <= t.loc["synthetic", "fair"] <= 100 and pd.isna(t.loc["none", "fair_gain"])
    mine = pd.DataFrame([r for r in rows if r["budget"] == "equal" and r["selection"] == "val"])
    gain = 100 * (mine[mine.arm == "synthetic"].set_index("seed").accuracy - mine[mine.arm == "none"].set_index("seed").accuracy)
    assert t.loc["synthetic", "fair_gain"] == pytest.approx(gain.mean())

    import reproductions.evaluate.papers

    sys.path.insert(0, str(Path(__file__).parents[1] / "docs"))
    from sitegen import repeats

    monkeypatch.setattr(reproductions.evaluate.papers, "settings", lambda: {setting.paper: ("aldhabyani2019", setting)})
    monkeypatch.setenv("MEDZOO_PAPER_ROWS", str(path))
    monkeypatch.setattr("reproductions.evaluate.papers.protocol._reported", lambda s, e: {"none": 58.0, "synthetic": 73.0})
    page = repeats.section(setting.paper)
    assert "| synthetic | 73% |" in page and "not run" not in page and "Test split: 24 images" in page
    assert repeats.section("no-such-paper") == ""


def test_generator_trained_on_another_split_is_refused(busi_zoo, monkeypatch, tmp_path):
    monkeypatch.setenv("MEDZOO_REGISTRY", str(busi_zoo / "models.json"))
    setting = tiny(aldhabyani2019.SETTING)
    data = splits(setting, limit=24)
    data["train"] = {**data["train"], "split_sha256": "0" * 64}
    with pytest.raises(ValueError, match="not this train split"):
        run(setting, data=data, path=tmp_path / "rows.jsonl")


def test_manaf_arms_balance_the_normal_class():
    labels = torch.tensor([0] * 3 + [1] * 10)
    images = torch.randint(0, 255, (13, 1, 32, 32), dtype=torch.uint8)
    x, y = manaf2025.classical(images, labels, torch.Generator().manual_seed(0))
    assert len(x) == 7 and (y == 0).all() and x.dtype == torch.uint8
    assert manaf2025.synthetic_counts(labels, 2) == {0: 7}
    real = {"images": images, "labels": labels}
    syn = {"images": torch.zeros(7, 1, 32, 32, dtype=torch.uint8), "labels": torch.zeros(7, dtype=torch.long)}
    both = manaf2025.both(real, {"images": x, "labels": y}, syn)
    assert torch.bincount(both["labels"]).tolist() == [10, 10]


def test_cnns_take_their_resolution():
    for setting in (aldhabyani2019.SETTING, manaf2025.SETTING):
        net = build_cnn(setting.cnn, 1, setting.resolution, 3)
        assert net(torch.zeros(2, 1, setting.resolution, setting.resolution)).shape == (2, 3)


def test_early_stopping_ends_a_run_that_stops_improving():
    from reproductions.evaluate.papers.protocol import train_cnn

    setting = dataclasses.replace(aldhabyani2019.SETTING, resolution=32, batch_size=8, lr=1e-2)
    one = {"images": torch.randint(0, 255, (8, 1, 32, 32), dtype=torch.uint8), "labels": torch.zeros(8, dtype=torch.long)}
    r = train_cnn(setting, one, one, one, steps=50, seed=0, num_classes=3, patience=2)
    assert r["epochs"] < 50 and r["steps"] == r["epochs"]  # one step per epoch; stopped long before the 50th
    assert train_cnn(setting, one, one, one, steps=5, seed=0, num_classes=3)["epochs"] == 5  # no patience: every step


def test_bf16_setting_trains_and_is_told_apart_from_fp32_rows():
    """The bf16 channels-last path learns a separable toy task, and its rows never count as the fp32 setting's."""
    from reproductions.evaluate.papers.protocol import train_cnn

    setting = dataclasses.replace(aldhabyani2019.SETTING, resolution=32, batch_size=8, lr=1e-2, bf16=True)
    images = torch.zeros(16, 1, 32, 32, dtype=torch.uint8)
    images[8:, :, :16] = 255
    data = {"images": images, "labels": torch.tensor([0] * 8 + [1] * 8)}
    r = train_cnn(setting, data, data, data, steps=30, seed=0, num_classes=2)
    assert r["by_val"]["val_acc"] == 1.0
    fp32 = dataclasses.replace(setting, bf16=False).describe()
    assert setting.describe() == {**fp32, "precision": "bf16"} and "precision" not in fp32
