"""`medzoo app` in headless Chromium: pick a model, class, seed, count (and a mask for a mask model), generate, see the
grid, download the zip; it loads only registry models and asks no other host for anything."""
from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from tests.browser import CHROMIUM, CHROMIUM_ARGS, local_only

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
ACGAN, SPADE = "acgan.breastmnist_28", "spade.fixture_64"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def playwright_api():  # noqa: ANN201 - playwright's factory
    """Playwright's sync API and Gradio; skip (fail when MEDZOO_REQUIRE_BROWSER=1) when one of them is missing."""
    try:
        import gradio  # noqa: F401
        from playwright.sync_api import sync_playwright
    except ImportError as e:
        missing = e.name
    else:
        missing = None if CHROMIUM.is_file() else str(CHROMIUM)
    if missing:
        if os.environ.get("MEDZOO_REQUIRE_BROWSER") == "1":
            pytest.fail(f"a browser test needs {missing} (MEDZOO_REQUIRE_BROWSER=1)")
        pytest.skip(f"{missing} is missing (pip install 'medzoo[app,test]'; apt-get install chromium)")
    return sync_playwright


def spade_model() -> torch.nn.Module:
    """A tiny random-weight SPADE mask model (64 px, 2 classes) with a bank of 4 masks."""
    from zoo.archs.spade import SPADEGenerator

    torch.manual_seed(0)
    model = SPADEGenerator(channels=1, resolution=64, num_classes=2, z_dim=8, base=4)
    masks = torch.zeros(4, 1, 64, 64)
    for k in range(4):
        masks[k, :, 8 + 4 * k : 40, 10 : 50 - 2 * k] = 1
    model.set_bank(masks, torch.tensor([0, 0, 1, 1]))
    return model.eval()


