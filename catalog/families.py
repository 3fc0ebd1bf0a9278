"""Links from papers to the reproduction module of each of their architecture families and to that family's models.

An architecture term links to the reproduction module named on it (vocab/architecture.yaml `reproduction:`), or
to the nearest ancestor family's (stylegan2-ada -> stylegan2 -> stylegan -> pggan); the generic root `gan` (and any
term whose ancestors have no module: cgan, lsgan, vae...) links to none, so a paper tagged only `gan` is linked
to no family's models. Zoo models are read from the registry file (zoo/models.json, or $MEDZOO_REGISTRY) as data:
the catalog never imports the zoo, nor torch.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from catalog.errors import CatalogError

if TYPE_CHECKING:
    import pandas as pd

REGISTRY = Path(__file__).resolve().parents[1] / "zoo" / "models.json"
GENERIC = "gan"  # the root family: a paper tagged only with it says nothing about which family it used
HIGH_RES = 128  # px: "at >= 128 px" in the coverage report


@dataclass(frozen=True)
class ZooModel:
    """What the catalog needs of a registered model: id, reproduction module (`family`), resolution, papers."""

    model_id: str
    family: str
    resolution: int
    papers: tuple[str, ...] = ()


def registry_path() -> Path:
    """$MEDZOO_REGISTRY (a private zoo, or a test's), else zoo/models.json beside the catalog package."""
    return Path(os.environ.get("MEDZOO_REGISTRY") or REGISTRY)


def registry_models(path: Path | None = None) -> list[ZooModel]:
    """The registered models, read from the registry file as JSON (none when there is no file)."""
    path = path or registry_path()
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [ZooModel(str(k), str(v["family"]), int(v.get("resolution") or 0),
                         tuple(str(p).lower() for p in v.get("papers") or ()))
                for k, v in sorted(data.items())]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CatalogError(f"{path}: not a model registry the catalog can read ({e})") from None


def reproduction_of(tree: dict[str, tuple[str | None, str | None]]) -> dict[str, str]:
    """Architecture slug -> reproduction module, from {slug: (parent family, reproduction)}: the term's own module or
    the nearest ancestor's; never the generic root's."""
    out = {}
    for slug in tree:
        s, seen = slug, set()
        while s and s not in seen and s != GENERIC:
            seen.add(s)
            family, repro = tree.get(s, (None, None))
            if repro:
                out[slug] = repro
                break
            s = family
    return out


def links_for(architectures: Iterable[str], repro: dict[str, str], models: list[ZooModel]) -> list[tuple[str, str, list[str]]]:
    """(architecture, reproduction module, model ids of that module) for each of a paper's terms that has a module."""
    out = []
    for a in architectures:
        module = repro.get(a)
        if module:
            out.append((a, module, [m.model_id for m in models if m.family == module]))
    return out


def paper_links(db: str | None = None, models: list[ZooModel] | None = None, kind: str | None = "primary") -> "pd.DataFrame":
    """One row per (paper, architecture term with a reproduction module): key, architecture, reproduction (the
    module under reproductions/), models (ids of its zoo models, ';'-joined) and max_resolution of those models."""
    import pandas as pd

    from catalog.query import _session

    models = registry_models() if models is None else models
    with _session(db) as conn:
        tree = {r[0]: (r[1], r[2]) for r in conn.all("SELECT slug, family, reproduction FROM architecture")}
        where, params = ("AND p.kind = :kind", {"kind": kind}) if kind else ("", {})
        rows = conn.all("SELECT p.key, t.term FROM paperarchitecture t JOIN paper p ON p.id = t.paper_id "
                        f"WHERE t.status = 'verified' {where} ORDER BY p.key, t.term", params)
    repro = reproduction_of(tree)
    out = []
    for key, term in rows:
        for a, module, ids in links_for([term], repro, models):
            res = [m.resolution for m in models if m.model_id in ids]
            out.append({"key": key, "architecture": a, "reproduction": module, "models": ";".join(ids),
                        "max_resolution": max(res) if res else None})
    df = pd.DataFrame(out, columns=["key", "architecture", "reproduction", "models", "max_resolution"])
    df["max_resolution"] = df["max_resolution"].astype("Int64")
    return df
