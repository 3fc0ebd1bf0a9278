"""JSON-lines files written by appenders that may be killed mid-line (reproductions/results/*.jsonl)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from catalog.errors import CatalogError


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSON-lines file (none when absent); a torn last line is skipped, any other bad line is an error."""
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                continue
            raise CatalogError(f"{path}:{i + 1} is not valid JSON; fix or remove that line") from None
    return out
