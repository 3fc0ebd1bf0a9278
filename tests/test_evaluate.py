"""The evaluation protocol on a few real images: tiny zoo models, a tiny feature extractor, every bad input, the utility study."""
from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from reproductions.evaluate import cards, classifier, fidelity, paired, protocol, utility
from reproductions.evaluate.fidelity import EvaluationError
from reproductions.evaluate.results import read_jsonl

DCGAN, ACGAN, PIX = "dcgan.pneumoniamnist_28", "acgan.breastmnist_28", "pix2pix.pneumoniamnist_28_sr14"
CYCLE = "cyclegan.pneumoniamnist_28_normal2pneumonia"
FX, FX_ID = "medzoo-resnet18", "medzoo-resnet18.medmnist_28"
TINY = classifier.Recipe(widths=(8, 8, 16, 16), max_epochs=1, min_steps_per_epoch=2, patience=1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def zoo_dir(tiny_zoo_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the tiny zoo plus a tiny CycleGAN and a tiny feature extractor registered as medzoo-resnet18."""
    from reproductions.common.export import export_run
    from reproductions.common.train import train
    from reproductions.evaluate.train_features import FeatureRecipe, train_feature_extractor
    from zoo import registry

    root = tmp_path_factory.mktemp("evalzoo")
    shutil.copy(tiny_zoo_registry, root / "models.json")
    shutil.copytree(tiny_zoo_registry.parent / "pretrained", root / "pretrained")
    deterministic = torch.are_deterministic_algorithms_enabled()
    run = train("cyclegan", "pneumoniamnist", root / "runs" / "cyclegan", epochs=1, limit=32, overrides={"batch_size": 16}, command="pytest")
    torch.use_deterministic_algorithms(deterministic)  # train() switches it on for the whole process
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDZOO_REGISTRY", str(root / "models.json"))
        for folder in export_run(run, root / "pretrained"):
            registry.register(registry.entry_from_folder(folder))
        train_feature_extractor(root / "pretrained" / FX_ID, FeatureRecipe(epochs=1, widths=(8, 16, 16, 32), limit=64), command="pytest")
    return root


@pytest.fixture()
def env(zoo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the zoo at the private registry and the results at this test's own files."""
    monkeypatch.setenv("MEDZOO_REGISTRY", str(zoo_dir / "models.json"))
    monkeypatch.setenv("MEDZOO_RESULTS", str(tmp_path / "evaluations.jsonl"))
    monkeypatch.setenv("MEDZOO_UTILITY", str(tmp_path / "utility.jsonl"))
    monkeypatch.setenv("MEDZOO_UTILITY_HIGHRES", str(tmp_path / "utility_highres.jsonl"))
    monkeypatch.setenv("MEDZOO_UTILITY_CHESTXRAY", str(tmp_path / "utility_chestxray.jsonl"))
    for var, name in (("MEDZOO_FIDELITY", "fidelity.jsonl"), ("MEDZOO_SANITY", "sanity.jsonl"), ("MEDZOO_MEMORIZATION", "memorization.jsonl")):
        monkeypatch.setenv(var, str(tmp_path / name))
    monkeypatch.setenv("MEDZOO_STUDY_DIR", str(tmp_path / "work"))
    return tmp_path


def test_feature_extractor_is_a_registered_torch_fidelity_extractor(env):
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
    from zoo.archs.features import ResNet18Features

    space = fidelity.resolve_features(FX)
    assert FEATURE_EXTRACTORS_REGISTRY[FX] is fidelity.ZooFeatureExtractor and len(space.sha256) == 64
    fx = fidelity.ZooFeatureExtractor(FX, ["pool"])
    (feat,) = fx(torch.randint(0, 256, (3, 3, 28, 28), dtype=torch.uint8))
    assert feat.shape == (3, 32)
    full = ResNet18Features().eval()
    assert full.features(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)).shape == (2, 512)


def test_synthesis_eval_rows_floor_card_and_leaderboard(env):
    import zoo
    from reproductions.evaluate.leaderboard import leaderboard

    rows = protocol.run(protocol.plan(DCGAN, n=40, features=FX, seed=0), TINY, command="pytest")
    by = {(r["model_id"], r["metric"]): r for r in rows}
    metrics = ("fid", "kid_mean", "kid_std", "precision", "recall")
    assert all((DCGAN, m) in by and ("real-train.pneumoniamnist", m) in by for m in metrics)
    fid = by[(DCGAN, "fid")]
    assert fid["n"] == 40 and fid["n_real"] == 624 and fid["kid_subset_size"] == 40 and fid["features"] == FX
    assert fid["value"] > by[("real-train.pneumoniamnist", "fid")]["value"] >= 0
    assert {"commit", "hardware", "seconds", "command", "recorded_at"} <= set(fid) and fid["train_images"] == 32
    assert len(read_jsonl(env / "evaluations.jsonl")) == len(rows)
    again = protocol.run(protocol.plan(DCGAN, n=40, features=FX, seed=0), TINY, command="pytest")
    assert {r["kind"] for r in again} == {"model"}  # the stored floor is reused
    old = zoo.get(DCGAN).files["README.md"]
    card = cards.update_card(DCGAN)
    assert "model-index:" in card.read_text() and "type: fid" in card.read_text()
    assert zoo.get(DCGAN).files["README.md"] != old
    zoo.load(DCGAN)  # the re-registered checksum matches the rewritten card
    board = leaderboard("pneumoniamnist", "fid")
    assert board.iloc[0]["model_id"] == "real-train.pneumoniamnist" and pd.isna(board.iloc[0]["rank"])
    assert board.loc[board["model_id"] == DCGAN, "rank"].tolist() == [1]
    with pytest.raises(ValueError, match="stored metrics"):
        leaderboard("pneumoniamnist", "nope")
    from reproductions.evaluate import plots
    from reproductions.evaluate.results import load_rows

    assert plots.fid_figure(load_rows(), env / "fid.png").stat().st_size > 1000


def test_conditional_eval_has_balanced_generation_and_cas(env):
    p = protocol.plan(ACGAN, n=30, features=FX, seed=1)
    assert p.cas and p.kid_subset_size == 30
    rows = protocol.run(p, TINY, command="pytest")
    cas = {(r["model_id"], r["metric"]): r["value"] for r in rows if r["metric"].startswith("cas")}
    assert set(cas) == {(m, k) for m in (ACGAN, "real-train.breastmnist") for k in ("cas_acc", "cas_auc")}
    assert all(0 <= v <= 1 for v in cas.values())
    # CAS and its floor choose their checkpoint the same way; the synthetic labels follow the train split's priors
    assert {r["selection"] for r in rows if r["metric"].startswith("cas")} == {"real-val"}
    assert {r.get("label_prior") for r in rows if r["model_id"] == ACGAN and r["metric"].startswith("cas")} == {"train"}
    y = protocol.prior_labels(p, 546, 0)
    assert torch.bincount(y).tolist() == [147, 399]  # BreastMNIST train: 147 malignant, 399 normal/benign


def test_translation_evals(env):
    rows = protocol.run(protocol.plan(PIX, n=50, features=FX), TINY, command="pytest")
    got = {(r["model_id"], r["metric"]): r for r in rows}
    assert set(got) == {(m, k) for m in (PIX, "bicubic.pneumoniamnist_sr14") for k in ("ssim", "psnr")}
    assert got[(PIX, "ssim")]["n"] == 50 and 0 < got[("bicubic.pneumoniamnist_sr14", "ssim")]["value"] <= 1
    rows = protocol.run(protocol.plan(CYCLE, n=40, features=FX), TINY, command="pytest")
    kinds = {(r["model_id"], r["kind"], r["reference"]) for r in rows if r["metric"] == "fid"}
    assert kinds == {(CYCLE, "model", "test:pneumonia"), ("untranslated.pneumoniamnist_normal", "baseline", "test:pneumonia"),
                     ("real-train.pneumoniamnist_pneumonia", "floor", "test:pneumonia")}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"model_id": DCGAN, "n": 5}, "too few images"),
    ({"model_id": DCGAN, "n": 20, "kid_subset_size": 50}, "set --kid-subset-size between 2 and 20"),
    ({"model_id": DCGAN, "features": "resnet-imagenet"}, f"unknown feature extractor 'resnet-imagenet'; --features takes one of: {FX}, inception"),
    ({"model_id": DCGAN, "features": PIX}, "is a super-resolution model, not a feature extractor"),
    ({"model_id": "dcgan.pneumonia_28"}, "Did you mean: dcgan.pneumoniamnist_28"),
    ({"model_id": FX_ID}, "is a feature extractor"),
    ({"model_id": DCGAN, "n": 0}, "positive number"),
])
def test_bad_inputs_fail_before_any_computation(env, kwargs, message):
    with pytest.raises(EvaluationError, match=re.escape(message)):
        protocol.plan(**kwargs)
    assert not (env / "evaluations.jsonl").exists()


