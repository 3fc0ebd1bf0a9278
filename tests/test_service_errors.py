"""A read-only or full output folder is one line on stderr naming the path, exit status 2, and nothing half-written
(the folders are real tmpfs mounts in a private mount namespace, so the kernel itself refuses the writes)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MEDZOO = f"{sys.executable} -m medzoo"


def in_mount(tmp_path: Path, size: str, readonly: bool, command: str, setup: str = "true") -> subprocess.CompletedProcess:
    """Run `command` with a fresh tmpfs of `size` mounted at tmp_path/mnt (after `setup`, read-only if asked)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    remount = f" && mount -o remount,ro {mnt}" if readonly else ""
    script = f"mount -t tmpfs -o size={size} none {mnt} && {setup}{remount} && {command}; rc=$?; ls -a {mnt}/out 2>/dev/null | grep -c tmp >&2; exit $rc"
    return subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=300)


@pytest.fixture(autouse=True)
def needs_mount_namespaces(tmp_path):
    if not shutil.which("unshare") or subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode:
        pytest.skip("no mount namespaces here (unshare -m)")


def one_error_line(p: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in p.stderr.splitlines() if ln.startswith("error:")]
    assert p.returncode == 2 and len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    return lines[0]


def test_generate_into_a_read_only_folder(tmp_path):
    p = in_mount(tmp_path, "64k", True, f"{MEDZOO} generate dcgan.pneumoniamnist_28 -n 4 --out {tmp_path}/mnt/out")
    line = one_error_line(p)
    assert f"{tmp_path}/mnt/out" in line and "read-only" in line.lower()


def test_generate_into_a_full_folder_names_the_file_and_leaves_no_partial_png(tmp_path):
    p = in_mount(tmp_path, "24k", False, f"{MEDZOO} generate dcgan.pneumoniamnist_28 -n 300 --out {tmp_path}/mnt/out")
    line = one_error_line(p)
    assert "No space left on device" in line and f"{tmp_path}/mnt/out/" in line and ".png" in line
    assert p.stderr.strip().splitlines()[-1] == "0"  # no .tmp file left behind


def test_catalog_build_into_a_read_only_folder(tmp_path):
    p = in_mount(tmp_path, "64k", True, f"{MEDZOO} catalog build --db {tmp_path}/mnt/catalog.db")
    assert f"{tmp_path}/mnt" in one_error_line(p)


def test_export_into_a_read_only_folder(tmp_path):
    from tests.test_reproductions import tiny_train

    run = tiny_train("dcgan", tmp_path / "run")
    p = in_mount(tmp_path, "64k", True, f"{MEDZOO} export {run} --out {tmp_path}/mnt/models")
    assert f"{tmp_path}/mnt/models" in one_error_line(p)


def test_readme_in_a_read_only_folder_is_kept_whole(tmp_path):
    """`medzoo utility readme` on a stale README it cannot write: one line naming it, exit 2, the README unchanged."""
    from reproductions.evaluate import readme

    stale = tmp_path / "README.md"
    stale.write_text(f"{readme.START}\nan old claim\n{readme.END}\n")
    check = subprocess.run([sys.executable, "-m", "medzoo", "utility", "readme", "--check", "--readme", str(stale)],
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 1 and "differs from the stored rows" in check.stderr, check.stderr
    kept = f"{tmp_path}/mnt/README.md"
    p = in_mount(tmp_path, "64k", True, f"{MEDZOO} utility readme --readme {kept}; rc=$?; cat {kept}; (exit $rc)",
                 setup=f"cp {stale} {kept}")
    assert f"'{kept}'" in one_error_line(p) and p.stdout == stale.read_text()
