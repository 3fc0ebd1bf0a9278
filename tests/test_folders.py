"""Image folders on a few real images: the chest X-ray and BUSI layouts, a user's own folder, splits that keep
near-duplicates together, clear errors naming the file, and `medzoo train` / `medzoo finetune` on such a folder."""
from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reproductions.common.data import DataError, dataset_info, load_data, resolve_data_dir
from reproductions.common.folders import FolderError, load_folder, make_split, scan, verify_manifest

DATA = resolve_data_dir()
MEDZOO = [sys.executable, "-m", "medzoo"]


@pytest.fixture()
def busi_few(tmp_path: Path) -> Path:
    """9 real BUSI cases (3 per class) with their masks, one with two lesion files, plus a pixel copy of one image."""
    root = tmp_path / "busi_few"
    for cls, names in {"benign": ["benign (100)", "benign (1)", "benign (10)"], "malignant": ["malignant (1)", "malignant (2)", "malignant (3)"],
                       "normal": ["normal (1)", "normal (2)", "normal (3)"]}.items():
        (root / cls).mkdir(parents=True)
        for name in names:
            for f in (DATA / "busi" / cls).glob(f"{name}*.png"):
                if f.stem == name or f.stem.startswith(f"{name}_mask"):
                    shutil.copy(f, root / cls / f.name)
    shutil.copy(root / "benign" / "benign (1).png", root / "benign" / "copy of benign 1.png")
    return root


@pytest.fixture()
def xray_few(tmp_path: Path) -> Path:
    """A user folder of 24 real chest X-rays (12 per class), in the one-sub-folder-per-class layout."""
    root = tmp_path / "my_xrays"
    for cls in ("NORMAL", "PNEUMONIA"):
        (root / cls).mkdir(parents=True)
        for f in sorted((DATA / "chest_xray" / "train" / cls).glob("*.jpeg"))[:12]:
            shutil.copy(f, root / cls / f.name)
    return root


def test_scan_reads_classes_images_and_mask_unions(busi_few):
    folder = scan(busi_few)
    assert folder.class_names == ["benign", "malignant", "normal"] and len(folder.cases) == 10
    two = next(c for c in folder.cases if c.path == "benign/benign (100).png")
    assert sorted(Path(m).name for m in two.masks) == ["benign (100)_mask.png", "benign (100)_mask_1.png"]
    _, arrays, record = load_folder(busi_few, 64)
    assert arrays["images"].shape == (10, 1, 64, 64) and arrays["images"].dtype == np.uint8
    assert arrays["masks"].shape == (10, 1, 64, 64) and set(np.unique(arrays["masks"])) <= {0, 1}
    i = [c.path for c in folder.cases].index("benign/benign (100).png")
    singles = [load_folder_mask(busi_few, m, 64) for m in two.masks]
    assert np.array_equal(arrays["masks"][i, 0].astype(bool), singles[0] | singles[1])  # the union of its lesion files
    assert arrays["masks"][[c.label for c in folder.cases].index(2)].sum() == 0  # normal: empty mask
    assert sum(len(v) for v in record.splits.values()) == 10


def load_folder_mask(root: Path, rel: str, size: int) -> np.ndarray:
    from PIL import Image

    with Image.open(root / rel) as im:
        m = im.convert("L").point(lambda v: 255 if v > 0 else 0).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(m) > 127


def test_split_is_seeded_stratified_and_keeps_duplicates_together(busi_few):
    folder, arrays, record = load_folder(busi_few, 64)
    where = {p: s for s, ps in record.splits.items() for p in ps}
    assert where["benign/benign (1).png"] == where["benign/copy of benign 1.png"]
    assert record.cross_split_duplicates == 0 and record.duplicate_groups == 9
    again = make_split(folder, arrays["images"], seed=0)
    assert again.splits == record.splits and again.sha256 == record.sha256
    assert make_split(folder, arrays["images"], seed=1).sha256 != record.sha256


def test_real_datasets_keep_the_official_test_split_and_record_their_split():
    info = dataset_info("chestxray", 32)
    test = load_data(info, "test")
    assert len(test["images"]) == 624 and test["images"].shape[1:] == (1, 32, 32)
    assert np.bincount(test["labels"].numpy()).tolist() == [234, 390] and len(test["split_sha256"]) == 64
    val = load_data(info, "val")
    assert 0.08 < len(val["images"]) / 5216 < 0.12 and set(val["labels"].tolist()) == {0, 1}
    busi = dataset_info("busi", 32)
    parts = {s: load_data(busi, s) for s in ("train", "val", "test")}
    assert sum(len(p["images"]) for p in parts.values()) == 780 and all("masks" in p for p in parts.values())


