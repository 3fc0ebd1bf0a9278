"""Where something ran: CPU model, git commit, load. The one home of these facts for training runs
(reproductions/common/train.py `environment`) and benchmarks (bench/common.py `environment`); imports no torch."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# The code a training or evaluation row depends on: its results (rows other runs append) do not make the code dirty.
CODE_PATHS = ("reproductions", "zoo", ":(exclude)reproductions/results")


def git_commit(paths: tuple[str, ...] = (), untracked: bool = False) -> str:
    """HEAD, with '+uncommitted-changes' when tracked files differ (untracked: new files count too; only files under
    `paths` when given); $MEDZOO_GIT_COMMIT overrides it where the copy's .git is absent or stale (e.g. on a GPU host);
    '' without git."""
    if os.environ.get("MEDZOO_GIT_COMMIT"):
        return os.environ["MEDZOO_GIT_COMMIT"]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", f"--untracked-files={'normal' if untracked else 'no'}", "--",
                                *paths], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return commit + ("+uncommitted-changes" if commit and dirty else "")


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def busy_processes(limit: int = 5) -> list[str]:
    """The busiest other processes (what shared the CPUs), from ps."""
    try:
        out = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    me = str(os.getpid())
    rows = [line.strip()[:160] for line in out.splitlines()[1:] if line.strip() and me not in line]
    return rows[:limit]
