"""The coverage report: every depth goal with its figure and met / not met, the kinds, and links to trained models."""
import json

import pytest
import typer
from typer.testing import CliRunner

from catalog.cli import register
from catalog.coverage import GOALS, coverage, goals_text
from catalog.families import ZooModel


@pytest.fixture(scope="module")
def app():
    root = typer.Typer()
    register(root)
    return root


def test_goals_on_the_fixture_catalog(fixture_db):
    rep = coverage(db=fixture_db, models=[ZooModel("cyclegan.x_256", "cyclegan", 256), ZooModel("dcgan.x_28", "dcgan", 28)])
    assert rep.papers == 3 and rep.with_doi == 3  # the review (fixture-d) is no primary paper
    g = rep.goals
    assert list(g.index) == [*GOALS, "secondary_only"]
    assert g.loc["organ", "figure"] == 100.0 and g.loc["organ", "met"]
    assert g.loc["loss", "figure"] == 100.0 and g.loc["dataset", "figure"] == pytest.approx(33.3)
    assert g.loc["growth", "figure"] == 3 and not g.loc["growth", "met"]  # 300 primary papers 2017-2026 wanted
    assert g.loc["effects", "detail"] == "0 of 1 augmentation papers"  # fixture-a's effect is free text
    assert g.loc["secondary_only", "figure"] > 0 and g.loc["secondary_only", "met"] is None
    fam = rep.families.set_index("measure").papers
    assert fam["family has a trained zoo model"] == 1 and fam["family has a trained zoo model at >= 128 px"] == 1
    assert dict(zip(rep.kinds.kind, rep.kinds.papers)) == {"primary": 3, "method": 0, "dataset": 0, "related": 0,
                                                           "review": 1}
    text = goals_text(g)
    assert all(goal.name in text for goal in GOALS.values()) and "NOT MET" in text


def test_coverage_command_shows_every_goal(app, fixture_db):
    res = CliRunner().invoke(app, ["catalog", "coverage", "--db", fixture_db])
    assert res.exit_code == 0, res.output
    assert "depth goals" in res.output and "not met" in res.output
    res = CliRunner().invoke(app, ["catalog", "coverage", "--db", fixture_db, "--format", "csv"])
    for goal in GOALS.values():
        assert goal.name in res.output
    assert "not met" in res.output and "secondary sources" in res.output
    res = CliRunner().invoke(app, ["catalog", "coverage", "--db", fixture_db, "--format", "json"])
    data = json.loads(res.stdout)
    assert {g["name"] for g in data["goals"]} == {*GOALS, "secondary_only"}
    assert {k["kind"] for k in data["kinds"]} == {"primary", "method", "dataset", "related", "review"}


def test_stats_command_counts_primary_unless_told(app, fixture_db):
    res = CliRunner().invoke(app, ["stats", "--by", "year", "--format", "json", "--db", fixture_db])
    assert {r["year"] for r in json.loads(res.stdout)} == {2019, 2020, 2021}
    res = CliRunner().invoke(app, ["stats", "--by", "year", "--kind", "all", "--format", "json", "--db", fixture_db])
    assert {r["year"] for r in json.loads(res.stdout)} == {2019, 2020, 2021, 2022}
