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
             "catalog_scale": "Catalog at scale", "training_128": "Training at 128 px",
             "generation_128": "Generation at 128 px",
             "paper_cnn": "A repeated paper's CNN: float32 against bf16 with channels-last",
             "ddpm_diffusers": "DDPM on diffusers: before and after, and the sampling-steps trade-off"}.get(name, name)
    if name.startswith("generation") and name not in ("generation", "generation_128"):
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
    for extra in data.get("more_tables", []):  # further tables of a result file (e.g. peak memory), each with its title
        lines.append(f"\n{extra['title']}:\n")
        lines.append(md_table(extra["rows"]))
    notes = data.get("notes") or []  # why a goal was missed, from the run's profiles
    if notes:
        lines.append("\nNotes:\n\n" + "\n".join(f"- {n}" for n in ([notes] if isinstance(notes, str) else notes)) + "\n")
    if name == "loading" and "cli_heavy_modules" in data:
        mods = data["cli_heavy_modules"]
        lines.append("\nHeavy modules imported by the command: " + "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in mods.items()) + "\n")
    return "\n".join(lines)


def _num(text: Any) -> float | None:
    try:
        return float(str(text).strip().rstrip("%").replace(",", ""))
    except ValueError:
        return None


def goal_rows(name: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of one result file with its figure, the run's date and whether it is met: the file's own `goals` list
    (benchmarks write {figure, value, unit, goal, met}), else what older files' tables state."""
    date = str(data.get("environment", {}).get("date", ""))[:10]
    out = []
    if isinstance(data.get("goals"), list) and data["goals"]:
        for g in data["goals"]:
            where = f"{g['backend']}, {g['size']:,} papers: " if g.get("backend") else ""
            out.append({"benchmark": name, "figure": where + g["figure"], "value": g["value"],
                        "unit": g.get("unit", ""), "goal": g["goal"], "met": g["met"], "date": str(g.get("date", date))[:10]})
        return out
    for r in data.get("table", []):
        if name.startswith("generation") and r.get("goal"):  # ">=50%" of the measured limit
            v, want = _num(r.get("of limit")), _num(r["goal"].lstrip(">="))
            out.append({"benchmark": name, "figure": f"generate() {r['model']}, batch {r['batch']}: share of the measured limit",
                        "value": r.get("of limit"), "unit": "", "goal": r["goal"], "met": v is not None and v >= (want or 0),
                        "date": date})
        elif name.startswith("loading") and r.get("goal s"):
            want = _num(str(r["goal s"]).lstrip("<"))
            out.append({"benchmark": name, "figure": f"{r['what']}: wall p50", "value": r["wall p50 s"], "unit": "s",
                        "goal": f"< {want} s", "met": want is not None and r["wall p50 s"] < want, "date": date})
        elif r.get("goal p50") and "met" in r:
            where = f"{r.get('backend', '')}, {data['size']:,} papers" if data.get("size") else r.get("backend", "")
            out.append({"benchmark": name, "figure": f"{where}: {r.get('query', '')} p50".strip(": "),
                        "value": r.get("p50 ms"), "unit": "ms", "goal": r["goal p50"], "met": r["met"] == "yes", "date": date})
    if name.startswith("training") and "loop_overhead_p50" in data:
        want = data.get("goal", {}).get("loop_overhead_below", 0.05)
        out.append({"benchmark": name, "figure": "training loop overhead vs a plain PyTorch loop (p50)",
                    "value": f"{100 * data['loop_overhead_p50']:.1f}%", "unit": "", "goal": f"< {100 * want:.0f}%",
                    "met": data["loop_overhead_p50"] < want, "date": date})
    return out


def goals_section(found: list[tuple[str, dict[str, Any]]]) -> str:
    rows = [g for name, data in found for g in goal_rows(name, data)]
    if not rows:
        return ""
    table = [{"benchmark": g["benchmark"], "figure": g["figure"],
              "value": (f"{fmt(g['value'])} {g['unit']}".strip() if not isinstance(g["value"], str) else g["value"]),
              "goal": g["goal"], "met": "yes" if g["met"] else "not measured" if g["met"] is None else "**no**",
              "date": g["date"]} for g in rows]
    met = sum(1 for g in rows if g["met"])
    unmeasured = sum(1 for g in rows if g["met"] is None)  # e.g. an accelerator goal on a machine without one
    rest = f" ({unmeasured} not measured on this machine)" if unmeasured else ""
    return (f"## Goals\n\n{met} of {len(rows)} goals met{rest}. Each figure was measured side by side with its reference in the "
            "run of that date (the sections below hold every figure).\n\n" + md_table(table) + "\n")


def render(folder: Path = RESULTS) -> str:
    def rank(p: Path) -> tuple[int, str]:
        base = next((i for i, o in enumerate(ORDER) if p.stem.startswith(o)), len(ORDER))
        return base, p.stem

    files = sorted(folder.glob("*.json"), key=rank)
    parts = ["# Benchmark results\n", "Rendered by `python bench/report.py` from `bench/results/*.json` "
             "(what each benchmark measures: bench/README.md).\n"]
    found, sections = [], []
    for f in files:
        try:
            data = json.loads(f.read_text())
        except (OSError, json.JSONDecodeError) as e:
            sections.append(f"## {f.stem}\n\n_unreadable: {e}_\n")
            continue
        found.append((f.stem, data))
        sections.append(section(f.stem, data))
    if found:
        parts.append(goals_section(found))
    parts += sections
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
