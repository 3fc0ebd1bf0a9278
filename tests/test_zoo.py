"""The zoo API: registry filters, loading bundled models with checksums, determinism, datasets and the CLI."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import zoo
from zoo.hub import IntegrityError
from zoo.registry import UnknownModelError, pretrained_dir

DCGAN, ACGAN, PIX = "dcgan.pneumoniamnist_28", "acgan.breastmnist_28", "pix2pix.pneumoniamnist_28_sr14"


def test_registry_filters(tiny_zoo):
    df = zoo.list_models()
    assert set(df.model_id) == {DCGAN, ACGAN, PIX}
    assert list(zoo.list_models(dataset="BreastMNIST").model_id) == [ACGAN]
    assert set(zoo.list_models(organ="lung").model_id) == {DCGAN, PIX}
    assert list(zoo.list_models(family="pix2pix", modality="xray").model_id) == [PIX]
    assert zoo.list_models(task="conditional-synthesis").model_id.tolist() == [ACGAN]
    with pytest.raises(ValueError, match="filter by"):
        zoo.list_models(colour="red")


def test_entry_facts_and_models_for(tiny_zoo):
    e = zoo.get(ACGAN)
    assert e.num_classes == 2 and e.channels == 1 and e.resolution == 28 and e.license == "cc-by-4.0"
    assert set(e.files) == {"config.json", "model.safetensors", "README.md"} and all(len(h) == 64 for h in e.files.values())
    assert 0 < e.params < 5_000_000
    for doi in e.papers:
        assert ACGAN in set(zoo.models_for(doi).model_id)
    assert zoo.models_for("10.9999/no-model").empty


def test_unknown_id_lists_close_matches(tiny_zoo):
    with pytest.raises(UnknownModelError, match="Did you mean: dcgan.pneumoniamnist_28"):
        zoo.load("dcgan.pneumonia_28")


def test_generate_uint8_deterministic_and_batch_independent(tiny_zoo):
    model = zoo.load(DCGAN)
    assert isinstance(model, torch.nn.Module) and not model.training
    a = model.generate(10, seed=3, batch_size=4)
    assert a.dtype == torch.uint8 and a.shape == (10, 1, 28, 28)
    assert torch.equal(a, model.generate(10, seed=3, batch_size=10))
    assert not torch.equal(a, model.generate(10, seed=4))
    assert a.float().std() > 0  # not a constant image
    model.cpu_forward_batch = 3  # forward passes of at most 3 images: the same images, returned in one batch
    assert torch.equal(a, model.generate(10, seed=3, batch_size=10))


def test_conditional_labels(tiny_zoo):
    model = zoo.load(ACGAN)
    x = model.generate(6, labels=1, seed=0)
    assert x.shape == (6, 1, 28, 28)
    assert torch.equal(model.generate(4, labels=[0, 1, 0, 1], seed=0)[1], model.generate(2, labels=[0, 1], seed=0)[1])
    with pytest.raises(ValueError, match="label 2 out of range"):
        model.generate(2, labels=2)
    with pytest.raises(ValueError, match="positive"):
        model.generate(0)
    with pytest.raises(ValueError, match="unconditional"):
        zoo.load(DCGAN).generate(2, labels=0)


def test_translate(tiny_zoo):
    model = zoo.load(PIX)
    x = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8)
    y = model.translate(x)
    assert y.shape == x.shape and y.dtype == torch.uint8
    model.cpu_forward_batch = 1
    assert torch.equal(y, model.translate(x))
    with pytest.raises(ValueError, match="batch_size must be positive"):
        model.translate(x, batch_size=0)
    with pytest.raises(ValueError, match="shape"):
        model.translate(torch.zeros(1, 3, 28, 28, dtype=torch.uint8))
    with pytest.raises(TypeError, match="translate"):
        model.generate(2)


def test_corrupt_bundled_file_refused(tiny_zoo, tmp_path, monkeypatch):
    copy = tmp_path / "zoo"
    shutil.copytree(Path(tiny_zoo).parent / "pretrained", copy / "pretrained")
    shutil.copy(tiny_zoo, copy / "models.json")
    monkeypatch.setenv("MEDZOO_REGISTRY", str(copy / "models.json"))
    weights = pretrained_dir() / DCGAN / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        zoo.load(DCGAN)


def test_synthetic_and_mixed_datasets(tiny_zoo):
    model = zoo.load(ACGAN)
    syn = zoo.SyntheticDataset(model, n=20, seed=1, chunk=8)
    img, y = syn[13]
    assert img.dtype == torch.uint8 and img.shape == (1, 28, 28) and y == 13 % 2
    assert torch.equal(syn[13][0], zoo.SyntheticDataset(model, n=20, seed=1, chunk=5)[13][0])  # chunking never changes items
    assert torch.equal(syn[13][0], model.generate(20, seed=1)[13])
    real = TensorDataset(torch.zeros(10, 1, 28, 28, dtype=torch.uint8), torch.ones(10, dtype=torch.long))
    from torchvision.transforms import v2

    mixed = zoo.MixedDataset(real, syn, ratio=0.5, transform=v2.Compose([v2.ToDtype(torch.float32, scale=True)]))
    assert len(mixed) == 15 and not mixed.is_synthetic(9) and mixed.is_synthetic(10)
    batches = list(DataLoader(mixed, batch_size=8, shuffle=False))
    assert batches[0][0].dtype == torch.float32 and sum(len(b[1]) for b in batches) == 15
    with pytest.raises(ValueError, match="needs 40 synthetic"):
        zoo.MixedDataset(real, syn, ratio=4)
    with pytest.raises(IndexError):
        syn[20]


def medzoo(*args, registry, ok=True):
    import os

    p = subprocess.run([sys.executable, "-m", "medzoo", *args], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "MEDZOO_REGISTRY": str(registry)})
    assert (p.returncode == 0) == ok, p.stderr
    return p


def test_cli_models_info_generate(tiny_zoo, tmp_path):
    rows = json.loads(medzoo("models", "--organ", "breast", "--format", "json", registry=tiny_zoo).stdout)
    assert [r["model_id"] for r in rows] == [ACGAN]
    assert "Not for diagnosis" in medzoo("info", ACGAN, registry=tiny_zoo).stdout
    out = tmp_path / "gen"
    medzoo("generate", ACGAN, "-n", "5", "--label", "1", "--seed", "2", "--out", str(out), "--grid", "grid.png",
           registry=tiny_zoo)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["000000_label1.png", "000001_label1.png", "000002_label1.png", "000003_label1.png",
                     "000004_label1.png", "grid.png"]
    again = medzoo("generate", ACGAN, "-n", "5", "--out", str(out), registry=tiny_zoo, ok=False)
    assert "--overwrite" in again.stderr
    for bad, msg in ((["--grid", "../escape.png"], "plain file name"), (["--label", "7"], "out of range"),
                     (["-n", "0"], "positive")):
        p = medzoo("generate", ACGAN, "--out", str(tmp_path / "x"), *bad, registry=tiny_zoo, ok=False)
        assert msg in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "escape.png").exists()


def test_cli_translate(tiny_zoo, tmp_path):
    from PIL import Image

    src = tmp_path / "in.png"
    Image.fromarray(torch.randint(0, 256, (28, 28), dtype=torch.uint8).numpy()).save(src)
    medzoo("translate", PIX, str(src), "--out", str(tmp_path / "o"), registry=tiny_zoo)
    assert (tmp_path / "o" / "in_pix2pix.png").exists()
    Image.fromarray(torch.zeros(30, 30, dtype=torch.uint8).numpy()).save(tmp_path / "big.png")
    p = medzoo("translate", PIX, str(tmp_path / "big.png"), "--out", str(tmp_path / "o"), registry=tiny_zoo, ok=False)
    assert "30x30" in p.stderr
