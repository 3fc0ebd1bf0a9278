"""The rules of issue 14's fair study, pinned without training anything: the stored rows, subsets and their hashes,
paired statistics with Holm's correction, FID/KID against torch-fidelity, the data-copying statistic."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest
import torch

from reproductions.evaluate import equal_n, memorization, stats, subsets, utility
from reproductions.evaluate.results import read_jsonl


def _row(**kw):
    base = {"dataset": "breastmnist", "fraction": 0.05, "arm": "none", "seed": 0, "recipe_id": "r", "protocol": utility.PROTOCOL,
            "auc": 0.8, "acc": 0.7, "subset_sha256": "a" * 64, "generator_id": None, "generator_subset_sha256": None,
            "generator_sha256": None, "commit": "c", "hardware": "h", "seconds": 1.0, "command": "pytest",
            "recorded_at": "2026-01-01T00:00:00+00:00", "steps": 150}
    return {**base, **kw}


def _gan(**kw):
    return _row(**{"arm": "gan:acgan", "generator_id": "acgan.breastmnist_28_x", "generator_subset_sha256": "a" * 64,
                   "generator_sha256": "b" * 64, **kw})


def test_every_stored_utility_row_obeys_the_rules():
    """The committed rows: every row has subset_sha256 and the generator fields, and outside privileged-* arms a
    generator was trained on exactly the classifier's subset; groups share hardware, commit, subset and steps."""
    rows = read_jsonl(utility.CELLS)
    assert utility.check_rows(rows) == []
    for r in rows:
        assert {"subset_sha256", "generator_id", "generator_subset_sha256", "generator_sha256"} <= set(r)
        if r["arm"] not in utility.NO_GENERATOR and not r["arm"].startswith(utility.PRIVILEGED):
            assert r["generator_subset_sha256"] == r["subset_sha256"], r
    flawed = read_jsonl(utility.V1_FLAWED)
    assert flawed and utility.check_rows(flawed), "the earlier rows stay apart: they break the rules"


def test_check_rows_finds_each_violation():
    assert utility.check_rows([_row(), _row(arm="classical"), _gan()]) == []
    assert utility.check_rows([_row(), _gan(arm="privileged-gan:acgan.breastmnist_28", generator_subset_sha256="f" * 64)]) == []
    bad = utility.check_rows([_row(), _gan(generator_subset_sha256="f" * 64)])
    assert len(bad) == 1 and "generator_subset_sha256 != subset_sha256 outside a privileged-* arm" in bad[0]
    missing = {k: v for k, v in _gan().items() if k != "generator_sha256"}
    assert "missing generator_sha256" in utility.check_rows([missing])[0]
    assert "without generator_id" in utility.check_rows([_gan(generator_id=None)])[0]
    assert "records generator facts" in utility.check_rows([_row(generator_id="x")])[0]
    assert "hardware/commit" in utility.check_rows([_row(), _gan(commit="other")])[0]
    assert "different numbers of steps" in utility.check_rows([_row(), _gan(steps=300)])[0]
    assert "different subsets" in utility.check_rows([_row(), _row(arm="classical", subset_sha256="c" * 64)])[0]


def test_nested_stratified_subsets_and_their_hash():
    labels = torch.tensor([0] * 90 + [1] * 10 + [2] * 3)
    prev = set()
    for f in (0.01, 0.05, 0.1, 0.25, 1.0):
        idx = subsets.nested_subset(labels, f, seed=3)
        counts = torch.bincount(labels[idx], minlength=3).tolist()
        assert counts == [max(1, min(n, round(f * n))) for n in (90, 10, 3)], f
        assert prev <= set(idx.tolist()), "a larger fraction contains the smaller one"
        prev = set(idx.tolist())
    assert len(prev) == len(labels)
    assert not torch.equal(subsets.nested_subset(labels, 0.1, 0), subsets.nested_subset(labels, 0.1, 1))
    assert not torch.equal(subsets.nested_subset(labels, 0.25, 0, "train"), subsets.nested_subset(labels, 0.25, 0, "val"))
    assert subsets.subset_sha256([17, 5, 1]) == hashlib.sha256(b"1,5,17").hexdigest() == subsets.subset_sha256(torch.tensor([1, 17, 5]))
    with pytest.raises(ValueError, match="fraction"):
        subsets.nested_subset(labels, 0.0, 0)


