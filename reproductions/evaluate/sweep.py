"""Evaluate every finished model the training queue exports: register it when it is not yet, then run `medzoo eval`.

    python -m reproductions.evaluate.sweep --watch      # until the queue is done; log one line per model
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import typer

from reproductions.common.data import REPO_ROOT
from reproductions.evaluate.results import load_rows


def finished_folders() -> list[Path]:
    """Exported model folders whose training finished and whose sample grid is drawn (the queue's own test), generators only."""
    from zoo.registry import pretrained_dir

    out = []
    for folder in sorted(pretrained_dir().iterdir()):
        cfg_path = folder / "config.json"
        if not (cfg_path.is_file() and (folder / "samples.png").is_file() and (folder / "model.safetensors").is_file()):
            continue
        cfg = json.loads(cfg_path.read_text())
        if cfg.get("task") != "feature-extraction" and cfg.get("training", {}).get("finished"):
            out.append(folder)
    return out


def evaluated(model_id: str, features: str) -> bool:
    """Whether model rows of `model_id` are stored (on `features` for the distribution metrics)."""
    rows = load_rows()
    if rows.empty:
        return False
    mine = rows[(rows["model_id"] == model_id) & (rows["kind"] == "model")]
    return bool(((mine["features"] == features) | mine["features"].isna()).any())


def queue_running() -> bool:
    """Whether the background training queue (runs/queue.pid) is alive."""
    pid_file = REPO_ROOT / "runs" / "queue.pid"
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def sweep_once(n: int, features: str, threads: int, failed: set[str]) -> list[str]:
    """Register and evaluate every finished, not yet evaluated model (not retrying `failed`); return the ids evaluated."""
    from zoo.registry import entries, entry_from_folder, register

    done = []
    for folder in finished_folders():
        model_id = folder.name
        if model_id not in entries():
            register(entry_from_folder(folder))
            print(f"[{time.strftime('%H:%M:%S')}] registered {model_id}", flush=True)
        if model_id in failed or evaluated(model_id, features):
            continue
        cmd = [str(Path(sys.executable).with_name("medzoo")), "eval", model_id, "--n", str(n), "--features", features, "--threads", str(threads)]
        print(f"[{time.strftime('%H:%M:%S')}] $ {' '.join(cmd)}", flush=True)
        rc = subprocess.run(cmd, cwd=REPO_ROOT).returncode
        print(f"[{time.strftime('%H:%M:%S')}] {model_id}: {'done' if rc == 0 else f'FAILED (exit {rc})'}", flush=True)
        (done.append if rc == 0 else failed.add)(model_id)
    return done


def main(n: int = typer.Option(10000, "--n"), features: str = typer.Option("medzoo-resnet18"), threads: int = typer.Option(1),
         watch: bool = typer.Option(False, help="keep sweeping every --poll seconds while the training queue runs"),
         poll: int = typer.Option(300)) -> None:
    """Evaluate every finished model; with --watch, also those the queue finishes later."""
    failed: set[str] = set()
    while True:
        running = queue_running()
        sweep_once(n, features, threads, failed)
        if not (watch and running):
            break
        time.sleep(poll)


if __name__ == "__main__":
    typer.run(main)
