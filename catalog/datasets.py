"""Dataset facts from `catalog/data/datasets/<slug>.yaml`, the one home of what a dataset is and how it loads.

Read without building the database (no SQL, no torch), so training code can use the same record the catalog serves.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from catalog.vocab import DATA_DIR


def dataset_facts(slug: str, data_dir: Path = DATA_DIR) -> dict[str, Any]:
    """The YAML mapping of one dataset record; KeyError naming the known slugs otherwise."""
    import yaml

    path = data_dir / "datasets" / f"{slug}.yaml"
    if not path.is_file():
        raise KeyError(f"unknown dataset {slug!r}; known: {', '.join(loadable_datasets(data_dir))}")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def loadable_datasets(data_dir: Path = DATA_DIR) -> list[str]:
    """Slugs of the dataset records that say how to load them (a `loader` block): the ones training can use."""
    import yaml

    out = []
    for path in sorted((data_dir / "datasets").glob("*.yaml")):
        if "loader:" in path.read_text(encoding="utf-8") and yaml.safe_load(path.read_text(encoding="utf-8")).get("loader"):
            out.append(path.stem)
    return out
