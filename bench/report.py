"""Render the latest bench/results/*.json as Markdown tables (for the docs, or a pull request).

    python bench/report.py [--results bench/results] [--out bench/RESULTS.md]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Iterable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import fmt  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ORDER = ["generation", "training", "loading", "catalog_scale"]


def md_table(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    rows = list(rows)
    if not rows:
        return "_no rows_\n"
    cols = list(columns or rows[0].keys())
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    out += ["| " + " | ".join(fmt(r.get(c)).replace("|", "\\|") for c in cols) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _env_line(env: dict[str, Any]) -> str:
    parts = [env.get("machine", "?"), f"{env.get('cpu_count')} CPUs"]
    if env.get("torch"):
        parts.append(f"torch {env['torch']} ({env.get('torch_threads')} threads)")
    parts.append(f"commit {str(env.get('git_commit', ''))[:12]}{'+' if 'uncommitted' in str(env.get('git_commit', '')) else ''}")
    parts.append(f"load average {env.get('loadavg_start')} -> {env.get('loadavg_end')}")
    parts.append(env.get("date", ""))
    return "; ".join(p for p in parts if p)


def section(name: str, data: dict[str, Any]) -> str:
    title = {"generation": "Generation throughput", "training": "Training loop overhead", "loading": "Start-up latency",
             "catalog_scale": "Catalog at scale"}.get(name, name)
    if name.startswith("generation") and name != "generation":
        title = f"Generation throughput ({name})"
    if name.startswith("catalog_scale") and name != "catalog_scale":
        title = f"Catalog at scale ({name})"
    if name.startswith("catalog_scale"):
        title += f": {data.get('size', 0):,} synthetic papers"
    lines = [f"## {title}\n", f"_{_env_line(data.get('environment', {}))}_\n"]
    lines.append(md_table(data.get("table", [])))
    if data.get("variants_table"):
        lines.append("\nVariants on the batched path, timed side by side:\n")
        lines.append(md_table(data["variants_table"]))
    if name == "loading" and "cli_heavy_modules" in data:
        mods = data["cli_heavy_modules"]
        lines.append("\nHeavy modules imported by the command: " + "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in mods.items()) + "\n")
    return "\n".join(lines)


def render(folder: Path = RESULTS) -> str:
    def rank(p: Path) -> tuple[int, str]:
        base = next((i for i, o in enumerate(ORDER) if p.stem.startswith(o)), len(ORDER))
        return base, p.stem

    files = sorted(folder.glob("*.json"), key=rank)
    parts = ["# Benchmark results\n", "Rendered by `python bench/report.py` from `bench/results/*.json` "
             "(what each benchmark measures: bench/README.md).\n"]
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as e:
            parts.append(f"## {f.stem}\n\n_unreadable: {e}_\n")
            continue
        parts.append(section(f.stem, data))
    if not files:
        parts.append("_no results yet: run `make bench`_\n")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default=str(RESULTS))
    p.add_argument("--out", default=None, help="write the Markdown here (default: print it)")
    args = p.parse_args(argv)
    text = render(Path(args.results))
    if args.out:
        Path(args.out).write_text(text)
    else:
        sys.stdout.write(text)
    return text


if __name__ == "__main__":
    main()
