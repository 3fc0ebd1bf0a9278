"""The commit recorded beside every row: dirty when the code changes, not when other runs append result rows."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reproductions.common import env


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_result_rows_do_not_make_the_code_dirty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "reproductions" / "results").mkdir(parents=True)
    (tmp_path / "reproductions" / "code.py").write_text("x = 1\n")
    (tmp_path / "reproductions" / "results" / "rows.jsonl").write_text("{}\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "add", ".")
    _git(tmp_path, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "init")
    head = _git(tmp_path, "rev-parse", "HEAD")
    monkeypatch.setattr(env, "ROOT", tmp_path)
    monkeypatch.delenv("MEDZOO_GIT_COMMIT", raising=False)
    (tmp_path / "reproductions" / "results" / "rows.jsonl").write_text("{}\n{}\n")  # another run appended a row
    (tmp_path / "reproductions" / "results" / "new.jsonl").write_text("{}\n")
    assert env.git_commit(env.CODE_PATHS, untracked=True) == head
    (tmp_path / "reproductions" / "code.py").write_text("x = 2\n")
    assert env.git_commit(env.CODE_PATHS, untracked=True) == head + "+uncommitted-changes"
