"""Every bundled model card as the Hub's own client reads it: it loads, its metadata passes the client's checks, its
model-index round-trips with every measured figure, and it cites the model and the papers it reproduces."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import bibtexparser
import pandas as pd
import pytest
from huggingface_hub import ModelCard, ModelCardData, constants
from huggingface_hub.repocard_data import eval_results_to_model_index, model_index_to_eval_results

from catalog.records import load_corpus, normalise_doi
from reproductions.evaluate.cards import latest, model_index
from reproductions.evaluate.results import load_rows
from zoo import registry
from zoo.card import CITATION, split_card, with_citation

from .hub_server import HubServer

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "zoo" / "pretrained"
BUNDLED = sorted(p.name for p in PRETRAINED.iterdir() if (p / "README.md").is_file())
# licence ids of the Hub (huggingface.co/docs/hub/repositories-licenses) that medzoo cards may use
HUB_LICENSES = {"apache-2.0", "mit", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0", "cc0-1.0", "other"}
HUB_TASKS = {"unconditional-image-generation", "image-to-image", "image-feature-extraction", "image-segmentation",
             "image-classification", "text-to-image"}


@pytest.fixture(autouse=True)
def package_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEDZOO_REGISTRY", raising=False)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """The latest stored figure of every (model, metric, features, reference, seed)."""
    all_rows = load_rows(REPO / "reproductions" / "results" / "evaluations.jsonl")
    return latest(all_rows[all_rows["kind"] == "model"])


@pytest.fixture(scope="module")
def by_doi() -> dict:
    return load_corpus().by_doi()


def test_every_registered_model_is_bundled_with_a_card():
    assert len(BUNDLED) >= 12 and set(BUNDLED) <= set(registry.entries())


@pytest.mark.parametrize("model_id", BUNDLED)
def test_card_loads_with_the_hub_client_and_passes_its_checks(model_id: str):
    path = PRETRAINED / model_id / "README.md"
    entry = registry.get(model_id)
    assert registry.sha256_file(path) == entry.files["README.md"]  # the registered card is this one
    card = ModelCard.load(path, ignore_metadata_errors=False)
    data = card.data
    assert data.library_name == "medzoo" and data.pipeline_tag in HUB_TASKS and data.license in HUB_LICENSES
    if data.license == "other":
        assert data.license_name and data.license_link
    assert data.datasets and "medzoo" in data.tags
    ModelCardData(**data.to_dict())  # what the client writes back is valid too
    with HubServer() as hub, pytest.MonkeyPatch.context() as mp:  # the Hub's YAML validation endpoint, on loopback
        mp.setattr(constants, "ENDPOINT", hub.url)
        card.validate()
        assert ("POST", "/api/validate-yaml") in hub.requests


@pytest.mark.parametrize("model_id", BUNDLED)
def test_model_index_round_trips_with_every_measured_figure(model_id: str, rows: pd.DataFrame):
    front, _ = split_card((PRETRAINED / model_id / "README.md").read_text(encoding="utf-8"))
    mine = rows[rows["model_id"] == model_id]
    if mine.empty:
        assert "model-index" not in front
        pytest.skip(f"{model_id} has no stored evaluation rows")
    index = front["model-index"]
    name, results = model_index_to_eval_results(index)
    assert name == model_id
    assert eval_results_to_model_index(name, results) == index  # nothing lost or merged on the way back
    assert all(r.source_name is None and r.source_url is None for r in results)
    shown = sorted((r.metric_type, r.metric_value, r.dataset_split, r.metric_config or "") for r in results)
    stored = sorted((r.metric, float(r.value), r.reference.split(":")[0],
                     "" if pd.isna(r.features) or r.metric.startswith("cas") else r.features) for r in mine.itertuples())
    assert shown == stored


def test_model_index_keeps_references_and_feature_spaces_apart():
    base = {"model_id": "x.y", "n": 100, "n_real": 50, "seed": 0, "recorded_at": "2026-01-01T00:00:00+00:00"}
    rows = pd.DataFrame([
        {**base, "metric": "fid", "value": 3.0, "features": "medzoo-resnet18", "reference": "test"},
        {**base, "metric": "fid", "value": 9.0, "features": "inception", "reference": "test"},
        {**base, "metric": "fid", "value": 4.0, "features": "medzoo-resnet18", "reference": "test:pneumonia"},
        {**base, "metric": "cas_auc", "value": 0.8, "features": "medzoo-resnet18", "reference": "test"},
    ])
    index = model_index("x.y", "conditional-synthesis", "pneumoniamnist", rows)
    name, results = model_index_to_eval_results(index)
    assert eval_results_to_model_index(name, results) == index
    assert {(r.dataset_split, r.dataset_config, r.metric_config, r.metric_value) for r in results} == {
        ("test", None, "medzoo-resnet18", 3.0), ("test", None, "inception", 9.0),
        ("test", "pneumonia", "medzoo-resnet18", 4.0), ("test", None, None, 0.8)}


@pytest.mark.parametrize("model_id", BUNDLED)
def test_card_cites_the_model_and_the_papers_it_reproduces(model_id: str, by_doi: dict):
    text = (PRETRAINED / model_id / "README.md").read_text(encoding="utf-8")
    entry = registry.get(model_id)
    block = re.search(rf"\n## {CITATION}\n.*?```bibtex\n(.*?)```", text, re.S)
    assert block, f"{model_id}: no BibTeX in the Citation section"
    lib = bibtexparser.parse_string(block.group(1))
    assert not lib.failed_blocks
    entries = {e.key: e for e in lib.entries}
    model = entries.pop(f"medzoo-{model_id}")
    assert model.entry_type == "misc" and entry.hub_repo in model.fields_dict["howpublished"].value
    for doi in entry.papers:
        rec = by_doi.get(normalise_doi(doi))
        if rec is None:
            assert f"https://doi.org/{doi}" in text.split(f"## {CITATION}", 1)[1]  # named as having no record
            continue
        e = entries.pop(rec.key)
        assert e.fields_dict["doi"].value == rec.doi and e.fields_dict["title"].value == rec.text["title"]
        if rec.year:
            assert e.fields_dict["year"].value == str(rec.year)
        if rec.authors:
            assert e.fields_dict["author"].value == " and ".join(rec.authors)
        else:
            assert "author" not in e.fields_dict  # nothing invented
    assert not entries


def test_with_citation_replaces_the_section_in_place():
    card = (PRETRAINED / "dcgan.pneumoniamnist_28" / "README.md").read_text(encoding="utf-8")
    config = json.loads((PRETRAINED / "dcgan.pneumoniamnist_28" / "config.json").read_text(encoding="utf-8"))
    again = with_citation(card, config, registry.get("dcgan.pneumoniamnist_28").hub_repo)
    assert again == card and again.count(f"## {CITATION}") == 1
    stripped = card.split(f"\n## {CITATION}\n")[0]
    assert with_citation(stripped, config, registry.get("dcgan.pneumoniamnist_28").hub_repo).rstrip() == card.rstrip()


def test_medzoo_info_prints_the_bibtex():
    res = subprocess.run([sys.executable, "-m", "medzoo", "info", "dcgan.pneumoniamnist_28"], capture_output=True,
                         text=True, cwd=REPO, timeout=300, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})
    assert res.returncode == 0, res.stderr
    assert "@misc{medzoo-dcgan.pneumoniamnist_28," in res.stdout and "@article{radford2016-dcgan," in res.stdout


def test_citation_cff_describes_the_project():
    import yaml

    cff = yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["type"] == "software" and cff["title"] == "medzoo"
    assert cff["message"] and cff["authors"] and all("name" in a or "family-names" in a for a in cff["authors"])
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert f'version = "{cff["version"]}"' in pyproject and f'license = "{cff["license"]}"' in pyproject


def _measured(monkeypatch, tmp_path, rows: list[dict], model_id: str, resolution: int) -> str:
    """The card table of `model_id` from these evaluation rows alone."""
    from reproductions.evaluate.cards import measured_lines

    path = tmp_path / "evaluations.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("MEDZOO_RESULTS", str(path))
    return "\n".join(measured_lines(model_id, "chestxray", resolution))


def test_measured_lines_set_a_translator_beside_its_own_floor(monkeypatch, tmp_path):
    base = {"dataset": "chestxray", "metric": "fid", "seed": 0, "features": "medzoo-resnet18", "protocol": "highres",
            "resolution": 128, "recorded_at": "2026-12-02T00:00:00+00:00"}
    rows = [{**base, "model_id": "cyclegan.chestxray_128_normal2pneumonia", "kind": "model", "value": 3.0, "n": 234,
             "reference": "test:pneumonia"},
            {**base, "model_id": "untranslated.chestxray_128_normal", "kind": "baseline", "value": 9.0, "n": 234,
             "reference": "test:pneumonia"},
            {**base, "model_id": "real-train.chestxray_128_pneumonia", "kind": "floor", "value": 1.0, "n": 234,
             "reference": "test:pneumonia"},
            {**base, "model_id": "real-train.chestxray_128", "kind": "floor", "value": 1.1, "n": 4694, "reference": "test"},
            {**base, "model_id": "real-train.chestxray_128_normal", "kind": "floor", "value": 1.2, "n": 390,
             "reference": "test:normal"}]
    table = _measured(monkeypatch, tmp_path, rows, "cyclegan.chestxray_128_normal2pneumonia", 128)
    assert "untranslated.chestxray_128_normal (baseline)" in table and "real-train.chestxray_128_pneumonia (floor)" in table
    assert "real-train.chestxray_128 (floor)" not in table and "real-train.chestxray_128_normal (floor)" not in table


def test_measured_lines_set_a_model_beside_the_floor_at_its_own_n(monkeypatch, tmp_path):
    base = {"dataset": "chestxray", "metric": "fid", "seed": 0, "features": "medzoo-resnet18", "protocol": "highres",
            "resolution": 64, "reference": "test", "recorded_at": "2026-12-02T00:00:00+00:00"}
    rows = [{**base, "model_id": "ddpm_cfg.chestxray_64", "kind": "model", "value": 3.0, "n": 600},
            {**base, "model_id": "real-train.chestxray_64", "kind": "floor", "value": 1.5, "n": 600},
            {**base, "model_id": "real-train.chestxray_64", "kind": "floor", "value": 1.1, "n": 4694,
             "recorded_at": "2026-12-03T00:00:00+00:00"}]
    table = _measured(monkeypatch, tmp_path, rows, "ddpm_cfg.chestxray_64", 64)
    assert "| real-train.chestxray_64 (floor) | FID | 1.5 |" in table and "| 1.1 |" not in table
