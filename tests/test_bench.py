"""Smoke test of every benchmark script on tiny sizes (`--quick`): each runs, writes its JSON and prints its table."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

ENV_KEYS = {"machine", "cpu_count", "git_commit", "loadavg_start", "loadavg_end", "date"}


def _result(out: Path, name: str) -> dict:
    data = json.loads((out / f"{name}.json").read_text())
    assert data["benchmark"].startswith(name.split("_")[0]) and ENV_KEYS <= set(data["environment"]), data["environment"]
    assert data["table"]
    return data


def _data_present() -> bool:
    from reproductions.common.data import resolve_data_dir

    return (resolve_data_dir() / "pneumoniamnist.npz").is_file()


def test_generation_quick(tiny_zoo, tmp_path, capsys):
    from bench import generation

    generation.main(["--quick", "--out", str(tmp_path), "--models", "dcgan.pneumoniamnist_28,pix2pix.pneumoniamnist_28_sr14"])
    data = _result(tmp_path, "generation")
    assert set(data["models"]) == {"dcgan.pneumoniamnist_28", "pix2pix.pneumoniamnist_28_sr14"}
    cell = data["models"]["dcgan.pneumoniamnist_28"]["cells"]["8"]
    assert cell["flops_per_image"] > 1e7 and all(x > 0 for x in cell["images_per_s"] + cell["fraction_of_limit"])
    assert any(k.startswith("default") for k in data["models"]["dcgan.pneumoniamnist_28"]["variants"])
    assert data["environment"]["torch"] and data["environment"]["torch_threads"] >= 1
    assert "of limit" in capsys.readouterr().out


@pytest.mark.skipif(not _data_present(), reason="needs ../shared/data/pneumoniamnist.npz")
def test_training_quick(tmp_path, capsys):
    import torch

    from bench import training

    training.main(["--quick", "--out", str(tmp_path)])
    data = _result(tmp_path, "training")
    assert len(data["runs"]["medzoo"]) == len(data["runs"]["plain"]) == 1
    assert all(r["loop_images_per_s"] > 0 for r in data["runs"]["medzoo"] + data["runs"]["plain"])
    assert not torch.are_deterministic_algorithms_enabled()  # the benchmark leaves the process as it found it
    assert "medzoo overhead" in capsys.readouterr().out


def _folders_present() -> bool:
    from reproductions.common.data import resolve_data_dir

    return all((resolve_data_dir() / d).is_dir() for d in ("chest_xray", "busi"))


@pytest.mark.skipif(not _folders_present(), reason="needs ../shared/data/chest_xray and busi")
def test_training_128_quick(tmp_path, capsys):
    """bench/training_128.py --quick on one family: both loops, FLOPs, limits, peak memory of a fresh process, profile."""
    import torch

    from bench import training_128

    fill = torch.utils.deterministic.fill_uninitialized_memory  # train() turns it off, as it turns determinism on
    training_128.main(["--quick", "--cases", "spade", "--out", str(tmp_path)])
    data = _result(tmp_path, "training_128")
    case = data["cases"]["spade"]
    assert len(case["runs"]["medzoo"]) == len(case["runs"]["plain"]) == 1
    assert all(r["loop_images_per_s"] > 0 and 0 < r["fraction_of_limit"] for r in case["runs"]["medzoo"] + case["runs"]["plain"])
    assert case["flops_per_step"] > 1e9 and case["flops_per_step"] == case["flops_per_step_plain"]  # same networks, same losses
    mem = case["memory"]["medzoo"]
    assert mem["peak_rss_bytes"] >= max(mem["rss_after_step_bytes"]) > mem["rss_after_import_bytes"] > 0
    assert {"deterministic", "deterministic, no fill"} <= set(case["profile"])
    assert set(case["runs"]) == {"medzoo", "plain"}  # train() turns the NaN fill off itself: no third loop to time
    assert case["profile"]["deterministic"]["share_by_category"]["convolution"] > 0
    figures = [g["figure"] for g in data["goals"]]
    assert any("overhead" in f for f in figures) and any("limit" in f for f in figures) and any("RSS" in f for f in figures)
    assert all({"value", "goal", "met", "date"} <= set(g) for g in data["goals"])
    assert isinstance(data["notes"], list)
    assert not torch.are_deterministic_algorithms_enabled()  # the benchmark leaves the process as it found it
    assert torch.utils.deterministic.fill_uninitialized_memory == fill
    assert "medzoo overhead" in capsys.readouterr().out


@pytest.mark.skipif(not _folders_present(), reason="needs ../shared/data/chest_xray and busi")
@pytest.mark.parametrize("case", ["fastgan-sn", "fastgan-bn", "pix2pix"])
def test_plain_loop_128_does_what_medzoo_does(case):
    """The hand-written loops of bench/training_128.py compute what medzoo's Trainer.step computes: the same FLOPs
    (networks, losses, DiffAugment) in one step at the same batch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bench.training_128 import RESOLUTION, case_config, plain_run
    from reproductions.common.data import dataset_info, load_data
    from reproductions.common.family import load_family
    from reproductions.common.train import run_config

    family, dataset, ov = case_config(case, 2)
    info = dataset_info(dataset, RESOLUTION)
    split = load_data(info, "train")
    trainer = load_family(family).Trainer(run_config(family, dataset, 0, 1, 1, 0, ov, RESOLUTION), info, torch.device("cpu"))
    batch = trainer.prepare(split["images"][:2], split["labels"][:2], None)
    with FlopCounterMode(display=False) as fc:
        trainer.step(batch, torch.Generator().manual_seed(0), 0)
    assert plain_run(case, 1, 2, count_flops=True)["flops_per_step"] == fc.get_total_flops() > 1e9


