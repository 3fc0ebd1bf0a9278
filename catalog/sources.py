"""The inputs of a catalog build and their fingerprint: the curated files, the user's own records (the user layer) and
the measured results. Kept free of heavy imports so queries can check staleness cheaply.

The curated files ship inside the package (catalog/data, read-only after a wheel install); a user's imports go to the
user layer, a folder outside the package (user_catalog_dir); measured results are read from a file path (by default
the evaluation rows shipped with the `reproductions` package; the catalog never imports it).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Union

from catalog.vocab import DATA_DIR

# The evaluation rows written by `medzoo eval` (reproductions/evaluate): package data of `reproductions`, so this path
# holds in a source checkout and in an installed wheel alike. Read as a file; nothing is imported.
MEASURED = Path(__file__).resolve().parents[1] / "reproductions" / "results" / "evaluations.jsonl"
SCHEMA_VERSION = "3"  # part of the fingerprint: a default database built by an older schema is rebuilt (2: paper.origin;
# 3: papereffect.arm and .classifier)
DEFAULT = "default"  # user_dir=DEFAULT: the user layer at user_catalog_dir(); None: no user layer
UserDir = Union[Path, str, None]


def user_data_root() -> Path:
    """medzoo's folder for the user's own data: $MEDZOO_USER_DATA, else the platform's user-data folder
    (~/.local/share/medzoo on Linux, ~/Library/Application Support/medzoo on macOS, %LOCALAPPDATA%\\medzoo on Windows)."""
    env = os.environ.get("MEDZOO_USER_DATA")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("medzoo", appauthor=False)


def user_catalog_dir() -> Path:
    """The user layer: where `medzoo catalog import` writes the user's records (papers/<key>.yaml), never the package."""
    return user_data_root() / "catalog"


def resolve_user_dir(user_dir: UserDir) -> Path | None:
    """The user layer folder for a `user_dir` argument: DEFAULT -> user_catalog_dir(), None -> no user layer."""
    if user_dir is None:
        return None
    return user_catalog_dir() if str(user_dir) == DEFAULT else Path(user_dir)


def user_files(user_dir: Path | None) -> list[Path]:
    """The user layer's paper records (none when the folder does not exist)."""
    if user_dir is None or not (user_dir / "papers").is_dir():
        return []
    return sorted((user_dir / "papers").glob("*.yaml"))


def source_hash(data_dir: Path = DATA_DIR, results: Path = MEASURED, user_dir: UserDir = DEFAULT) -> str:
    """sha256 over every curated and user file's path and bytes, the measured figures the build loads and the schema
    version: tells whether a database is stale (so a new `medzoo eval` row, or a paper just imported, reaches the
    default database)."""
    h = hashlib.sha256()
    for p in sorted(data_dir.rglob("*.yaml")):
        h.update(str(p.relative_to(data_dir)).encode())
        h.update(p.read_bytes())
    layer = resolve_user_dir(user_dir)
    for p in user_files(layer):
        h.update(b"user/" + p.name.encode())
        h.update(p.read_bytes())
    if results.is_file():
        h.update(b"evaluations.jsonl")
        h.update(results.read_bytes())
    h.update(b"schema:" + SCHEMA_VERSION.encode())
    return h.hexdigest()


def inputs_record(data_dir: Path | None, user_dir: UserDir, results: Path | None) -> str:
    """The build's inputs as stored in the database's meta table (None or DEFAULT: the default of that input), so the
    default database is rebuilt from what it was last built from (`medzoo catalog build --user-dir ...`)."""
    import json

    def one(p: UserDir) -> str | None:
        return None if p is None else DEFAULT if str(p) == DEFAULT else str(Path(p).resolve())

    return json.dumps({"data_dir": one(data_dir or DEFAULT), "user_dir": one(user_dir), "results": one(results or DEFAULT)})


def recorded_inputs(value: str | None) -> dict[str, UserDir]:
    """source_hash/build keyword arguments from inputs_record(); an input recorded as a path that is gone (a deleted
    folder) falls back to its default, as does everything for a database built before inputs were recorded."""
    import json

    try:
        rec = json.loads(value) if value else {}
    except ValueError:
        rec = {}
    out: dict[str, UserDir] = {}
    for name in ("data_dir", "results"):
        v = rec.get(name)
        if v and v != DEFAULT and Path(v).exists():
            out[name] = Path(v)
    v = rec.get("user_dir", DEFAULT)
    out["user_dir"] = None if v is None else DEFAULT if v == DEFAULT or not Path(v).exists() else Path(v)
    return out