def test_inception_without_cached_weights_is_refused(env, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(EvaluationError, match="never downloads"):
        protocol.plan(DCGAN, features="inception")


def test_missing_test_split_and_channel_mismatch(env, zoo_dir, tmp_path, monkeypatch):
    with pytest.raises(EvaluationError, match="real test split of pneumoniamnist is not available: missing data file"):
        protocol.plan(DCGAN, n=20, data_dir=tmp_path)
    other = tmp_path / "zoo"
    other.mkdir()
    (other / "pretrained").symlink_to(zoo_dir / "pretrained")
    reg = json.loads((zoo_dir / "models.json").read_text())
    reg[DCGAN]["dataset"] = "retinamnist"
    (other / "models.json").write_text(json.dumps(reg))
    monkeypatch.setenv("MEDZOO_REGISTRY", str(other / "models.json"))
    with pytest.raises(EvaluationError, match="makes 1-channel 28x28 images but its dataset retinamnist has 3-channel"):
        protocol.plan(DCGAN)


def test_cli_errors_are_one_line(env, monkeypatch, capsys):
    from medzoo.cli import main

    monkeypatch.setattr(sys, "argv", ["medzoo", "eval", DCGAN, "--n", "5"])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2 and capsys.readouterr().err.startswith("error: too few images")


def test_utility_study_resumes(env):
    """The no-generator arms of the fair study (generator arms: tests/test_study_pipeline.py)."""
    assert utility.arms("breastmnist", seed=3) == ["none", "classical"]
    assert utility.run(["breastmnist"], seeds=(0,), fractions=(0.01,), recipe=TINY, gen_seeds=()) == 2
    cells = read_jsonl(env / "utility.jsonl")
    assert [c["arm"] for c in cells] == ["none", "classical"] and all(0 <= c["auc"] <= 1 for c in cells)
    assert cells[0]["n_real"] == 1 + 4 and cells[0]["n_val"] == 1 + 1 and cells[0]["n_synthetic"] == 0  # 1% of 147/399, of 21/57
    assert cells[0]["subset_sha256"] == cells[1]["subset_sha256"] and cells[0]["steps"] == cells[1]["steps"]
    assert utility.check_rows(cells) == []
    with open(env / "utility.jsonl", "a") as f:
        f.write('{"dataset": "breastmn')  # a run killed mid-write
    assert utility.run(["breastmnist"], seeds=(0,), fractions=(0.01,), recipe=TINY, gen_seeds=()) == 0


def test_utility_report_and_figures(env):
    from reproductions.evaluate import plots
    from reproductions.evaluate.results import append_jsonl

    rid = TINY.recipe_id()
    append_jsonl(env / "utility.jsonl", [{"dataset": "breastmnist", "fraction": f, "arm": arm, "seed": s, "recipe_id": rid,
                                          "auc": 0.8 + 0.01 * s + 0.1 * f, "acc": 0.7 + 0.02 * s}
                                         for f in (0.1, 1.0) for arm in ("none", "classical") for s in (0, 1, 2)])
    table = utility.summary(recipe=TINY)
    assert len(table) == 4 and (table["seeds"] == 3).all()
    ref = table[(table["fraction"] == 1.0) & (table["arm"] == "none")].iloc[0]
    assert ref["auc"] == pytest.approx(0.91) and ref["auc_ci95"] == pytest.approx(4.303 * 0.01 / np.sqrt(3), abs=1e-4)
    assert ref["published_auc"] == 0.901 and ref["d_auc"] == pytest.approx(0.009) and ref["d_acc"] == pytest.approx(0.72 - 0.863)
    assert table.loc[table["fraction"] == 0.1, "published_auc"].isna().all()
    written = plots.main(env / "figures", recipe=TINY)
    assert [p.name for p in written] == ["utility_breastmnist.png"] and written[0].stat().st_size > 1000
    from reproductions.evaluate import stats

    g = stats.gains(utility.load(recipe=TINY))
    assert set(g["arm"]) == {"classical"} and g["pairs"].tolist() == [3, 3] and (g["gain"] == 0.0).all()


def test_utility_runners_share_the_work_group_by_group(env):
    """A group another process holds is skipped, not run twice; the kernel frees a runner's groups when it dies."""
    import fcntl

    held = utility.lock_path(env / "utility.jsonl", ("breastmnist", 0.01, 1))
    held.parent.mkdir(parents=True, exist_ok=True)
    with open(held, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another runner is inside group (breastmnist, 1%, seed 1)
        assert utility.run(["breastmnist"], seeds=(0, 1), fractions=(0.01,), recipe=TINY, gen_seeds=()) == 2
    assert {r["seed"] for r in read_jsonl(env / "utility.jsonl")} == {0}
    assert utility.run(["breastmnist"], seeds=(0, 1), fractions=(0.01,), recipe=TINY, gen_seeds=()) == 2  # now free


def test_shards_split_the_plan_without_overlap(env):
    cells = utility.plan(["pneumoniamnist", "breastmnist"], seeds=(0, 1, 2, 3, 4))
    shards = [{c for c in cells if c.shard(4) == i} for i in range(4)]
    assert set().union(*shards) == set(cells) and sum(map(len, shards)) == len(cells)
    assert all(shards), "every shard gets work"
    with pytest.raises(ValueError, match="shard must be i/n"):
        utility.run(["breastmnist"], seeds=(0,), fractions=(1.0,), recipe=TINY, shard=(4, 4))


def test_stratified_subsets_and_confidence_interval():
    labels = torch.tensor([0] * 90 + [1] * 10)
    idx = utility.subset(labels, 0.05, seed=0)
    assert labels[idx].tolist().count(1) == 1 and labels[idx].tolist().count(0) == 4
    assert torch.equal(idx, utility.subset(labels, 0.05, seed=0)) and not torch.equal(idx, utility.subset(labels, 0.05, seed=1))
    assert len(utility.subset(labels, 1.0, seed=3)) == 100


def test_ssim_psnr_and_auc():
    x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8)
    same = paired.ssim_psnr(x, x)
    assert same == {"ssim": pytest.approx(1.0), "psnr": paired.PSNR_CAP}
    noisy = (x.int() + torch.randint(-20, 21, x.shape)).clamp(0, 255).to(torch.uint8)
    worse = paired.ssim_psnr(noisy, x)
    assert worse["ssim"] < 1 and 15 < worse["psnr"] < 40
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert classifier.scores(probs, np.array([0, 1, 0, 1])) == {"auc": 1.0, "acc": 1.0}


def test_catalog_loads_evaluation_rows(env, fixture_data, tmp_path, monkeypatch):
    from sqlalchemy import create_engine, text

    from catalog import builder

    rows = [{"model_id": DCGAN, "dataset": "pneumoniamnist", "kind": "model", "metric": "fid", "value": 1.5, "n": 10, "seed": 0,
             "features": FX, "kid_subset_size": 10}]
    path = tmp_path / "evals.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"torn')
    monkeypatch.setattr(builder, "EVALUATIONS", path)
    db = tmp_path / "c.db"
    builder.build(str(db), fixture_data)
    with create_engine(f"sqlite:///{db}").connect() as conn:
        got = conn.execute(text("SELECT model_id, metric, value, facts FROM evaluation")).all()
    assert [(g[0], g[1], g[2]) for g in got] == [(DCGAN, "fid", 1.5)] and json.loads(got[0][3]) == {"kid_subset_size": 10}