def test_generation_128_quick(tmp_path, capsys):
    """bench/generation.py --res128 --quick: the SPADE (iter_pairs) and pix2pix (translate, 64 -> 128 px) paths, the
    limit, the malloc variant, the profile and the peak memory of streaming to disk in fresh processes."""
    from bench import generation

    generation.main(["--res128", "--quick", "--models", "spade,pix2pix", "--out", str(tmp_path)])
    data = _result(tmp_path, "generation_128")
    assert set(data["models"]) == {"spade", "pix2pix"}
    for name, m in data["models"].items():
        cell = m["cells"]["8"]
        assert cell["flops_per_image"] > 1e8 and all(x > 0 for x in cell["images_per_s"] + cell["fraction_of_limit"])
        mem = m["memory"]
        assert [r["n"] for r in mem["runs"]] == [4, 8] and all(r["peak_rss_bytes"] > r["rss_after_load_bytes"] for r in mem["runs"])
        assert mem["runs"][1]["bytes_written"] == 8 * 128 * 128 * (2 if name == "spade" else 1)  # spade: images + masks
        assert m["profile"]["share_by_category"]["convolution"] > 0
    assert {"4", "8"} <= set(data["models"]["pix2pix"]["cells"])
    goals = data["goals"]
    assert sum("share of the measured limit" in g["figure"] for g in goals) == 4 and sum("RSS" in g["figure"] for g in goals) == 2
    accel = [g for g in goals if g["figure"].startswith("accelerator path")]  # issue 16 item 4: measured only on one
    assert len(accel) == 1 and (accel[0]["met"] is None) and data["accelerator"]["measured_here"] is False
    assert "of limit" in capsys.readouterr().out


def _has_rev(rev: str) -> bool:
    import subprocess

    return subprocess.run(["git", "cat-file", "-e", f"{rev}^{{commit}}"], cwd=REPO, capture_output=True).returncode == 0


