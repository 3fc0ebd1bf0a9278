"""Issue 14's study end to end on real images with tiny models: memorization check and flags, fidelity at equal n,
feature-space sanity, the fair utility study (subset generators, gate, resume, superseded groups) and its docs page."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from reproductions.evaluate import classifier, equal_n, generators, memorization, report, sanity, utility
from reproductions.evaluate.results import read_jsonl

REPO = Path(__file__).resolve().parents[1]
ACGAN, PIX, FX_ID = "acgan.breastmnist_28", "pix2pix.pneumoniamnist_28_sr14", "medzoo-resnet18.medmnist_28"
TINY = classifier.Recipe(widths=(8, 8, 16, 16), max_epochs=2, min_steps_per_epoch=2, patience=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def zoo_dir(tiny_zoo_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the tiny zoo with a tiny feature extractor registered as medzoo-resnet18."""
    from reproductions.evaluate.train_features import FeatureRecipe, train_feature_extractor

    root = tmp_path_factory.mktemp("studyzoo")
    shutil.copy(tiny_zoo_registry, root / "models.json")
    shutil.copytree(tiny_zoo_registry.parent / "pretrained", root / "pretrained")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDZOO_REGISTRY", str(root / "models.json"))
        train_feature_extractor(root / "pretrained" / FX_ID, FeatureRecipe(epochs=1, widths=(8, 16, 16, 32), limit=64), command="pytest")
    return root