def test_plan_keeps_a_group_on_one_shard_and_generator_arms_at_their_seeds(monkeypatch):
    monkeypatch.setattr(utility, "privileged_models", lambda d: [f"acgan.{d}_28"])
    cells = utility.plan(["pneumoniamnist", "breastmnist"], seeds=(0, 1, 2, 3), gen_seeds=(0, 1))
    assert {c.arm for c in cells if c.seed == 3} == {"none", "classical"}
    assert "cyclegan:normal2pneumonia" in {c.arm for c in cells if c.dataset == "pneumoniamnist"}
    assert "cyclegan:normal2pneumonia" not in {c.arm for c in cells if c.dataset == "breastmnist"}
    by_group: dict = {}
    for c in cells:
        by_group.setdefault(c.group, set()).add(c.shard(3))
    assert all(len(s) == 1 for s in by_group.values())
    arms = utility.arms("breastmnist", 0)
    assert arms[:2] == ["none", "classical"] and arms[-1] == "privileged-gan:acgan.breastmnist_28"


def test_holm_and_paired_t():
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, float("nan"), 0.001])[2] == pytest.approx(0.002) and np.isnan(stats.holm([np.nan])[0])
    mean, half, p = stats.paired_t(np.array([0.01, 0.03, 0.02]))
    assert mean == pytest.approx(0.02) and half == pytest.approx(4.302653 * 0.01 / np.sqrt(3), rel=1e-5) and p == pytest.approx(0.0742, abs=1e-3)
    assert np.isnan(stats.paired_t(np.array([0.1]))[1])


def test_rank_auc_matches_sklearn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = np.round(rng.random(200) + 0.3 * y, 2)  # ties on purpose
    assert stats.auc_rank(s, y) == pytest.approx(roc_auc_score(y, s))
    y3 = rng.integers(0, 3, 150)
    p3 = rng.random((150, 3))
    assert stats.auc_rank(p3, y3) == pytest.approx(np.mean([roc_auc_score(y3 == k, p3[:, k]) for k in range(3)]))


def test_resampled_auc_is_the_auc_of_each_resample():
    """The bootstrap weighs images by how often a resample draws them instead of sorting it; each row's AUC is that of
    the resampled images (a class absent from a resample is left out of the multi-class mean)."""
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 40)
    p = np.round(rng.random((40, 3)), 1)  # ties on purpose
    r = rng.integers(0, 40, (6, 40))
    r[0] = np.flatnonzero(y != 2)[rng.integers(0, (y != 2).sum(), 40)]  # class 2 absent from resample 0
    assert np.allclose(stats.resampled_auc(p, y, r), [stats.auc_rank(p[i], y[i]) for i in r], rtol=0, atol=1e-12)
    yb = (y == 1).astype(int)
    assert np.array_equal(stats.resampled_auc(p[:, 1], yb, r), [stats.auc_rank(p[i, 1], yb[i]) for i in r])


def test_gains_are_paired_by_seed_with_bootstrap_and_holm_verdicts():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    rows, scores = [], {}
    for seed in range(5):
        base = rng.random(300) + 0.5 * labels
        better = base + 0.6 * labels  # a better classifier on the same images
        for arm, s in (("none", base), ("gan:acgan", better), ("classical", base.copy())):
            rows.append({"dataset": "d", "fraction": 0.1, "arm": arm, "seed": seed, "auc": stats.auc_rank(s, labels),
                         "fallback": None})
            scores[("d", 0.1, arm, seed)] = s
        rows.append({"dataset": "d", "fraction": 0.1, "arm": "perclass:diffaugment", "seed": seed,
                     "auc": stats.auc_rank(base, labels), "fallback": "none"})  # gate failed: none's result, none's scores
    g = stats.gains(pd.DataFrame(rows), scores, {"d": labels}, b=200).set_index("arm")
    assert g.loc["gan:acgan", "verdict"] == "helps" and g.loc["gan:acgan", "boot_low"] > 0 and g.loc["gan:acgan", "pairs"] == 5
    assert g.loc["classical", "gain"] == 0 and g.loc["classical", "verdict"] == "no detectable difference"
    assert g.loc["perclass:diffaugment", "gate_failed"] == 5 and g.loc["perclass:diffaugment", "boot_high"] == 0
    assert (g["p_holm"] >= g["p"]).all()


