"""Background training queue: train, export and draw samples for every job in a queue file.

Re-running it skips finished models and resumes unfinished runs from their last checkpoint. The job list is
re-read after every job, so jobs appended to the queue file while the queue runs are picked up.
Start with `reproductions/queue.sh`; progress: `python -m reproductions.queue --status`. On an accelerator,
`python -m reproductions.queue --queue reproductions/queue_cuda.yaml --device cuda --parallel 9` trains
several jobs at once on the one GPU (the small 28x28 models leave it mostly idle one at a time).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from zoo.registry import pretrained_dir

ROOT = Path(__file__).resolve().parents[1]
QUEUE = Path(__file__).with_name("queue.yaml")
RUNS = ROOT / "runs"


def load_jobs(queue: Path = QUEUE) -> list[dict[str, Any]]:
    """The jobs of a queue file, in order."""
    return yaml.safe_load(Path(queue).read_text())


def is_finished(job: dict[str, Any]) -> bool:
    """A job is finished when its exported folder holds a finished config.json and a sample grid."""
    folder = pretrained_dir() / job["id"]
    cfg = folder / "config.json"
    if not (cfg.is_file() and (folder / "samples.png").is_file()):
        return False
    return bool(json.loads(cfg.read_text())["training"]["finished"])


def _run(cmd: list[str], log: Path | None = None) -> int:
    print(f"[{time.strftime('%H:%M:%S')}] $ {' '.join(cmd)}", flush=True)
    threads = os.environ.get("OMP_NUM_THREADS", "2")
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OMP_WAIT_POLICY": "PASSIVE"}
    if log is None:
        return subprocess.run(cmd, cwd=ROOT, env=env).returncode
    with open(log, "a") as out:
        return subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT).returncode


def run_job(job: dict[str, Any], device: str = "cpu", log: Path | None = None) -> bool:
    """Train (resuming when a checkpoint exists), export and draw samples; True on success."""
    run_dir = RUNS / job["id"]
    py = [sys.executable, "-m", "reproductions.cli"]
    train = [*py, "train", job["family"], "--dataset", job["dataset"], "--epochs", str(job["epochs"]), "--out", str(run_dir)]
    train += [a for k, v in (job.get("set") or {}).items() for a in ("--set", f"{k}={json.dumps(v)}")]
    train += ["--device", device] + (["--limit", str(job["limit"])] if job.get("limit") else [])
    train += ["--resolution", str(job["resolution"])] if job.get("resolution") else []
    if (run_dir / "checkpoint.json").exists():
        train.append("--resume")
    if _run(train, log) != 0:
        return False
    exported = subprocess.run([*py, "export", str(run_dir), "--out", str(pretrained_dir())], cwd=ROOT, capture_output=True, text=True)
    print(exported.stdout + exported.stderr, flush=True)
    if exported.returncode != 0:
        return False
    folders = [line.split(": ", 1)[1] for line in exported.stdout.splitlines() if line.startswith("exported: ")]
    return all(_run([*py, "samples", f, "--out", str(Path(f) / "samples.png")], log) == 0 for f in folders)


def _timed_job(job: dict[str, Any], device: str, log: Path | None) -> bool:
    t0 = time.time()
    ok = run_job(job, device, log)
    print(f"[{time.strftime('%H:%M:%S')}] {job['id']}: {'done' if ok else 'FAILED'} in {time.time() - t0:.0f} s", flush=True)
    return ok


def main(queue: Path = QUEUE, device: str = "cpu", parallel: int = 1) -> None:
    """Work through the queue until every job is finished or has failed once in this session.

    With parallel > 1 that many jobs run at once, each logging to runs/<id>/queue.log.
    """
    failed: set[str] = set()
    if parallel > 1:
        from concurrent.futures import ThreadPoolExecutor

        todo = [j for j in load_jobs(queue) if not is_finished(j)]
        for job in todo:
            (RUNS / job["id"]).mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(parallel) as pool:
            results = list(pool.map(lambda j: _timed_job(j, device, RUNS / j["id"] / "queue.log"), todo))
        failed = {j["id"] for j, ok in zip(todo, results) if not ok}
    while parallel <= 1:
        todo = [j for j in load_jobs(queue) if j["id"] not in failed and not is_finished(j)]
        if not todo:
            break
        if not _timed_job(todo[0], device, None):
            failed.add(todo[0]["id"])
    print(f"queue finished; failed: {sorted(failed) or 'none'}", flush=True)


def status(queue: Path = QUEUE) -> list[str]:
    """One line per job: finished / in progress (step, training seconds) / pending."""
    lines = []
    for job in load_jobs(queue):
        pointer = RUNS / job["id"] / "checkpoint.json"
        meta = json.loads(pointer.read_text()) if pointer.exists() else None
        if is_finished(job):
            state = "finished"
        elif meta:
            state = f"in progress, checkpoint at step {meta['step']}/{meta['total_steps']}"
        else:
            state = "pending" if not (RUNS / job["id"]).exists() else "started, no checkpoint yet"
        seconds = f", {meta['seconds']:.0f} s trained" if meta else ""
        lines.append(f"{job['id']}: {state}{seconds}")
    return lines


def report() -> str:
    """Markdown table of every exported model in zoo/pretrained: data, size, training facts and sample grid."""
    from safetensors import safe_open

    lines = ["| model | dataset | task | params | steps (epochs) | training s | hardware | samples |", "|---|---|---|---|---|---|---|---|"]
    for cfg_path in sorted(pretrained_dir().glob("*/config.json")):
        cfg, folder = json.loads(cfg_path.read_text()), cfg_path.parent
        t = cfg.get("training", {})
        with safe_open(folder / "model.safetensors", "pt") as f:
            params = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
        grid = folder / "samples.png"
        lines.append(f"| `{cfg['model_id']}` | {cfg['dataset']} | {cfg['task']} | {params / 1e6:.2f}M | {t.get('steps', '')} "
                     f"({t.get('epochs', '')}) | {t.get('seconds', '')} | {t.get('hardware', '')} | "
                     f"{(grid.relative_to(ROOT) if grid.is_relative_to(ROOT) else grid) if grid.is_file() else ''} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Train, export and draw samples for every job of a queue file.")
    parser.add_argument("--queue", type=Path, default=QUEUE, help="queue file (default reproductions/queue.yaml)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--parallel", type=int, default=1, help="jobs to run at once")
    parser.add_argument("--status", action="store_true", help="print each job's state and exit")
    parser.add_argument("--report", action="store_true", help="print a markdown table of the exported models and exit")
    args = parser.parse_args()
    if args.report:
        print(report())
    elif args.status:
        print("\n".join(status(args.queue)))
    else:
        main(args.queue, args.device, args.parallel)
