"""The fingerprint of the curated files, kept free of heavy imports so queries can check staleness cheaply."""
from __future__ import annotations

import hashlib
from pathlib import Path

from catalog.vocab import DATA_DIR


def source_hash(data_dir: Path = DATA_DIR) -> str:
    """sha256 over every curated file's path and bytes: tells whether a database is stale."""
    h = hashlib.sha256()
    for p in sorted(data_dir.rglob("*.yaml")):
        h.update(str(p.relative_to(data_dir)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()
