"""Zoo models as the site shows them: registry entry, bundled card body and sample grid, and what a gallery card
says of each (headline metric with its interval, memorization verdict)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pandas as pd

from zoo import registry

# the headline figure of a model, by task: FID in medzoo's feature space, SSIM for super-resolution
HEADLINE_METRIC = {"super-resolution": "ssim"}
HEADLINE_FEATURES = "medzoo-resnet18"


@dataclass
class Model:
    """A registered model with its card (without front matter) and sample grid, when its folder is bundled."""

    entry: registry.ModelEntry
    card: str | None
    samples: bytes | None

    @property
    def id(self) -> str:
        return self.entry.model_id

    @property
    def organs(self) -> list[str]:
        """The organ slugs of the model (a feature extractor trained on several datasets names several)."""
        return [o.strip() for o in str(self.entry.organ).split(",") if o.strip()]

    @property
    def memorization(self) -> str | None:
        """The verdict of medzoo's memorization check ('copies', 'no evidence of copying', ...), when it has run
        (reproductions/evaluate/memorization.py writes it into the registry's extra["memorization"])."""
        found = (self.entry.extra or {}).get("memorization")
        return found.get("verdict") if isinstance(found, dict) else None


@dataclass
class Headline:
    """The figure a gallery card shows: one measured row, with its 95% interval when the row has one."""

    metric: str
    value: float
    low: float | None
    high: float | None
    features: str
    reference: str
    n: int | None
    n_real: int | None


def _facts(row: pd.Series) -> dict:
    raw = row.get("facts")
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}


def interval(row: pd.Series) -> tuple[float | None, float | None]:
    """A row's 95% interval: its `ci_low`/`ci_high` (columns or facts), else value -/+ `ci95` (a half-width)."""
    facts = {**_facts(row), **{k: row[k] for k in ("ci_low", "ci_high", "ci95")
                               if k in row and (isinstance(row[k], (list, tuple)) or pd.notna(row[k]))}}
    if facts.get("ci_low") is not None and facts.get("ci_high") is not None:
        return float(facts["ci_low"]), float(facts["ci_high"])
    ci = facts.get("ci95")
    if isinstance(ci, (list, tuple)) and len(ci) == 2:  # [low, high], as reproductions/evaluate/highres.py writes it
        return float(ci[0]), float(ci[1])
    if ci is not None:
        return float(row["value"]) - float(ci), float(row["value"]) + float(ci)
    return None, None


def headline(m: Model, measured: pd.DataFrame) -> Headline | None:
    """The model's headline figure from the latest measured rows: FID (SSIM for super-resolution) in medzoo's
    feature space on the test split, seed 0 when there are several; None when it has not been measured."""
    if measured.empty or "model_id" not in measured:
        return None
    rows = measured[(measured["model_id"] == m.id) & (measured.get("kind", "model") == "model")]
    rows = rows[rows["metric"] == HEADLINE_METRIC.get(m.entry.task, "fid")]
    if rows.empty:
        return None
    features = rows["features"].fillna("")
    reference = rows["reference"].fillna("")
    order = pd.DataFrame({"f": features != HEADLINE_FEATURES, "r": ~reference.str.startswith("test"),
                          "s": rows["seed"].fillna(0)}, index=rows.index).sort_values(["f", "r", "s"], kind="stable")
    r = rows.loc[order.index[0]]
    low, high = interval(r)
    n = int(r["n"]) if pd.notna(r.get("n")) else None
    n_real = int(r["n_real"]) if pd.notna(r.get("n_real")) else None
    return Headline(r["metric"], float(r["value"]), low, high, features[order.index[0]], reference[order.index[0]], n, n_real)


def card_body(text: str) -> str:
    """A model card without its YAML front matter (Hub metadata, shown elsewhere on the page)."""
    if text.startswith("---\n"):
        _, sep, body = text[4:].partition("\n---\n")
        if sep:
            return body
    return text


def load_models() -> list[Model]:
    """Every registered model, by id, with what its bundled folder holds."""
    out = []
    for model_id, entry in sorted(registry.entries().items()):
        folder = registry.pretrained_dir() / model_id
        readme, grid = folder / "README.md", folder / "samples.png"
        card = card_body(readme.read_text(encoding="utf-8")) if readme.is_file() else None
        out.append(Model(entry, card, grid.read_bytes() if grid.is_file() else None))
    return out