@pytest.mark.skipif(not _data_present(), reason="needs ../shared/data/pneumoniamnist.npz")
def test_ddpm_diffusers_quick(tmp_path, capsys, monkeypatch):
    from bench import ddpm_diffusers

    if not _has_rev(ddpm_diffusers.BEFORE_REV):
        pytest.skip("a shallow clone: the commit before the move to diffusers is absent")
    monkeypatch.setattr(sys, "argv", ["ddpm_diffusers.py", "--quick", "--out", str(tmp_path)])
    ddpm_diffusers.main()
    data = _result(tmp_path, "ddpm_diffusers")
    sp = data["speed"]
    arms = ("before", "before, bf16 autocast", "after, fp32", "after, bf16 (default)")
    assert sp["before"]["generator_sha256"] != sp["after, fp32"]["generator_sha256"]  # two different models were timed
    assert all(s > 0 for arm in arms for s in sp[arm]["seconds"]) and all(sp["over_before"][arm] > 0 for arm in arms)
    (point,) = data["trade_off"]
    assert (point["sampler"], point["steps"], point["n"]) == ("ddim", 3, 32) and point["fid"] > 0 and len(point["fid_ci95"]) == 2
    assert point["sampling_precision"] == "bfloat16" and 0 <= point["precision"] <= 1  # the bundled model's setting; PR
    assert "diffusers UNet2DModel" in capsys.readouterr().out


def test_loading_quick(tiny_zoo, tmp_path, capsys):
    from bench import loading

    loading.main(["--quick", "--out", str(tmp_path), "--model", "dcgan.pneumoniamnist_28"])
    data = _result(tmp_path, "loading")
    assert data["torch_imported_by_cli"] is False
    assert {"zoo.load (bundled)", "zoo.load (HF cache)"} <= set(data["runs"])
    assert all(r["load_s"] > 0 for r in data["runs"]["zoo.load (HF cache)"])
    assert "zoo.load" in capsys.readouterr().out


def test_catalog_scale_quick(tmp_path, capsys):
    from bench import catalog_scale

    catalog_scale.main(["--quick", "--out", str(tmp_path)])
    data = _result(tmp_path, "catalog_scale")
    assert data["synthetic"] is True and data["size"] == 2000
    q = data["backends"]["sqlite"]["queries"]
    assert q["stats"]["rows"][0] > 0 and q["similar"]["rows"][0] == 10 and min(q["similar_recall_at_10"]) >= 0.5
    assert q["filter"]["rows"] and q["search"]["p50_ms"] > 0 and q["search_exhaustive"]["p50_ms"] > 0
    # the impact-ordered lists return the exhaustive ranking itself: same papers, same scores
    assert all(q["search_same_top20_and_scores"]) and min(q["search_recall_at_10"]) == 1.0
    assert all(v is not None for v in q["search_lists"].values())  # every typical query served by the lists
    goals = {(g["backend"], g["figure"]): g for g in data["goals"]}
    assert ("sqlite", "search() top 20 p50") in goals and all({"value", "goal", "met", "date"} <= set(g) for g in goals.values())
    if "postgresql" in data["backends"]:
        pq = data["backends"]["postgresql"]["queries"]
        assert pq["filter_statements"] == 1 and all(pq["search_same_top20_and_scores"])
    assert "SYNTHETIC" in capsys.readouterr().out


