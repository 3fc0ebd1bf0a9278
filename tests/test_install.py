"""Install like a user (issue 18): build the sdist and the wheel from a clean copy of the repository, install the wheel
into a fresh virtual environment, and run the README's examples from a folder outside the repository.

The fresh environment sees the test environment's dependencies through a .pth line (pip runs with --no-deps
--no-index: no network), but not its editable medzoo: `zoo.__file__` must lie in the fresh site-packages.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from zoo.registry import BUNDLE_BUDGET, BUNDLE_MAX_BYTES, MODEL_FILES, bundle_rule, entries

REPO = Path(__file__).resolve().parents[1]
PYPI_LIMIT = 100 * 1024 * 1024  # PyPI's default upload limit per file
BUNDLED = "dcgan.pneumoniamnist_28"
REFS = """@article{zebra,
  title = {Zebrafinch syrinx MRI synthesis with a conditional diffusion model},
  author = {Doe, Jane and Roe, Rick},
  journal = {Journal of Invented Imaging},
  year = {2025},
  doi = {10.9999/medzoo-install.zebrafinch}
}
@article{survey,
  title = {Generative models for zebrafinch imaging: a systematic review},
  author = {Poe, Pat},
  year = {2024},
  doi = {10.9999/medzoo-install.review}
}
@article{known,
  title = {Generative Adversarial Networks in Medical Image augmentation: A review},
  author = {Chen, Yizhou},
  journal = {Somewhere Else},
  year = {2022},
  doi = {10.1016/j.compbiomed.2022.105382}
}
"""


@dataclass
class Installed:
    """The built artefacts and the fresh environment the wheel was installed into."""

    sdist: Path
    wheel: Path
    python: Path
    site: Path
    home: Path
    outside: Path
    env: dict[str, str]

    def run(self, *args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(args, cwd=self.outside, env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=300)
        if check and proc.returncode:
            raise AssertionError(f"{' '.join(args)} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        return proc

    def medzoo(self, *args: str, **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
        return self.run(str(self.python.parent / "medzoo"), *args, **kw)


def _clean_copy(dest: Path) -> Path:
    """What a clean clone holds (tracked and untracked, not ignored files): no build outputs, no .egg-info."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                                capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an unpacked archive): copy minus outputs
        shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "site", "runs", "checkpoints", "test-artifacts", "*.egg-info",
            "__pycache__", "*.db", ".pytest_cache", "demo-output"))
        return dest
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _seed_embedding_cache(folder: Path) -> None:
    """Copy this environment's sentence-embedding cache (vectors by sha256 of the text; catalog/embed.py) into the fresh
    home, so the installed catalog's first build does not embed every curated paper again (a minute on two busy cores,
    which tests/test_catalog_embed.py and the real catalog fixture already spend). Papers it lacks are embedded."""
    from catalog.builder import embed_text
    from catalog.embed import _cache_path, embed
    from catalog.records import load_corpus

    embed([embed_text(p) for p in load_corpus().papers])  # warms the shared cache (the real_db fixture reuses it)
    folder.mkdir(parents=True)
    shutil.copy2(_cache_path(), folder / _cache_path().name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("install")
    src = _clean_copy(root / "src")
    dist = root / "dist"  # `python -m build` builds the sdist, then the wheel from the unpacked sdist
    proc = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,), (wheel,) = dist.glob("*.tar.gz"), dist.glob("*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    fresh = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies, from this environment's site-packages (its .pth files, the editable medzoo, are not run)
    (fresh / "_medzoo_test_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--no-compile", "--quiet", str(wheel)], check=True, capture_output=True, timeout=300)
    home, outside = root / "home", root / "elsewhere"
    home.mkdir()
    outside.mkdir()
    _seed_embedding_cache(home / ".cache" / "medzoo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDZOO_", "XDG_", "HF_", "PYTHON"))}
    env |= {"HOME": str(home), "HF_HOME": str(home / "hf"), "HF_HUB_OFFLINE": "1", "PATH": f"{venv / 'bin'}:{env['PATH']}",
            "COLUMNS": "200"}
    return Installed(sdist, wheel, python, fresh, home, outside, env)


