"""Shared fixtures: a small fixture catalog, the real catalog built once, and a PostgreSQL server on loopback."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from catalog.vocab import DATA_DIR

REPO = Path(__file__).resolve().parents[1]
# the user's own catalog records and fetched models (catalog/sources.py: user_data_root): an empty folder of this run,
# so no test reads or writes the developer's own, and builds see the curated records only unless a test adds some
os.environ["MEDZOO_USER_DATA"] = tempfile.mkdtemp(prefix="medzoo-test-user-")
SRC = "https://example.org/test-fixture"  # fixture records are test data, never catalog content

# Fixture papers: invented test data with known tags, so query results can be asserted exactly.
FIXTURE_PAPERS = [
    {"key": "fixture-a", "kind": "primary", "title": "Fixture A: CycleGAN liver CT translation for augmentation",
     "authors": ["Ada Fixture", "Bob Fixture"], "year": 2019, "venue": "Fixture Journal", "doi": "10.9999/fixture.a",
     "abstract": "Unpaired cycle-consistent translation of liver CT images improves lesion classification.",
     "organs": ["liver"], "modalities": ["CT"], "tasks": ["image-translation"], "architectures": ["cyclegan"],
     "losses": ["cycle-consistency", "adversarial-bce"], "metrics": ["fid", "accuracy"], "datasets": ["fixture-set"],
     "effects": ["accuracy 80% -> 85%"]},
    {"key": "fixture-b", "kind": "primary", "title": "Fixture B: Wasserstein GAN chest X-ray synthesis",
     "authors": ["Cleo Fixture"], "year": 2020, "venue": "Fixture Conference", "doi": "10.9999/fixture.b",
     "abstract": "A WGAN-GP synthesises chest radiographs of pneumonia for data augmentation.",
     "organs": ["thorax"], "modalities": ["x-ray"], "tasks": ["unconditional-synthesis"], "architectures": ["wgan-gp"],
     "losses": ["wasserstein", "gradient-penalty"], "metrics": ["fid", "kid"],
     "relations": [{"type": "similar", "target": "10.9999/fixture.a"}]},
    {"key": "fixture-c", "kind": "primary", "title": "Fixture C: StyleGAN2-ADA brain MR synthesis with few images",
     "authors": ["Dan Fixture"], "year": 2021, "venue": "Fixture Journal", "doi": "10.9999/fixture.c",
     "abstract": "Adaptive discriminator augmentation lets a StyleGAN2 learn brain MRI from a small dataset.",
     "organs": ["brain"], "modalities": ["MR"], "tasks": ["unconditional-synthesis"], "architectures": ["stylegan2-ada"],
     "losses": ["adversarial-bce"], "metrics": ["fid"],
     "relations": [{"type": "cites", "target": "10.9999/fixture.b"}]},
    {"key": "fixture-d", "kind": "review", "title": "Fixture D: a review of generative augmentation",
     "year": 2022, "doi": "", "url": "https://example.org/fixture-d"},
]
FIXTURE_DATASET = {"slug": "fixture-set", "name": "Fixture set", "organ": "liver", "modality": "ct", "n_images": 10,
                   "classes": ["a", "b"], "license": "CC0"}


def _with_sources(rec: dict, id_field: str) -> dict:
    fields = [k for k, v in rec.items() if v and k not in ("key", "kind", id_field)]
    return {**rec, "sources": [{"url": SRC, "checked": "2026-11-25", "fields": fields}]}


def write_fixture_catalog(root: Path) -> Path:
    """A data dir with the real vocabularies and the fixture records."""
    shutil.copytree(DATA_DIR / "vocab", root / "vocab")
    (root / "papers").mkdir()
    (root / "datasets").mkdir()
    for rec in FIXTURE_PAPERS:
        (root / "papers" / f"{rec['key']}.yaml").write_text(yaml.safe_dump(_with_sources(rec, "key"), sort_keys=False))
    (root / "datasets" / "fixture-set.yaml").write_text(yaml.safe_dump({**_with_sources(FIXTURE_DATASET, "slug"),
                                                                        "slug": "fixture-set"}, sort_keys=False))
    return root


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module (pytestmark usefixtures): on a shared 2-core machine two threads run small models
    several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def fixture_data(tmp_path: Path) -> Path:
    """A fresh, writable fixture data dir for tests that edit records."""
    return write_fixture_catalog(tmp_path / "data")


@pytest.fixture(scope="session")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fixture catalog built into SQLite once."""
    from catalog.builder import build

    root = tmp_path_factory.mktemp("fixture")
    data = write_fixture_catalog(root / "data")
    db = str(root / "fixture.db")
    build(db, data)
    return db


@pytest.fixture(scope="session")
def real_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The real curated catalog built into SQLite once."""
    from catalog.builder import build

    db = str(tmp_path_factory.mktemp("real") / "catalog.db")
    build(db)
    return db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A throw-away PostgreSQL server on loopback, from Debian's postgresql package."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        if os.environ.get("MEDZOO_REQUIRE_PG"):
            pytest.fail("PostgreSQL is required (MEDZOO_REQUIRE_PG=1) but /usr/lib/postgresql/*/bin/initdb is missing")
        pytest.skip("PostgreSQL not installed (apt-get install postgresql; .ci/run does this)")
    bindir = Path(bins[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="medzoo-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run([*as_user, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                    f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
                   check=True, capture_output=True)
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_zoo_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Registry file of tiny real-data models (dcgan, acgan, pix2pix), built once per session."""
    from .zoo_fixtures import build_tiny_zoo

    return build_tiny_zoo(tmp_path_factory.mktemp("zoo"))


@pytest.fixture()
def tiny_zoo(tiny_zoo_registry: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the zoo at the tiny registry for one test."""
    monkeypatch.setenv("MEDZOO_REGISTRY", str(tiny_zoo_registry))
    return tiny_zoo_registry