def test_fid_and_kid_match_torch_fidelity_and_intervals_cover_the_estimate():
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(400, 12)), rng.normal(size=(300, 12)) * 1.2 + 0.2
    ref = fid_statistics_to_metric(*[fid_features_to_statistics(torch.from_numpy(x)) for x in (a, b)], verbose=False)
    assert equal_n.fid(a, b) == pytest.approx(ref["frechet_inception_distance"], rel=1e-6)
    tf = kid_features_to_metric(torch.from_numpy(a), torch.from_numpy(b), kid_subsets=200, kid_subset_size=300, verbose=False,
                                kid_degree=3, kid_gamma=None, kid_coef0=1, kid_kernel="poly", rng_seed=0)
    assert equal_n.kid(a, b) == pytest.approx(tf["kernel_inception_distance_mean"], rel=0.05)
    m = equal_n.measure(a, b, b=50)
    assert m["fid_ci95"][0] < m["fid"] < m["fid_ci95"][1] and m["kid_mean_ci95"][0] < m["kid_mean"] < m["kid_mean_ci95"][1]
    assert 0 <= m["precision"] <= 1 and 0 <= m["recall"] <= 1
    same = equal_n.kid(rng.normal(size=(400, 12)), rng.normal(size=(400, 12)))
    assert abs(same) < 0.01


def test_data_copying_statistic_separates_copies_fresh_samples_and_underfitting():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(6, 8)) * 4

    def draw(n):
        return centres[rng.integers(0, 6, n)] + rng.normal(size=(n, 8))

    train, test, val = draw(600), draw(300), draw(300)
    copies = train[rng.integers(0, 600, 400)] + 0.01 * rng.normal(size=(400, 8))
    fresh, spread = draw(400), draw(400) * 1.0 + rng.normal(size=(400, 8)) * 1.5
    ct = {name: memorization.data_copying(train, test, q, k=3)["ct"] for name, q in
          (("copies", copies), ("fresh", fresh), ("spread", spread))}
    assert ct["copies"] < -memorization.CT_COPY and abs(ct["fresh"]) < 2.5 and ct["spread"] > memorization.CT_COPY
    rows = [{"space": "pixels", **memorization.copying_stats(train, test, q, val)} for q in (copies,)]
    assert memorization.verdict(rows) == "copies" and rows[0]["share_below_train_p5"] > 0.9
    fresh_rows = [{"space": "pixels", **memorization.copying_stats(train, test, fresh, val)}]
    assert memorization.verdict(fresh_rows) == "no evidence of copying"
    shifted = [{**fresh_rows[0], "ct": -4.0, "ct_reference": -3.5}]  # a shifted test split moves the reference too
    assert memorization.verdict(shifted) == "no evidence of copying"
    assert memorization.verdict([{**fresh_rows[0], "ct": 5.0, "ct_reference": 0.5}]) == "underfits"
    assert memorization.mann_whitney_z(np.arange(50.0), np.arange(50.0) + 100) < -8


def test_memorization_section_replaces_itself_before_the_licence():
    card = "---\nlicense: mit\n---\n# m\n\n## Training\n\nx\n\n## License\n\nCC BY\n"
    rows = [{"space": "pixels", "ct": 1.0, "ct_reference": 0.5, "share_closer_to_train": 0.8, "share_closer_to_train_reference": 0.7,
             "share_below_train_p5": 0.02, "share_below_train_p5_reference": 0.05, "n_generated": 10, "n_train": 20, "n_test": 5,
             "commit": "abc", "hardware": "cpu"}]
    once = memorization.with_section(card, memorization.card_section("m", rows))
    twice = memorization.with_section(once, memorization.card_section("m", [{**rows[0], "ct": -9.0, "ct_reference": 0.0}]))
    assert once.index("## Memorization") < once.index("## License") and twice.count("## Memorization") == 1
    assert "**copies**" in twice and "**no evidence of copying**" in once and twice.endswith("CC BY\n")


def test_stored_study_rows_are_well_formed():
    """Whatever the study has written so far parses and carries its provenance."""
    for path in (memorization.ROWS, equal_n.ROWS, utility.CELLS):
        for r in read_jsonl(path):
            assert {"commit", "hardware", "seconds", "command", "recorded_at"} <= set(r), path
    for r in read_jsonl(memorization.ROWS):
        assert r["space"] in memorization.SPACES and len(r["generator_sha256"]) == 64
        json.dumps(r)


def test_arm_table_pairs_gains_by_seed_and_says_when_seeds_are_too_few():
    cell = {"recipe": "r", "fraction": 1.0, "n_test": 10}
    rows = [{**cell, "seed": s, "arm": a, "dice": d} for s, a, d in
            [(0, "none", 0.50), (1, "none", 0.60), (2, "none", 0.55), (0, "synthetic", 0.60), (1, "synthetic", 0.71),
             (2, "synthetic", 0.66), (0, "classical", 0.52)]]
    t = stats.arm_table(pd.DataFrame(rows), "dice").set_index("arm")
    assert abs(t.loc["synthetic", "gain"] - 0.1067) < 1e-3 and t.loc["synthetic", "gain_ci95"][0] > 0  # paired, not pooled
    assert t.loc["classical", "verdict"] == "too few seeds" and t.loc["none", "verdict"] == ""
    assert t.loc["synthetic", "verdict"] in ("helps", "no detectable difference")  # Holm across the two gains


