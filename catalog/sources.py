"""The fingerprint of the curated files, kept free of heavy imports so queries can check staleness cheaply."""
from __future__ import annotations

import hashlib
from pathlib import Path

from catalog.vocab import DATA_DIR


MEASURED = Path(__file__).resolve().parents[1] / "reproductions" / "results" / "evaluations.jsonl"


def source_hash(data_dir: Path = DATA_DIR, measured: Path = MEASURED) -> str:
    """sha256 over every curated file's path and bytes, and the measured figures the build loads: tells whether a
    database is stale (so a new `medzoo eval` row reaches the default database's evaluation table)."""
    h = hashlib.sha256()
    for p in sorted(data_dir.rglob("*.yaml")):
        h.update(str(p.relative_to(data_dir)).encode())
        h.update(p.read_bytes())
    if measured.is_file():
        h.update(b"evaluations.jsonl")
        h.update(measured.read_bytes())
    return h.hexdigest()
