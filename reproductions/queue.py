"""Background training queue: train, export and draw samples for every job in queue.yaml, one at a time.

Re-running it skips finished models and resumes unfinished runs from their last checkpoint. The job list is
re-read after every job, so jobs appended to queue.yaml while the queue runs are picked up.
Start with `reproductions/queue.sh`; progress: `python -m reproductions.queue --status`.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
QUEUE = Path(__file__).with_name("queue.yaml")
RUNS = ROOT / "runs"
PRETRAINED = ROOT / "zoo" / "pretrained"


def load_jobs() -> list[dict[str, Any]]:
    """The jobs of queue.yaml, in order."""
    return yaml.safe_load(QUEUE.read_text())


def is_finished(job: dict[str, Any]) -> bool:
    """A job is finished when its exported folder holds a finished config.json and a sample grid."""
    folder = PRETRAINED / job["id"]
    cfg = folder / "config.json"
    if not (cfg.is_file() and (folder / "samples.png").is_file()):
        return False
    return bool(json.loads(cfg.read_text())["training"]["finished"])


def _run(cmd: list[str]) -> int:
    print(f"[{time.strftime('%H:%M:%S')}] $ {' '.join(cmd)}", flush=True)
    env = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


def run_job(job: dict[str, Any]) -> bool:
    """Train (resuming when a checkpoint exists), export and draw samples; True on success."""
    run_dir = RUNS / job["id"]
    py = [sys.executable, "-m", "reproductions.cli"]
    train = [*py, "train", job["family"], "--dataset", job["dataset"], "--epochs", str(job["epochs"]), "--out", str(run_dir)]
    train += [a for k, v in (job.get("set") or {}).items() for a in ("--set", f"{k}={json.dumps(v)}")]
    if (run_dir / "checkpoint.json").exists():
        train.append("--resume")
    if _run(train) != 0:
        return False
    exported = subprocess.run([*py, "export", str(run_dir)], cwd=ROOT, capture_output=True, text=True)
    print(exported.stdout + exported.stderr, flush=True)
    if exported.returncode != 0:
        return False
    folders = [line.split(": ", 1)[1] for line in exported.stdout.splitlines() if line.startswith("exported: ")]
    return all(_run([*py, "samples", f, "--out", str(Path(f) / "samples.png")]) == 0 for f in folders)


def main() -> None:
    """Work through the queue until every job is finished or has failed once in this session."""
    failed: set[str] = set()
    while True:
        todo = [j for j in load_jobs() if j["id"] not in failed and not is_finished(j)]
        if not todo:
            break
        job = todo[0]
        t0 = time.time()
        ok = run_job(job)
        print(f"[{time.strftime('%H:%M:%S')}] {job['id']}: {'done' if ok else 'FAILED'} in {time.time() - t0:.0f} s", flush=True)
        if not ok:
            failed.add(job["id"])
    print(f"queue finished; failed: {sorted(failed) or 'none'}", flush=True)


def status() -> list[str]:
    """One line per job: finished / in progress (step, training seconds) / pending."""
    lines = []
    for job in load_jobs():
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


if __name__ == "__main__":
    if sys.argv[1:] == ["--status"]:
        print("\n".join(status()))
    else:
        main()
