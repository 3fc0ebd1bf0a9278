"""Measured figures as JSON lines: one row per (model, metric), appended by the run that measured it."""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from catalog.jsonl import read_jsonl
from reproductions.common.data import REPO_ROOT

RESULTS_DIR = REPO_ROOT / "reproductions" / "results"
EVALUATIONS = RESULTS_DIR / "evaluations.jsonl"
ROW_FIELDS = ("model_id", "dataset", "kind", "metric", "value", "n", "n_real", "seed", "features", "reference",
              "commit", "hardware", "seconds", "command", "recorded_at")


def results_path() -> Path:
    """The evaluations file: $MEDZOO_RESULTS (tests, private runs), else reproductions/results/evaluations.jsonl."""
    return Path(os.environ.get("MEDZOO_RESULTS") or EVALUATIONS)


def command_line() -> str:
    """The command that is running, as a shell line (`medzoo ...` when started through the CLI)."""
    script = Path(sys.argv[0]).resolve()
    if script.suffix == ".py" and script.is_relative_to(REPO_ROOT):
        module = ".".join(script.relative_to(REPO_ROOT).with_suffix("").parts).removesuffix(".__main__")
        return shlex.join(["python", "-m", module, *sys.argv[1:]])
    return shlex.join([script.name, *sys.argv[1:]])


def now() -> str:
    """UTC time, ISO 8601 to the second."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def append_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append records as JSON lines under an exclusive lock, flushed to disk (concurrent writers never interleave).

    A file left ending in a torn line (a run killed mid-write) gets a newline first, so the new lines stay whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, sort_keys=False) + "\n" for r in records)
    with open(path, "a+b") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            end = f.seek(0, os.SEEK_END)
            if end:
                f.seek(end - 1)
                if f.read(1) != b"\n":
                    text = "\n" + text
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def generator_facts(model_id: str) -> dict[str, str | None]:
    """What a measured row records of a registered generator: the sha256 of its weights and of its config.json (which
    holds the sampling settings, e.g. a DDPM's steps and precision); a row of other weights or settings is stale."""
    from zoo.registry import get

    files = get(model_id).files
    return {"generator_sha256": files.get("model.safetensors"), "config_sha256": files.get("config.json")}


def is_current(row: dict[str, Any], facts: dict[str, str | None] | None) -> bool:
    """Whether `row` was measured on the generator as registered now (`facts` from generator_facts; None: not a
    registered model). Rows without the hashes (floors, older protocols) count as current."""
    if facts is None or not row.get("generator_sha256"):
        return True
    return row["generator_sha256"] == facts["generator_sha256"] and row.get("config_sha256", facts["config_sha256"]) == facts["config_sha256"]


def load_rows(path: Path | None = None, current_only: bool = True) -> pd.DataFrame:
    """Every stored evaluation row as a DataFrame (columns ROW_FIELDS, plus any extra facts). `current_only` drops the
    rows measured on weights or sampling settings a registered model no longer has (their `generator_sha256` or
    `config_sha256` differs from the registry's, e.g. rows from before a retrain; they stay in the file)."""
    rows = read_jsonl(path or results_path())
    if current_only and any(r.get("generator_sha256") for r in rows):
        from zoo.registry import entries

        known = {k: generator_facts(k) for k in entries()}
        rows = [r for r in rows if is_current(r, known.get(r.get("model_id")))]
    df = pd.DataFrame(rows)
    for col in ROW_FIELDS:
        if col not in df.columns:
            df[col] = pd.Series(dtype=object)
    return df