def test_report_renders(tmp_path):
    from bench import report

    (tmp_path / "training.json").write_text(json.dumps({"benchmark": "training", "environment": {"machine": "m"},
                                                         "table": [{"loop": "medzoo", "loop img/s": 1.5}]}))
    (tmp_path / "catalog_scale.json").write_text(json.dumps({
        "benchmark": "catalog_scale", "environment": {"machine": "m", "date": "2026-12-01T10:00:00+00:00"}, "size": 10,
        "table": [], "goals": [{"backend": "sqlite", "size": 10, "figure": "search() top 20 p50", "value": 12.5, "unit": "ms",
                                "goal": "< 50 ms", "met": True, "date": "2026-12-01T10:00:00+00:00"}]}))
    (tmp_path / "training_128.json").write_text(json.dumps({
        "benchmark": "training_128", "environment": {"machine": "m", "date": "2026-12-01T10:00:00+00:00"},
        "table": [{"case": "spade", "loop": "medzoo"}], "notes": ["spade: 20% of the limit"],
        "more_tables": [{"title": "Peak memory of training", "rows": [{"case": "spade", "peak MB": 1157.0}]}],
        "goals": [{"figure": "spade (128 px): overhead", "value": "+1.0%", "unit": "", "goal": "<= 5%", "met": True,
                   "date": "2026-12-01T10:00:00+00:00"},
                  {"figure": "accelerator path", "value": "not measured here", "unit": "", "goal": ">= 50%", "met": None,
                   "date": "2026-12-01T10:00:00+00:00"}]}))
    text = report.render(tmp_path)
    assert "## Training at 128 px" in text and "Peak memory of training:" in text and "| spade | 1,157 |" in text
    assert "- spade: 20% of the limit" in text and "| training_128 | spade (128 px): overhead | +1.0% | <= 5% | yes |" in text
    assert "| accelerator path | not measured here | >= 50% | not measured |" in text and "(1 not measured on this machine)" in text
    assert "## Training loop overhead" in text and "| medzoo | 1.500 |" in text
    assert "## Goals" in text
    assert "| catalog_scale | sqlite, 10 papers: search() top 20 p50 | 12.5 ms | < 50 ms | yes | 2026-12-01 |" in text


def test_ann_matches_exact_scan_on_a_small_catalog(tmp_path):
    """catalog/ann.py: the IVF index returns the exact neighbours when it probes every list, with exact scores."""
    import numpy as np
    from sqlalchemy import text

    from catalog import ann, query
    from catalog.builder import build

    db = tmp_path / "c.db"
    build(str(db))
    exact = query.similar("10.1016/j.compbiomed.2022.105382", k=8, db=str(db))
    from catalog.db import engine_for

    engine = engine_for(f"sqlite:///{db}")
    with engine.begin() as conn:
        rows = conn.execute(text("SELECT id, embedding FROM paper ORDER BY id")).all()
        vecs = np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
        info = ann.build_from_arrays(conn, np.array([r[0] for r in rows]), vecs, nlist=4, nprobe=4)
    engine.dispose()
    assert info["nlist"] == 4
    approx = query.similar("10.1016/j.compbiomed.2022.105382", k=8, db=str(db))
    assert approx.key.tolist() == exact.key.tolist() and approx.similarity.tolist() == exact.similarity.tolist()


def test_tagbits_give_the_same_papers_as_sql(tmp_path, monkeypatch):
    """catalog/tagbits.py: the bitmap path of papers() returns the SQL path's ids in the SQL path's order."""
    from catalog import query, tagbits
    from catalog.builder import build
    from catalog.db import engine_for

    db = tmp_path / "c.db"
    build(str(db))
    engine = engine_for(f"sqlite:///{db}")
    with engine.begin() as conn:
        assert tagbits.build(conn, min_papers=0)["papers"] > 100
    engine.dispose()
    filters = [{}, {"organ": "lung"}, {"organ": "brain", "modality": "mri"}, {"organ": ["lung", "liver"], "limit": 5},
               {"year": (2019, 2020), "kind": "primary"}, {"architecture": "cyclegan", "include_proposed": True},
               {"organ": "lung", "year": 2021, "limit": 3}]
    for f in filters:
        fast = query.papers(db=str(db), **f)
        monkeypatch.setattr(tagbits, "ENABLED", False)
        slow = query.papers(db=str(db), **f)
        monkeypatch.setattr(tagbits, "ENABLED", True)
        assert fast.key.tolist() == slow.key.tolist(), f
        assert len(slow) > 0, f


def test_paper_cnn_quick(tmp_path, capsys):
    """bench/paper_cnn.py --quick: float32 and bf16 steps of a repeated paper's CNN timed side by side on real images."""
    from bench import paper_cnn

    paper_cnn.main(["--quick", "--paper", "aldhabyani2019", "--threads", "1", "--out", str(tmp_path)])
    data = _result(tmp_path, "paper_cnn")
    assert {r["precision"] for r in data["table"]} == {"fp32", "bf16"} and len(data["step_seconds"]["1"]["bf16"]) == 2
    assert "speed-up" in capsys.readouterr().out
