"""Shared pieces of the benchmarks: environment facts, timing, JSON results and plain-text tables.

Every benchmark writes bench/results/<name>.json holding the machine, CPU count, torch version and threads,
the git commit, the load average before and after, and every repetition (not only a summary), then prints a
table. The machine the benchmarks were written on is shared with a background training queue, so each
benchmark compares against a reference measured side by side in the same run and reports the ratio.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

from reproductions.common.env import busy_processes, cpu_model, git_commit, loadavg  # noqa: E402 - the one home of these facts


def environment(torch_info: bool = True) -> dict[str, Any]:
    """Facts about where a benchmark ran (CPU model, commit and load from reproductions/common/env.py, the helper training
    runs use too)."""
    env: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.machine()} {cpu_model()}",
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git_commit(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "loadavg_start": loadavg(),
        "busy_processes_start": busy_processes(),
    }
    if torch_info:
        import torch

        env.update({"torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                    "torch_interop_threads": torch.get_num_interop_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                    "mkldnn": bool(torch.backends.mkldnn.is_available())})
    return env


def summary(values: Sequence[float]) -> dict[str, float]:
    """min / p50 / p95 / mean of a list of measurements."""
    v = sorted(values)
    if not v:
        return {}
    p95 = v[min(len(v) - 1, max(0, int(round(0.95 * (len(v) - 1)))))]
    return {"min": v[0], "p50": statistics.median(v), "p95": p95, "mean": statistics.fmean(v), "n": len(v)}


def repeat(fn: Callable[[], Any], reps: int, warmup: int = 1, min_time: float = 0.0) -> list[float]:
    """Seconds of each of `reps` calls of fn after `warmup` calls (more calls while the total is under min_time)."""
    for _ in range(warmup):
        fn()
    out: list[float] = []
    t_start = time.perf_counter()
    while len(out) < reps or (time.perf_counter() - t_start) < min_time:
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
        if len(out) >= 50 * max(reps, 1):
            break
    return out


def interleaved(fns: dict[str, Callable[[], Any]], reps: int, warmup: int = 1) -> dict[str, list[float]]:
    """Time several functions in turn (a, b, c, a, b, c, ...) so load from other processes hits all alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            out[k].append(time.perf_counter() - t0)
    return out


def save(name: str, data: dict[str, Any], out_dir: str | os.PathLike | None = None) -> Path:
    """Write results as JSON to <out_dir or bench/results>/<name>.json; the load average at the end is added."""
    folder = Path(out_dir or os.environ.get("MEDZOO_BENCH_RESULTS") or RESULTS)
    folder.mkdir(parents=True, exist_ok=True)
    data.setdefault("environment", {})["loadavg_end"] = loadavg()
    path = folder / f"{name}.json"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def fmt(v: Any) -> str:
    if isinstance(v, float):
        if v == 0:
            return "0"
        a = abs(v)
        if a >= 1000:
            return f"{v:,.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 0.01:
            return f"{v:.3f}"
        return f"{v:.2e}"
    return "" if v is None else str(v)


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str] | None = None, title: str | None = None) -> str:
    """A plain-text table of dict rows (printed and returned)."""
    rows = list(rows)
    cols = list(columns or (rows[0].keys() if rows else []))
    cells = [[fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = []
    if title:
        lines.append(title)
    lines.append("  ".join(c.ljust(w) for c, w in zip(cols, widths)))
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(row, widths)))
    text = "\n".join(lines)
    print(text, flush=True)
    return text


def _numeric(v: str) -> bool:
    try:
        float(v.replace(",", "").rstrip("%x"))
        return True
    except ValueError:
        return False


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default=None, help="results folder (default bench/results, or $MEDZOO_BENCH_RESULTS)")
    p.add_argument("--quick", action="store_true", help="tiny sizes and few repetitions (the smoke test)")
    return p


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)