@pytest.fixture(scope="module")
def registry_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private zoo: the bundled ACGAN (BreastMNIST, 2 classes) and a tiny SPADE mask model."""
    from zoo import registry
    from zoo.folder import save_folder

    root = tmp_path_factory.mktemp("appzoo")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MEDZOO_REGISTRY", raising=False)
        acgan = registry.get(ACGAN)
        shutil.copytree(registry.pretrained_dir() / ACGAN, root / "pretrained" / ACGAN)
        mp.setenv("MEDZOO_REGISTRY", str(root / "models.json"))
        registry.register(replace(acgan))
        model = spade_model()
        config = {**model.config, "model_id": SPADE, "family": "spade", "dataset": "fixture", "organ": "breast",
                  "modality": "ultrasound", "task": "mask-conditional-synthesis", "license": "other",
                  "class_names": ["benign", "malignant"], "papers": [], "summary": "SPADE test fixture (random weights)"}
        folder = save_folder(model, root / "pretrained" / SPADE, f"---\nlicense: other\n---\n# {SPADE}\n", config)
        registry.register(registry.entry_from_folder(folder))
    return root / "models.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(registry_path: Path, playwright_api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # noqa: ANN001
    """`medzoo app` on a free loopback port, as a user starts it."""
    port = _free_port()
    log = tmp_path_factory.mktemp("applog") / "app.log"
    env = {**os.environ, "MEDZOO_REGISTRY": str(registry_path), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "medzoo", "app", "--port", str(port)], cwd=REPO, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"medzoo app did not start: {log.read_text()}")
            time.sleep(1)
        assert f"medzoo app on http://127.0.0.1:{port}" in log.read_text()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def choose(page, elem_id: str, option_prefix: str) -> None:  # noqa: ANN001 - playwright Page
    """Pick the option starting with `option_prefix` from a Gradio dropdown."""
    page.locator(f"#{elem_id} input[role=combobox]").click()
    page.locator("[role=option]", has_text=option_prefix).first.click()
    page.wait_for_timeout(300)


def generate_and_download(page, tmp: Path, name: str) -> zipfile.ZipFile:  # noqa: ANN001 - playwright Page
    """Click Generate, wait for the grid and the zip, download it."""
    page.locator("#generate").click()
    page.locator("#grid img").first.wait_for(timeout=120_000)
    link = page.locator("#download a").first
    link.wait_for(timeout=60_000)
    with page.expect_download() as d:
        link.click()
    path = tmp / f"{name}.zip"
    d.value.save_as(path)
    return zipfile.ZipFile(path)


def png(z: zipfile.ZipFile, name: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(z.read(name))))


def test_app_generates_a_grid_and_a_zip_in_chromium(playwright_api, app_url: str, registry_path: Path,  # noqa: ANN001
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MEDZOO_REGISTRY", str(registry_path))
    import zoo

    ARTIFACTS.mkdir(exist_ok=True)
    shots = {"class": ARTIFACTS / "app-class-model.png", "mask": ARTIFACTS / "app-mask-model.png"}
    outside: list[str] = []
    errors: list[str] = []

    with playwright_api() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", local_only(app_url, outside))
            page.goto(app_url, wait_until="networkidle")
            page.locator("#model input[role=combobox]").click()
            offered = sorted(t.replace("✓", "").strip() for t in page.locator("[role=option]").all_inner_texts())
            assert offered == [ACGAN, SPADE]  # the registry's generators, nothing else
            page.locator("[role=option]", has_text=ACGAN).first.click()  # the default, picked again
            page.wait_for_timeout(300)
            choose(page, "label", "1:")
            page.locator("#seed input").fill("3")
            page.locator("#count input[type=number]").fill("6")
            page.locator("#count input[type=number]").press("Tab")
            z = generate_and_download(page, tmp_path, "class")
            assert "6 images from acgan.breastmnist_28, seed 3" in page.locator("#status").inner_text()
            page.screenshot(path=shots["class"], full_page=True, animations="disabled")
            names = sorted(n for n in z.namelist() if n.startswith("images/"))
            assert names == [f"images/{i:06d}_label1.png" for i in range(6)]
            meta = json.loads(z.read("generation.json"))
            assert meta["model_id"] == ACGAN and meta["seed"] == 3 and meta["labels"] == [1] * 6
            expected = zoo.load(ACGAN).generate(6, labels=1, seed=3)
            assert all(np.array_equal(png(z, n), expected[i, 0].numpy()) for i, n in enumerate(names))

            choose(page, "model", SPADE)
            page.locator("#mask").wait_for(state="visible")
            mask = np.zeros((64, 64), dtype=np.uint8)
            mask[20:44, 16:48] = 255
            from PIL import Image

            Image.fromarray(mask).save(tmp_path / "mask.png")
            page.locator("#mask input[type=file]").set_input_files(str(tmp_path / "mask.png"))
            page.locator("#mask img").first.wait_for(timeout=30_000)
            page.locator("#count input[type=number]").fill("4")
            page.locator("#count input[type=number]").press("Tab")
            z = generate_and_download(page, tmp_path, "mask")
            page.locator("#masks img").first.wait_for(timeout=30_000)
            page.screenshot(path=shots["mask"], full_page=True, animations="disabled")
            names = sorted(z.namelist())
            assert [n for n in names if n.endswith("_mask.png")] == [f"images/{i:06d}_label{i % 2}_mask.png" for i in range(4)]
            assert all(np.array_equal(png(z, n), mask) for n in names if n.endswith("_mask.png"))  # the uploaded mask
            model = zoo.load(SPADE)
            images, _ = model.generate(4, seed=3, masks=torch.from_numpy(mask > 0).float()[None, None].expand(4, -1, -1, -1))
            assert np.array_equal(png(z, "images/000002_label0.png"), images[2, 0].numpy())
        finally:
            browser.close()
    for path in shots.values():
        print(f"screenshot: {path}")
    assert not errors, errors
    assert not outside, outside


def test_app_refuses_models_outside_the_registry(registry_path: Path, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("gradio")
    from medzoo.app import AppError, Generator, class_choices, generators, parse_label

    monkeypatch.setenv("MEDZOO_REGISTRY", str(registry_path))
    assert generators() == [ACGAN, SPADE]
    gen = Generator()
    for bad in ("hf://someone/model", "../../etc/passwd", "dcgan.pneumoniamnist_28"):
        with pytest.raises(AppError, match="is not a generator in the zoo registry"):
            gen.run(bad, None, 0, 1)
    with pytest.raises(AppError, match="count must be between 1 and 64"):
        gen.run(ACGAN, None, 0, 65)
    assert class_choices(ACGAN)[1:] == ["0: malignant", "1: normal or benign"] and parse_label("1: normal or benign") == 1