def test_registry_follows_the_size_rule():
    """Every model is bundled exactly when its weights are at most BUNDLE_MAX_BYTES, and the bundled folders fit the
    wheel's budget (the checkout holds every folder; the wheel only the bundled ones)."""
    total = 0
    for model_id, e in entries().items():
        folder = REPO / "zoo" / "pretrained" / model_id
        assert e.bundled == bundle_rule(folder), (f"{model_id}: bundled={e.bundled}, but its model.safetensors is "
                                                  f"{(folder / 'model.safetensors').stat().st_size} bytes (limit "
                                                  f"{BUNDLE_MAX_BYTES}); register it again (zoo.registry.entry_from_folder)")
        total += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) if e.bundled else 0  # every file the wheel ships
    assert total < BUNDLE_BUDGET, f"bundled model folders take {total} bytes, over the {BUNDLE_BUDGET}-byte budget"


def test_readme_says_which_models_are_bundled():
    """The README's table under "Installing" has one row per registered model saying where a wheel install gets it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Installing"):text.index("\n## ", text.index("## Installing") + 1)]
    rows = {m.group(1): m.group(2).strip() for m in re.finditer(r"^\| `([^`]+)` \| [^|]+ \| ([^|]+) \|$", section, re.M)}
    want = {i: "bundled" if e.bundled else f"Hub: `{e.hub_repo}`" for i, e in entries().items()}
    assert rows == want, ("README.md, section Installing: the model table differs from zoo/models.json; one row per "
                          "model: | `id` | N MB | bundled | or | `id` | N MB | Hub: `org/repo` |")


def test_sdist_and_wheel_carry_what_the_package_needs(installed: Installed):
    assert installed.wheel.stat().st_size < PYPI_LIMIT and installed.sdist.stat().st_size < PYPI_LIMIT
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    registry = entries()
    assert "zoo/models.json" in names
    folders = {n.split("/")[2] for n in names if n.startswith("zoo/pretrained/")}
    assert folders == {i for i, e in registry.items() if e.bundled}  # no Hub-resolved, no unregistered folder
    for model_id, e in registry.items():
        shipped = {f"zoo/pretrained/{model_id}/{f}" for f in MODEL_FILES}
        assert (shipped <= names) if e.bundled else not (shipped & names), model_id
    curated = {str(p.relative_to(REPO)) for p in (REPO / "catalog" / "data").rglob("*.yaml")}
    assert curated <= names and "catalog/data/README.md" in names
    assert {"reproductions/results/evaluations.jsonl", "reproductions/results/utility.jsonl"} <= names
    info = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = zipfile.ZipFile(installed.wheel).read(info).decode()
    for field in ("License-Expression: MIT", "Requires-Python: >=3.10", "Project-URL: ", "Summary: ",
                  "Classifier: Programming Language :: Python :: 3.10", "Description-Content-Type: text/markdown"):
        assert field in meta, field
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    entry_points = zipfile.ZipFile(installed.wheel).read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "medzoo = medzoo.cli:main" in entry_points
    with tarfile.open(installed.sdist) as tar:
        members = {m.split("/", 1)[1] for m in tar.getnames() if "/" in m}
    assert {"pyproject.toml", "setup.py", "LICENSE", "README.md", "zoo/models.json"} <= members
    assert not any(m.startswith(f"zoo/pretrained/{i}/") for i, e in registry.items() if not e.bundled for m in members)


API = r"""
import json, sqlite3, sys
from pathlib import Path

import catalog, zoo, reproductions
from catalog.db import default_path
from zoo.hub import ModelNotAvailableError

