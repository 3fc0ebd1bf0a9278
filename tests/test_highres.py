"""The evaluation protocol of the 64-256 px models on real chest X-rays: equal-n fidelity with a real floor and
intervals, and super-resolution against bicubic, written as rows the catalog and cards read."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from reproductions.common.export import export_run
from reproductions.common.train import train

FX = "medzoo-resnet18.medmnist_28"


@pytest.fixture(scope="module")
def highres_zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private registry: the real feature extractor, a tiny 64 px FastGAN, a tiny 32 -> 64 px super-resolver and a
    tiny 64 px CycleGAN (bf16 training)."""
    from zoo import registry

    root = tmp_path_factory.mktemp("highres")
    shutil.copytree(registry.pretrained_dir() / FX, root / "pretrained" / FX)
    real = json.loads(registry.registry_path().read_text())
    (root / "models.json").write_text(json.dumps({FX: real[FX]}))
    deterministic = torch.are_deterministic_algorithms_enabled()
    runs = [train("fastgan", "chestxray", root / "runs" / "g", epochs=1, limit=32, resolution=64,
                  overrides={"g_base": 4, "d_base": 4, "batch_size": 16}, command="pytest"),
            train("pix2pix", "chestxray", root / "runs" / "sr", epochs=1, limit=32, resolution=64,
                  overrides={"base": 4, "d_base": 4, "batch_size": 16, "input_resolution": 32, "lowres_input": True, "depth": 3},
                  command="pytest"),
            train("cyclegan", "chestxray", root / "runs" / "cyc", epochs=1, limit=32, resolution=64,
                  overrides={"base": 4, "n_blocks": 1, "d_base": 4, "d_layers": 3, "batch_size": 16, "bf16": True},
                  command="pytest")]
    torch.use_deterministic_algorithms(deterministic)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDZOO_REGISTRY", str(root / "models.json"))
        for run in runs:
            for folder in export_run(run, root / "pretrained"):
                registry.register(registry.entry_from_folder(folder))
    return root


def test_synthesis_and_floor_at_equal_n_with_intervals(highres_zoo, monkeypatch, tmp_path):
    from reproductions.evaluate.highres import evaluate_synthesis

    monkeypatch.setenv("MEDZOO_REGISTRY", str(highres_zoo / "models.json"))
    rows = evaluate_synthesis("fastgan.chestxray_64", bootstrap=3, limit=96)
    model = {r["metric"]: r for r in rows if r["kind"] == "model"}
    floor = {r["metric"]: r for r in rows if r["kind"] == "floor"}
    assert set(model) == set(floor) == {"fid", "kid_mean", "precision", "recall", "cas_auc", "cas_acc"}  # conditional: CAS too
    assert model["cas_auc"]["selection"] == "real-val" and model["cas_auc"]["label_prior"] == "train"
    assert 0 <= model["cas_auc"]["value"] <= 1 and 0 <= floor["cas_acc"]["value"] <= 1
    assert model["fid"]["generator_sha256"] and model["fid"]["config_sha256"] and "generator_sha256" not in floor["fid"]
    assert model["fid"]["n"] == floor["fid"]["n"] and model["fid"]["n_real"] == 96
    assert model["fid"]["ci95"][0] <= model["fid"]["value"] <= model["fid"]["ci95"][1]
    assert model["fid"]["value"] > floor["fid"]["value"]  # an untrained generator is far from real X-rays
    assert all(r["protocol"] == "highres" and "28x28" in r["space"] for r in rows)


def test_fewer_generated_images_take_a_floor_of_as_many_real_ones(highres_zoo, monkeypatch):
    from reproductions.evaluate.highres import evaluate_synthesis

    monkeypatch.setenv("MEDZOO_REGISTRY", str(highres_zoo / "models.json"))
    rows = evaluate_synthesis("fastgan.chestxray_64", bootstrap=3, limit=96, cas=False, n=40)
    assert {(r["kind"], r["n"]) for r in rows} == {("model", 40), ("floor", 40)}
    assert all(r["n_real"] == 96 for r in rows)


def test_super_resolution_against_bicubic(highres_zoo, monkeypatch):
    from reproductions.evaluate.highres import evaluate_super_resolution

    monkeypatch.setenv("MEDZOO_REGISTRY", str(highres_zoo / "models.json"))
    rows = evaluate_super_resolution("pix2pix.chestxray_64_sr32", bootstrap=20, limit=48)
    by = {(r["kind"], r["metric"]): r for r in rows}
    assert set(by) == {("model", "ssim"), ("model", "psnr"), ("baseline", "ssim"), ("baseline", "psnr")}
    assert all(r["n"] == 48 and r["input_resolution"] == 32 and len(r["ci95"]) == 2 for r in rows)
    assert 20 < by[("baseline", "psnr")]["value"] < 40


def test_translation_against_untranslated_and_floor(highres_zoo, monkeypatch):
    from reproductions.evaluate.highres import evaluate_translation

    monkeypatch.setenv("MEDZOO_REGISTRY", str(highres_zoo / "models.json"))
    rows = evaluate_translation("cyclegan.chestxray_64_normal2pneumonia", bootstrap=3, limit=40)
    by = {(r["kind"], r["metric"]): r for r in rows}
    assert {k for k, _ in by} == {"model", "baseline", "floor"}
    assert by[("baseline", "fid")]["model_id"] == "untranslated.chestxray_64_normal"
    assert by[("floor", "fid")]["model_id"] == "real-train.chestxray_64_pneumonia"
    assert all(r["n"] == 40 and r["reference"] == "test:pneumonia" for r in rows)
    assert by[("model", "fid")]["generator_sha256"] and "generator_sha256" not in by[("floor", "fid")]
    assert by[("floor", "fid")]["value"] < by[("model", "fid")]["value"]  # an untrained translator is far from real


def test_memorization_inputs_of_a_folder_dataset_translator(highres_zoo, monkeypatch):
    from reproductions.evaluate.memorization import inputs

    monkeypatch.setenv("MEDZOO_REGISTRY", str(highres_zoo / "models.json"))
    data = inputs("cyclegan.chestxray_64_normal2pneumonia")
    assert data["part"] == "-class1" and data["gen"].shape[1:] == (1, 64, 64)
    assert len(data["gen"]) == 234  # the test split's normal images, translated