def test_bad_folders_get_one_clear_error_naming_the_file(tmp_path, busi_few):
    empty = tmp_path / "empty" / "cls"
    empty.mkdir(parents=True)
    with pytest.raises(FolderError, match="holds no images"):
        scan(empty.parent)
    orphan = tmp_path / "orphan" / "a"
    orphan.mkdir(parents=True)
    (orphan / "x_mask.png").write_bytes((busi_few / "benign" / "benign (1)_mask.png").read_bytes())
    with pytest.raises(FolderError, match=r"mask without an image: .*x_mask.png"):
        scan(orphan.parent)
    (busi_few / "benign" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(FolderError, match=r"unreadable image .*broken.png"):
        load_folder(busi_few, 32)
    (busi_few / "benign" / "broken.png").unlink()
    with pytest.raises(FolderError, match=r"images differ in size: .* pass --resolution"):
        load_folder(busi_few, None)


def test_manifest_names_a_missing_or_changed_file(busi_few):
    rows = [{"path": p.relative_to(busi_few).as_posix(), "sha256": __import__("zoo.registry").registry.sha256_file(p)}
            for p in sorted(busi_few.rglob("*.png"))]
    with open(busi_few / "MANIFEST.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["path", "sha256"])
        w.writeheader()
        w.writerows(rows)
    assert verify_manifest(busi_few) == len(rows)
    target = busi_few / "malignant" / "malignant (2).png"
    data = bytearray(target.read_bytes())
    data[-20] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(FolderError, match=r"changed file .*malignant \(2\)\.png"):
        verify_manifest(busi_few)
    target.unlink()
    with pytest.raises(FolderError, match=r"missing file .*malignant \(2\)\.png"):
        verify_manifest(busi_few)


def test_unknown_dataset_or_folder_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="pass a resolution"):
        dataset_info("busi")
    with pytest.raises(DataError, match="no such folder"):
        dataset_info(str(tmp_path / "nope") + os.sep)


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([*MEDZOO, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_train_and_export_on_a_user_folder(tmp_path, xray_few):
    """`medzoo train FAMILY --data-dir PATH --resolution R` on your own images, then `export` to a model folder."""
    p = _run("train", "fastgan", "--data-dir", str(xray_few), "--resolution", "64", "--epochs", "1", "--out", "run",
             "--set", "g_base=4", "--set", "d_base=4", "--set", "batch_size=8", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    e = _run("export", "run", "--out", "models", cwd=tmp_path)
    assert e.returncode == 0, e.stderr
    folder = tmp_path / "models" / "fastgan.myxrays_64"
    assert (folder / "model.safetensors").is_file() and "images in" in (folder / "config.json").read_text()
    from zoo.folder import load_folder as load_model

    images = load_model(folder).generate(4, labels=1, seed=0)
    assert images.shape == (4, 1, 64, 64)
    bad = _run("train", "fastgan", "--data-dir", str(tmp_path / "nowhere"), "--resolution", "64", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("error:") and "nowhere" in bad.stderr and "Traceback" not in bad.stderr


def test_finetune_a_zoo_model_on_a_user_folder_and_resume(tmp_path, xray_few):
    """`medzoo finetune MODEL_ID --data-dir PATH` starts from the zoo weights, at the model's resolution."""
    p = _run("finetune", "dcgan.pneumoniamnist_28", "--data-dir", str(xray_few), "--epochs", "2", "--out", "ft",
             "--set", "batch_size=8", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    again = _run("finetune", "dcgan.pneumoniamnist_28", "--data-dir", str(xray_few), "--epochs", "2", "--out", "ft", "--resume",
                 "--set", "batch_size=8", cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # a finished run resumes to itself
    import json

    meta = json.loads((tmp_path / "ft" / "checkpoint.json").read_text())
    assert meta["done"] and meta["config"]["init_from"].endswith("dcgan.pneumoniamnist_28")
    fresh = _run("finetune", "dcgan.pneumoniamnist_28", "--data-dir", str(xray_few), "--epochs", "2", "--out", "ft",
                 "--set", "batch_size=8", cwd=tmp_path)
    assert fresh.returncode == 2 and "--resume" in fresh.stderr