site = Path(sys.argv[1])
for mod in (catalog, zoo, reproductions):
    assert Path(mod.__file__).resolve().is_relative_to(site), mod.__file__
chest = catalog.papers(organ="chest", modality="x-ray")
by_organ = catalog.stats(by="organ")
models = zoo.list_models()
images = zoo.load(sys.argv[2]).generate(4, seed=0)
with sqlite3.connect(default_path()) as con:
    evaluations = con.execute("SELECT count(*) FROM evaluation").fetchone()[0]
missing = {}
for model_id in models[~models.bundled].model_id:
    try:
        zoo.load(model_id)
    except ModelNotAvailableError as e:
        missing[model_id] = str(e)
print(json.dumps({"chest": len(chest), "organs": by_organ.set_index("organ").papers.to_dict(),
                  "models": models.model_id.tolist(), "shape": list(images.shape), "dtype": str(images.dtype),
                  "evaluations": evaluations, "missing": missing}))
"""


def test_python_api_from_the_wheel(installed: Installed):
    got = json.loads(installed.run(str(installed.python), "-c", API, str(installed.site), BUNDLED).stdout)
    registry = entries()
    assert got["chest"] >= 5 and got["organs"]["lung"] >= 20
    assert got["models"] == sorted(registry) and got["shape"] == [4, 1, 28, 28] and got["dtype"] == "torch.uint8"
    shipped_rows = [line for line in (REPO / "reproductions" / "results" / "evaluations.jsonl").read_text().splitlines()
                    if line.strip()]
    assert got["evaluations"] == len(shipped_rows) > 0  # the measured results reached the installed catalog
    not_bundled = {i for i, e in registry.items() if not e.bundled}
    assert set(got["missing"]) == not_bundled
    for model_id, msg in got["missing"].items():  # one line naming the model, its repo and how to fetch it
        assert "\n" not in msg and model_id in msg and registry[model_id].hub_repo in msg
        if registry[model_id].revision:
            assert f"hf download {registry[model_id].hub_repo} --revision {registry[model_id].revision} --local-dir" in msg


def test_medzoo_command_from_the_wheel(installed: Installed):
    papers = installed.medzoo("papers", "--organ", "chest", "--modality", "x-ray", "--format", "csv").stdout
    assert papers.startswith("key,title") and len(papers.splitlines()) >= 6
    models = installed.medzoo("models", "--format", "json").stdout
    assert {m["model_id"] for m in json.loads(models)} == set(entries())
    out = installed.outside / "generated"
    installed.medzoo("generate", BUNDLED, "-n", "4", "--seed", "0", "--out", str(out), "--grid", "grid.png")
    assert len(list(out.glob("0*.png"))) == 4 and (out / "grid.png").is_file()


def test_catalog_import_goes_to_the_user_layer_and_is_searchable(installed: Installed):
    package_data = installed.site / "catalog" / "data"
    before = sorted(p.relative_to(package_data) for p in package_data.rglob("*"))
    (installed.outside / "refs.bib").write_text(REFS)
    imported = installed.medzoo("catalog", "import", "refs.bib").stdout
    user = installed.home / ".local" / "share" / "medzoo" / "catalog" / "papers"  # the platform's user-data folder
    added = sorted(p.stem for p in user.glob("*.yaml"))
    assert len(added) == 2 and all(f"+ {k}" in imported for k in added)
    assert "(review)" in imported and "not changed" in imported and "built " in imported
    assert sorted(p.relative_to(package_data) for p in package_data.rglob("*")) == before  # the package is untouched
    found = json.loads(installed.medzoo("search", "zebrafinch syrinx", "--format", "json").stdout)
    assert found and found[0]["doi"] == "10.9999/medzoo-install.zebrafinch" and found[0]["origin"] == "user"
    assert found[0]["kind"] == "related"
    review = json.loads(installed.medzoo("papers", "--kind", "review", "--format", "json").stdout)
    assert "10.9999/medzoo-install.review" in {p["doi"] for p in review}