@pytest.fixture()
def env(zoo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The private zoo, and every rows file and cache of the study in this test's folder."""
    monkeypatch.setenv("MEDZOO_REGISTRY", str(zoo_dir / "models.json"))
    for var, name in (("MEDZOO_RESULTS", "evaluations.jsonl"), ("MEDZOO_UTILITY", "utility.jsonl"), ("MEDZOO_FIDELITY", "fidelity.jsonl"),
                      ("MEDZOO_SANITY", "sanity.jsonl"), ("MEDZOO_MEMORIZATION", "memorization.jsonl")):
        monkeypatch.setenv(var, str(tmp_path / name))
    monkeypatch.setenv("MEDZOO_STUDY_DIR", str(tmp_path / "work"))
    return tmp_path


def test_memorization_check_is_resumable_and_flags_card_and_registry(env, monkeypatch):
    import zoo
    from zoo.registry import get

    monkeypatch.setattr(memorization, "MAX_GENERATED", 120)
    rows = memorization.check(ACGAN, pictures=env / "pictures")
    assert [r["space"] for r in rows] == ["pixels", "medzoo-resnet18"]
    r = rows[0]
    assert r["n_generated"] == 120 and r["n_train"] == 546 and r["n_test"] == 156 and r["reference"] == "val"
    assert r["generator_sha256"] == get(ACGAN).files["model.safetensors"] and len(r["closest"]) == memorization.PAIRS
    assert (env / "pictures" / f"{ACGAN}.png").stat().st_size > 2000 and r["ct_cells"] == memorization.n_cells(156) == 3
    assert memorization.check(ACGAN, pictures=env / "pictures") == []  # stored for these weights: skipped
    card = memorization.flag(ACGAN, rows)
    assert "## Memorization" in card.read_text() and get(ACGAN).extra["memorization"]["verdict"] == memorization.verdict(rows)
    zoo.load(ACGAN)  # the re-registered checksums match the rewritten card
    from reproductions.evaluate.cards import update_card

    update_card(ACGAN)  # `medzoo eval` rewriting the card keeps the verdict in the registry
    assert get(ACGAN).extra["memorization"]["verdict"] == memorization.verdict(rows)
    assert len(memorization.inputs(ACGAN, max_generated=50)["gen"]) == 50  # slow samplers: fewer images
    paired = memorization.check(PIX, spaces=("pixels",), pictures=env / "pictures")
    assert paired[0]["reference"] == "bicubic" and 0 <= paired[0]["share_closer_to_train_than_target"] <= 1
    table = report.memorization_table()
    assert set(table["model_id"]) == {ACGAN, PIX}


def test_fidelity_at_equal_n_with_intervals_and_cross_space(env):
    from reproductions.evaluate.results import load_rows

    rows = equal_n.run_model(ACGAN, draws=(0, 1), b=5)
    kinds = sorted((r["model_id"], r["features"], r["draw"]) for r in rows)
    assert kinds == sorted([(ACGAN, s, d) for s in ("medzoo-resnet18", "pixels") for d in (0, 1)]
                           + [("real-train.breastmnist", s, 0) for s in ("medzoo-resnet18", "pixels")])
    assert {r["n"] for r in rows} == {546} and {r["n_real"] for r in rows} == {156}, "every model and the floor at equal n"
    first = next(r for r in rows if r["model_id"] == ACGAN and r["draw"] == 0 and r["features"] == "medzoo-resnet18")
    assert first["label_prior"] == "train" and first["fid_ci95"][0] < first["fid"] < first["fid_ci95"][1]
    assert "fid_ci95" not in next(r for r in rows if r["features"] == "pixels"), "the cross-check space has point estimates"
    assert equal_n.run_model(ACGAN, draws=(0, 1), b=5) == []
    assert equal_n.sync_evaluations() == 8 and equal_n.sync_evaluations() == 0  # first draw, 4 metrics, model + floor
    ev = load_rows()
    assert set(ev["protocol"]) == {"equal-n"} and (ev["n"] == 546).all()
    assert ev.loc[ev["metric"].isin(["fid", "kid_mean"]), "ci_low"].notna().all()
    t = report.fidelity_table()
    assert list(t.loc[t["model_id"] == ACGAN, "draws"]) == [2]
    cs = report.cross_space()
    assert cs["pairs"] == 0  # one model per dataset here: no pair to rank


def test_sanity_noise_raises_fid_on_real_images(env):
    rows = sanity.run_dataset("breastmnist", spaces=("pixels",), repeats=(0,), degradations=("noise", "classes"), limit=80)
    assert {r["degradation"] for r in rows} == {"noise", "classes"} and {r["n"] for r in rows} == {80}
    assert sanity.run_dataset("breastmnist", spaces=("pixels",), repeats=(0,), degradations=("noise",), limit=80) == []
    v = sanity.verdicts(limit=80).set_index(["degradation", "metric"])
    assert v.loc[("noise", "fid"), "monotone"] and v.loc[("noise", "fid"), "levels"] == list(sanity.NOISE)
    assert sanity.figure(out=env / "sanity.png", limit=80).stat().st_size > 2000


def test_fair_utility_study_end_to_end(env, monkeypatch):
    from medzoo.cli import main

    monkeypatch.setitem(generators.STEPS, 28, {"acgan": 3, "diffaugment": 2, "cyclegan": 2})
    recipe = TINY
    root = env / "gens"
    ran = utility.run(["breastmnist"], seeds=(0, 1), fractions=(0.01,), recipe=recipe, gen_seeds=(0,), root=root)
    rows = read_jsonl(env / "utility.jsonl")
    assert ran == len(rows) == 5 + 1 + 2  # seed 0: none, classical, 3 generator arms, privileged; seed 1: none, classical
    assert utility.check_rows(rows) == []
    gan = next(r for r in rows if r["arm"] == "gan:acgan")
    assert gan["generator_subset_sha256"] == gan["subset_sha256"] and gan["n_real"] == 5 and len(gan["generator_sha256"]) == 64
    assert gan["gate"]["margin"] == utility.GATE_MARGIN and (gan["fallback"] is None) == gan["gate"]["passed"]
    per = next(r for r in rows if r["arm"] == "perclass:diffaugment")
    assert len(per["generators"]) == 2 and per["generator_subset_sha256"] == per["subset_sha256"]
    priv = next(r for r in rows if r["arm"].startswith("privileged-"))
    assert priv["generator_subset_sha256"] != priv["subset_sha256"]
    assert len({r["steps"] for r in rows if r["seed"] == 0}) == 1, "equal steps in every arm of a group"
    scores = read_jsonl(env / "utility_scores.jsonl")
    assert len(scores[0]["scores"]) == 156 and {s["arm"] for s in scores} >= {"none", "classical"}

    # a run killed mid-group resumes with the missing arms only; a group restarted on another commit is redone whole
    lines = (env / "utility.jsonl").read_text().splitlines()
    (env / "utility.jsonl").write_text("\n".join(lines[:-1]) + "\n" + '{"dataset": "breastm')
    assert utility.run(["breastmnist"], seeds=(0, 1), fractions=(0.01,), recipe=recipe, gen_seeds=(0,), root=root) == 1
    edited = [json.loads(x) for x in (env / "utility.jsonl").read_text().splitlines() if x.startswith("{") and x.endswith("}")]
    seed1 = [r for r in edited if r["seed"] == 1]
    (env / "utility.jsonl").write_text("".join(json.dumps({**r, "commit": "other"} if r["seed"] == 1 and r["arm"] == "none" else r) + "\n"
                                               for r in edited if not (r["seed"] == 1 and r["arm"] == "classical")))
    assert utility.run(["breastmnist"], seeds=(0, 1), fractions=(0.01,), recipe=recipe, gen_seeds=(0,), root=root) == len(seed1)
    assert len(read_jsonl(env / "utility_superseded.jsonl")) == 1
    assert utility.check_rows(read_jsonl(env / "utility.jsonl")) == []

    monkeypatch.setattr(utility, "STUDY_RECIPE", recipe)
    g = report.paired_table(b=20)
    assert set(g["arm"]) >= {"classical", "gan:acgan"} and set(g["table"]) == {"fair", "privileged"}
    assert report.gate_table()["arm"].tolist() == ["gan:acgan", "perclass:diffaugment", f"privileged-gan:{ACGAN}"]
    from reproductions.evaluate import plots

    assert plots.study_samples_figure("breastmnist", env / "samples.png", root=root).stat().st_size > 2000
    assert plots.study_samples_figure("breastmnist", env / "none.png", root=env / "elsewhere") is None  # generators absent
    monkeypatch.setattr(sys, "argv", ["medzoo", "utility", "check"])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 0

    monkeypatch.syspath_prepend(str(REPO / "docs"))
    from sitegen import study

    text, files = study.utility_page()
    for heading in ("## Gain over no augmentation", "## Quality gate", "### Privileged arms", "## Fidelity at equal n",
                    "## Feature-space sanity", "## Cross-space agreement", "## Memorization", "## The earlier, flawed protocol",
                    "## Provenance"):
        assert heading in text, heading
    assert "gan:acgan" in text and "study/utility_v1_breastmnist.png" in files


@pytest.mark.slow
def test_cyclegan_arm_adds_translated_pneumonia_images(env, monkeypatch):
    """The CycleGAN arm on PneumoniaMNIST (slower: 624 test images and a 47-image subset)."""
    monkeypatch.setitem(generators.STEPS, 28, {"acgan": 2, "diffaugment": 2, "cyclegan": 2})
    utility.run(["pneumoniamnist"], seeds=(0,), fractions=(0.01,), recipe=TINY, gen_seeds=(0,), privileged=False, root=env / "gens")
    rows = {r["arm"]: r for r in read_jsonl(env / "utility.jsonl")}
    cyc = rows["cyclegan:normal2pneumonia"]
    assert cyc["generator_subset_sha256"] == cyc["subset_sha256"] and utility.check_rows(rows.values()) == []
    assert cyc["n_synthetic"] in (0, 12)  # the subset's 12 normal images, translated (0 when the gate failed)
