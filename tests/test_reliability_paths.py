"""Hostile names never escape the chosen folder; existing files are never overwritten silently; memory stays bounded."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from zoo.io import prepare_dir, safe_child, write_png
from zoo.registry import check_model_id, entries, registry_path

HOSTILE_IDS = ["../../etc/passwd", "/abs/path.x", "dcgan.pneumo\x00nia", "dcgan/../../x.y", "DCGAN.X", "..", "a.b/c", ""]


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_hostile_model_ids_refused(bad, tiny_zoo):
    with pytest.raises(ValueError, match="arch.tag"):
        zoo.load(bad)
    with pytest.raises(ValueError):
        check_model_id(bad)


def test_hostile_registry_entry_refused(tmp_path, monkeypatch, tiny_zoo):
    data = json.loads(Path(tiny_zoo).read_text())
    entry = next(iter(data.values()))
    bad = tmp_path / "models.json"
    bad.write_text(json.dumps({"../../evil.x": {**entry, "model_id": "../../evil.x"}}))
    monkeypatch.setenv("MEDZOO_REGISTRY", str(bad))
    assert registry_path() == bad
    with pytest.raises(ValueError, match="invalid"):
        entries()


@pytest.mark.parametrize("name", ["../x.png", "/tmp/x.png", "a/b.png", "..", ".", "x\x00.png", "", "..\\x.png"])
def test_output_names_stay_inside(tmp_path, name):
    with pytest.raises(ValueError):
        safe_child(tmp_path, name)


def test_symlink_escape_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = prepare_dir(tmp_path / "out")
    (folder / "link.png").symlink_to(outside / "target.png")
    with pytest.raises(ValueError, match="outside"):
        safe_child(folder, "link.png")
    img = torch.zeros(1, 4, 4, dtype=torch.uint8)
    with pytest.raises(FileExistsError):
        write_png(folder / "link.png", img, overwrite=True)  # a symlink is never written through
    assert not (outside / "target.png").exists()


def test_existing_file_kept_without_overwrite(tmp_path):
    f = tmp_path / "a.png"
    f.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="--overwrite"):
        write_png(f, torch.zeros(1, 2, 2, dtype=torch.uint8))
    assert f.read_bytes() == b"keep me"
    with pytest.raises(ValueError, match="NUL"):
        prepare_dir("out\x00dir")


PEAK = ("import resource, sys; from zoo.cli import app  # the zoo command group alone\n"
        "def gen(n, out):\n"
        "    try:\n        app(['generate', 'dcgan.pneumoniamnist_28', '-n', str(n), '--batch-size', '64', '--out', out])\n"
        "    except SystemExit as e:\n        assert not e.code, e.code\n"
        "    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(gen(2000, sys.argv[1] + '/warm'), gen(10000, sys.argv[1] + '/big'))\n")


def test_generate_streams_with_bounded_memory(tiny_zoo, tmp_path):
    """After a warm-up run, 10000 more images raise peak RSS by less than holding them would (measured: ~3 of 7.7 MB)."""
    # fixed glibc malloc settings keep allocator noise (arena growth, dynamic mmap threshold) out of the measurement
    env = {**os.environ, "MEDZOO_REGISTRY": str(tiny_zoo), "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_ARENA_MAX": "2"}
    p = subprocess.run([sys.executable, "-c", PEAK, str(tmp_path)], capture_output=True, text=True, env=env,
                       timeout=900, check=True)
    warm, big = map(int, p.stdout.split()[-2:])  # KiB
    assert len(list((tmp_path / "big").glob("*.png"))) == 10000
    held = 10000 * 28 * 28 / 1024  # KiB that holding the images would add
    print(f"peak RSS after 2000 images {warm} KiB, after 10000 more {big} KiB (holding them would add {held:.0f} KiB)")
    assert big - warm < held
