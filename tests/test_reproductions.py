"""Reproductions on a few real MedMNIST images: every family trains, exports and reloads; resume is exact."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from reproductions import FAMILIES
from reproductions.common.checkpoint import CheckpointError, load_checkpoint
from reproductions.common.data import DataError, dataset_info, load_split
from reproductions.common.export import export_run
from reproductions.common.family import load_family
from reproductions.common.samples import sample_grid
from reproductions.common.train import train
from zoo.archs import get_arch

REPO = Path(__file__).resolve().parents[1]

# Tiny widths keep each family's test to seconds; the architecture and the training step are the real ones.
TINY: dict[str, tuple[str, dict]] = {
    "dcgan": ("pneumoniamnist", {"g_base": 8, "d_base": 8}),
    "acgan": ("retinamnist", {"g_base": 8, "d_base": 8}),
    "wgan_gp": ("pneumoniamnist", {"g_base": 8, "d_base": 8, "n_critic": 2}),
    "diffaugment": ("breastmnist", {"g_base": 8, "d_base": 8}),
    "pggan": ("pneumoniamnist", {"widths": [16, 16, 8]}),
    "pix2pix": ("pneumoniamnist", {"base": 8, "d_base": 8}),
    "cyclegan": ("pneumoniamnist", {"base": 8, "n_blocks": 1, "d_base": 8}),
    "ddpm": ("pneumoniamnist", {"widths": [8, 16, 16], "sample_steps": 3}),
    "fastgan": ("chestxray", {"g_base": 8, "d_base": 8}),
    "spade": ("busi", {"g_base": 4, "d_base": 8}),
    "ddpm_cfg": ("chestxray", {"widths": [8, 16, 16, 16], "attention_levels": [3], "sample_steps": 3}),
}
RESOLUTION = {"fastgan": 64, "spade": 64, "ddpm_cfg": 32}  # the image-folder families train at 64 px in tests (128+ for the zoo)
MEDMNIST = ("breastmnist", "pneumoniamnist", "retinamnist")


def tiny_train(family: str, out: Path, epochs: int = 1, **kw) -> Path:
    dataset, overrides = TINY[family]
    overrides = {"batch_size": 8, **overrides, **kw.pop("overrides", {})}
    return train(family, dataset, out, epochs=epochs, limit=kw.pop("limit", 32), overrides=overrides, log_every=1,
                 resolution=RESOLUTION.get(family), **kw)


def state(run: Path) -> dict[str, torch.Tensor]:
    tensors, _ = load_checkpoint(run)
    return {k: v for k, v in tensors.items() if k.startswith(("module/", "optim/"))}


def assert_same_state(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    diff = [k for k in a if not torch.equal(a[k], b[k])]
    assert not diff, f"tensors differ: {diff[:5]}"


def test_tiny_configs_cover_every_family():
    assert set(TINY) == set(FAMILIES)


@pytest.mark.parametrize("dataset", MEDMNIST)
def test_load_split_gives_uint8_images_and_long_labels(dataset):
    images, labels = load_split(dataset, "train")
    info = dataset_info(dataset)
    assert images.dtype == torch.uint8 and labels.dtype == torch.long
    assert images.shape[1:] == (info.channels, 28, 28) and len(images) == len(labels)
    assert set(labels.unique().tolist()) == set(range(len(info.class_names)))


def test_missing_data_file_names_file_path_and_url(tmp_path):
    with pytest.raises(DataError) as e:
        load_split("breastmnist", "train", data_dir=tmp_path)
    msg = str(e.value)
    assert "breastmnist.npz" in msg and str(tmp_path) in msg and "https://zenodo.org/record/5208230/files/breastmnist.npz" in msg


def test_corrupt_data_file_is_refused(tmp_path):
    src = load_split.__globals__["verified_path"]("breastmnist")
    data = bytearray(src.read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "breastmnist.npz").write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt data file breastmnist.npz"):
        load_split("breastmnist", "train", data_dir=tmp_path)


def test_data_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDZOO_DATA", str(tmp_path))
    with pytest.raises(DataError, match=str(tmp_path)):
        load_split("pneumoniamnist", "test")


def test_unknown_dataset_and_family_list_valid_names():
    with pytest.raises(DataError, match="breastmnist, busi, chestxray, pneumoniamnist, retinamnist"):
        load_split("chestmnist", "train")
    with pytest.raises(ValueError, match="dcgan, acgan"):
        load_family("stylegan9")


@pytest.mark.parametrize("family", FAMILIES)
def test_family_trains_exports_and_reloads(family, tmp_path):
    run = tiny_train(family, tmp_path / "run")
    meta = json.loads((run / "checkpoint.json").read_text())
    assert meta["done"] and meta["step"] == meta["total_steps"] > 0
    assert all(torch.isfinite(v).all() for v in state(run).values() if v.is_floating_point())
    folders = export_run(run, tmp_path / "models")
    assert folders and all(f.name.startswith(f"{family}.") for f in folders)
    for folder in folders:
        cfg = json.loads((folder / "config.json").read_text())
        for key in ("model_id", "arch", "arch_kwargs", "family", "task", "dataset", "organ", "modality", "resolution",
                    "channels", "num_classes", "class_names", "license", "papers", "training"):
            assert key in cfg, key
        licence = "other" if cfg["dataset"] == "busi" else "cc-by-4.0"  # BUSI's licence is unclear: said in every card
        assert cfg["license"] == licence and cfg["training"]["split"] == "train"
        card = (folder / "README.md").read_text()
        assert card.startswith(f"---\nlicense: {licence}\n") and "Not for diagnosis" in card
        if cfg["dataset"] == "busi":
            assert "unclear" in card
        weights = load_file(str(folder / "model.safetensors"))
        assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
        model = get_arch(cfg["arch"]).from_config(cfg)
        model.load_state_dict(weights)
        model.eval()
        n_params = sum(p.numel() for p in model.parameters())
        assert n_params * 2 < 10 * 2**20
        r = cfg["resolution"]
        assert r == RESOLUTION.get(family, 28)
        if model.task == "synthesis":
            a, b = model.generate(4, seed=3), model.generate(4, seed=3, batch_size=3)
            if family == "spade":  # image + mask pairs; new masks come from the bank of training masks
                (a, masks), (b, masks_b) = a, b
                assert masks.shape == (4, 1, r, r) and masks.dtype == torch.uint8 and set(masks.unique().tolist()) <= {0, 1}
                assert torch.equal(masks, masks_b)
            assert a.shape == (4, cfg["channels"], r, r) and a.dtype == torch.uint8
            assert torch.equal(a, b)
            assert (cfg["task"] in ("conditional-synthesis", "mask-conditional-synthesis")) == (model.num_classes > 0)
        else:
            images, _ = load_split(cfg["dataset"], "test")
            out = model.translate(images[:4])  # the 28 px families
            assert out.shape == images[:4].shape and out.dtype == torch.uint8
        grid = sample_grid(folder, tmp_path / f"{folder.name}.png")
        assert grid.stat().st_size > 0


@pytest.mark.parametrize("family", ["diffaugment", "pggan"])
def test_resume_from_mid_epoch_checkpoint_is_exact(family, tmp_path, monkeypatch):
    reference = tiny_train(family, tmp_path / "ref", epochs=3)
    trainer_cls = load_family(family).Trainer
    real_step = trainer_cls.step

    def failing_step(self, batch, gen, step):
        if step == 7:
            raise KeyboardInterrupt("simulated interruption")
        return real_step(self, batch, gen, step)

    monkeypatch.setattr(trainer_cls, "step", failing_step)
    with pytest.raises(KeyboardInterrupt):
        tiny_train(family, tmp_path / "run", epochs=3, checkpoint_steps=5)
    assert json.loads((tmp_path / "run" / "checkpoint.json").read_text())["step"] == 5
    # what a kill during the next checkpoint leaves behind: a half-written temp file, a newer unreferenced file
    (tmp_path / "run" / "checkpoints" / ".step-000000007.safetensors.tmp-1").write_bytes(b"partial")
    (tmp_path / "run" / "checkpoints" / "step-000000007.safetensors").write_bytes(b"never referenced")
    monkeypatch.setattr(trainer_cls, "step", real_step)
    tiny_train(family, tmp_path / "run", epochs=3, resume=True)
    assert_same_state(state(reference), state(tmp_path / "run"))
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step-000000012.safetensors"]
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert steps == [json.loads(line)["step"] for line in (reference / "log.jsonl").read_text().splitlines()]


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "reproductions.cli", *args], cwd=REPO, env=env, **kw)


def test_kill_9_then_resume_equals_uninterrupted(tmp_path):
    args = ["train", "dcgan", "--dataset", "pneumoniamnist", "--epochs", "40", "--limit", "16", "--checkpoint-steps", "2",
            "--set", "batch_size=8", "--set", "g_base=8", "--set", "d_base=8"]
    run = tmp_path / "run"
    proc = _cli(*args, "--out", str(run), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    pointer = run / "checkpoint.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if pointer.exists() and json.loads(pointer.read_text())["step"] >= 6:
            break
        time.sleep(0.01)
    assert proc.poll() is None, f"training ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(pointer.read_text())["step"]
    assert 6 <= killed_at < 80
    resumed = _cli(*args, "--out", str(run), "--resume", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    reference = _cli(*args, "--out", str(tmp_path / "ref"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for p in (resumed, reference):
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-2000:]
    assert_same_state(state(tmp_path / "ref"), state(run))


def test_torchrun_two_processes(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "reproductions.cli",
           "train", "wgan_gp", "--dataset", "pneumoniamnist", "--epochs", "2", "--limit", "32", "--out", str(run),
           "--set", "batch_size=4", "--set", "g_base=8", "--set", "d_base=8", "--set", "n_critic=2"]
    done = subprocess.run(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    meta = json.loads((run / "checkpoint.json").read_text())
    assert meta["done"] and meta["config"]["world_size"] == 2 and meta["steps_per_epoch"] == 4
    assert json.loads((run / "log.jsonl").read_text().splitlines()[-1])["world_size"] == 2


def test_corrupt_or_mismatched_checkpoint_is_refused_and_nothing_overwritten(tmp_path):
    run = tiny_train("dcgan", tmp_path / "run")
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    with pytest.raises(CheckpointError, match="seed"):
        tiny_train("dcgan", run, resume=True, seed=1)
    with pytest.raises(CheckpointError, match="already holds a checkpoint"):
        tiny_train("dcgan", run)
    ckpt = next((run / "checkpoints").glob("*.safetensors"))
    data = bytearray(ckpt.read_bytes())
    data[-5] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    before[ckpt] = bytes(data)
    with pytest.raises(CheckpointError, match="corrupt"):
        tiny_train("dcgan", run, resume=True)
    (run / "checkpoint.json").write_text("{not json")
    before[run / "checkpoint.json"] = b"{not json"
    with pytest.raises(CheckpointError, match="not valid JSON"):
        tiny_train("dcgan", run, resume=True)
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before


def test_cli_module_does_not_import_torch_and_rejects_unknown_names():
    code = "import sys, reproductions.cli; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    bad = _cli("train", "stylegan9", "--dataset", "pneumoniamnist", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = bad.communicate(timeout=120)
    assert bad.returncode != 0 and b"valid families: dcgan" in err
    bad = _cli("train", "dcgan", "--dataset", "chestmnist", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, err = bad.communicate(timeout=120)
    assert bad.returncode != 0 and b"valid datasets: breastmnist, busi, chestxray, pneumoniamnist" in err


def test_every_family_registers_its_arch_and_cites_catalog_papers():
    import yaml

    catalog_dois = set()
    for path in (REPO / "catalog" / "data" / "papers").glob("*.yaml"):
        doi = str((yaml.safe_load(path.read_text()) or {}).get("doi") or "").lower()
        if doi:
            catalog_dois.add(doi)
    for family in FAMILIES:
        assert get_arch(family).arch_name == family
        papers = load_family(family).PAPERS
        assert papers and set(papers) <= catalog_dois, (family, set(papers) - catalog_dois)


def test_queue_runs_jobs_in_parallel_exports_and_reports(tmp_path, monkeypatch, capsys):
    """reproductions/queue.py: two tiny jobs at once, each trained, exported with a sample grid, then listed by --report."""
    from reproductions import queue

    jobs = tmp_path / "queue.yaml"
    jobs.write_text("- {id: dcgan.breastmnist_28, family: dcgan, dataset: breastmnist, epochs: 1, limit: 32, set: {batch_size: 16}}\n"
                    "- {id: acgan.breastmnist_28, family: acgan, dataset: breastmnist, epochs: 1, limit: 32, set: {batch_size: 16}}\n")
    monkeypatch.setattr(queue, "RUNS", tmp_path / "runs")
    monkeypatch.setenv("MEDZOO_REGISTRY", str(tmp_path / "models.json"))  # pretrained_dir() is tmp_path/pretrained
    queue.main(jobs, "cpu", parallel=2)
    assert "failed: none" in capsys.readouterr().out
    assert all(queue.is_finished(j) for j in queue.load_jobs(jobs))
    assert all((tmp_path / "runs" / j / "queue.log").is_file() for j in ("dcgan.breastmnist_28", "acgan.breastmnist_28"))
    assert all(line.split(": ")[1].startswith("finished") for line in queue.status(jobs))
    table = queue.report()
    assert "| `acgan.breastmnist_28` | breastmnist | conditional-synthesis |" in table and "samples.png" in table


def test_time_a_job_sat_stopped_is_not_training_time():
    """A training job paused with SIGSTOP (to lend the cores to another job) must not report the pause as seconds."""
    from reproductions.common.train import ContinueClock

    clock = ContinueClock()
    try:
        t0 = time.monotonic() - 100  # a step begun 100 s ago ...
        assert clock.step_seconds(t0) >= 100
        os.kill(os.getpid(), signal.SIGCONT)  # ... that was stopped and continued just now
        time.sleep(0.01)
        assert clock.step_seconds(t0) < 5
        assert clock.step_seconds(time.monotonic()) < 1  # a later step counts in full again
    finally:
        clock.close()


@pytest.mark.parametrize("bf16", [False, True])
def test_fastgan_mode_seeking_term_is_logged_and_trained(tmp_path, bf16):
    """With mode_seeking > 0 the generator's loss carries MSGAN's term, and its ratio is logged per step (also with the
    forward passes under bf16 autocast)."""
    run = tiny_train("fastgan", tmp_path / "ms", limit=16, overrides={"mode_seeking": 1.0, "d_norm": "bn", "bf16": bf16})
    steps = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if "loss_g" in line]
    assert steps and all(r["mode_seeking"] > 0 for r in steps)
    assert all(r["loss_g"] > 1 / (r["mode_seeking"] + 1e-5) for r in steps)  # the term is part of the loss


def test_spade_trains_under_bf16_autocast(tmp_path):
    """SPADE's `bf16` option: forward passes under bf16 autocast, float32 weights, finite losses, image + mask export."""
    run = tiny_train("spade", tmp_path / "bf16", limit=8, overrides={"bf16": True})
    steps = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if "loss_d" in line]
    assert steps and all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in steps)