def test_utility_figure_draws_intervals_only_where_seeds_allow(tmp_path, monkeypatch):
    """The 128 px figure: arms in the study's order, no interval bar for a fraction run at one seed, seeds per fraction
    in the title."""
    import matplotlib.pyplot as plt

    from reproductions.evaluate import plots

    rows = [{"recipe": "r", "fraction": f, "seed": s, "arm": a, "n_test": 10, "auc": 0.8 + 0.01 * s + 0.02 * (a != "none")}
            for f, seeds in ((0.1, (0,)), (1.0, (0, 1, 2))) for s in seeds for a in ("classical", "none", "synthetic")]
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)
    out = plots.utility_highres_figure(stats.arm_table(pd.DataFrame(rows), "auc"), tmp_path / "u.png", "auc", "T", "x")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (fig,) = figures
    bars, gains = fig.axes
    assert [t.get_text() for t in bars.get_legend().get_texts()] == ["none", "classical", "synthetic"]
    caps = [c for c in bars.containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert [len(c.lines[2][0].get_segments()) for c in caps] == [1, 1, 1]  # one interval per arm: 100% only
    assert "10%: 1, 100%: 3" in fig._suptitle.get_text()
    monkeypatch.undo()
    plt.close(fig)


def test_readme_block_is_what_the_stored_rows_say():
    """The README's claims about the fair study are the block `medzoo utility readme` writes from the committed rows."""
    from reproductions.evaluate import readme

    text = readme.README.read_text(encoding="utf-8")
    assert readme.rewrite(text, readme.block()) == text, "README.md's utility-study block is stale: run `medzoo utility readme`"


def test_readme_block_marks_holm_verdicts_progress_and_refuses_a_readme_without_markers(tmp_path, monkeypatch):
    from reproductions.evaluate import readme

    rid = utility.STUDY_RECIPE.recipe_id()
    rows = []
    for seed in range(5):
        rows += [_row(seed=seed, recipe_id=rid, fraction=0.1, auc=0.70 + 0.01 * seed),
                 _row(seed=seed, recipe_id=rid, fraction=0.1, arm="classical", auc=0.70 + 0.01 * seed + (-1) ** seed * 0.01),
                 _gan(seed=seed, recipe_id=rid, fraction=0.1, auc=0.80 + 0.012 * seed)]
    cells = tmp_path / "utility.jsonl"
    cells.write_text("".join(json.dumps(r) + "\n" for r in rows))
    text = readme.block(cells)
    assert "2 of 75 groups" in text and "0 of the 45 that include generator arms" in text  # seeds 3-4 need no generator
    gan = next(ln for ln in text.splitlines() if ln.startswith("| breastmnist | gan:acgan |"))
    assert "**+0.104 [" in gan and "n=5 ↑**" in gan and gan.count("–") == 4  # the other four fractions: no rows
    assert "helps in: breastmnist gan:acgan at 10% (+0.104)" in text and "It hurts in: none" in text
    assert "1 show no detectable difference" in text and text.startswith(readme.START) and text.endswith(readme.END)
    with pytest.raises(ValueError, match="no block between"):
        readme.rewrite("# a README without the markers\n", text)
    page = tmp_path / "README.md"
    page.write_text(f"intro\n\n{readme.START}\nold claim\n{readme.END}\n\nrest\n")
    assert readme.write(page, cells) and not readme.write(page, cells)
    assert page.read_text().startswith("intro\n\n" + text) and page.read_text().endswith("\n\nrest\n")


def test_two_seed_pairs_are_not_tested_even_when_their_gains_coincide():
    rows = [{"dataset": "d", "fraction": 0.01, "arm": a, "seed": s, "auc": v, "fallback": None} for s, a, v in
            [(0, "none", 0.549359), (0, "classical", 0.593489), (1, "none", 0.611057), (1, "classical", 0.655224)]]
    g = stats.gains(pd.DataFrame(rows)).iloc[0]
    assert g["pairs"] == 2 and g["gain"] == pytest.approx(0.04415, abs=1e-4) and g["gain_ci95"] < 0.001
    assert g["verdict"] == "too few seeds" and np.isnan(g["p"]) and np.isnan(g["p_holm"])  # no p from one degree of freedom
