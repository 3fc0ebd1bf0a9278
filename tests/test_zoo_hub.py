"""Publish and download through a loopback Hub: pinned revisions, the cache, offline mode, faults and refused files."""
from __future__ import annotations

import json
import pickle
import re
import shutil
import struct
import types
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch
from huggingface_hub import constants, file_download, try_to_load_from_cache
from huggingface_hub.utils import _http
from typer.testing import CliRunner

import zoo
from zoo.hub import MAX_HEADER, IntegrityError, ModelNotAvailableError
from zoo.publish import PublishError, publish
from zoo.registry import entry_from_folder, get, register, sha256_file

from .hub_server import HubServer

pytestmark = pytest.mark.timeout(120)

MODEL = "dcgan.pneumoniamnist_28"
REPO = "medzoo-test/dcgan-pneumoniamnist"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny dcgan trained 1 epoch on 32 real images, exported to <root>/pretrained, registered in models.json."""
    from reproductions.common.export import export_run
    from reproductions.common.train import train

    root = tmp_path_factory.mktemp("hubzoo")
    train("dcgan", "pneumoniamnist", root / "run", epochs=1, limit=32, log_every=100,
          overrides={"batch_size": 8, "g_base": 8, "d_base": 8})
    (folder,) = export_run(root / "run", root / "pretrained")
    assert folder.name == MODEL
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDZOO_REGISTRY", str(root / "models.json"))
        register(entry_from_folder(folder))
    return root


@pytest.fixture()
def hub() -> Iterator[HubServer]:
    """A fresh loopback Hub for one test."""
    with HubServer() as server:
        yield server


@dataclass
class Env:
    """One test's zoo: registry, bundled folder and an empty HF cache, wired to the loopback Hub."""

    root: Path
    hub: HubServer
    monkeypatch: pytest.MonkeyPatch

    @property
    def bundled(self) -> Path:
        return self.root / "pretrained" / MODEL

    @property
    def cache(self) -> Path:
        return Path(constants.HF_HUB_CACHE)

    def go_offline(self) -> None:
        self.monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        self.monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def cached(self, name: str) -> str | None:
        """The cached path of a file at the pinned revision, as huggingface_hub sees it."""
        found = try_to_load_from_cache(get(MODEL).hub_repo, name, revision=get(MODEL).revision)
        return found if isinstance(found, str) else None

    def untrusted(self) -> list[Path]:
        """Files in the cache's blob stores that a later load could pick up without matching the registry."""
        trusted = set(get(MODEL).files.values())
        return [b for b in self.cache.glob("models--*/blobs/*") if b.is_file() and sha256_file(b) not in trusted]

    def plant(self, files: dict[str, bytes], repo_id: str = "medzoo-test/planted", revision: str = "b" * 40) -> None:
        """Put files straight into the HF cache, pin the registry to their sha256, remove the bundled folder."""
        snap = self.cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / revision
        snap.mkdir(parents=True)
        for name, data in files.items():
            (snap / name).write_bytes(data)
        shas = {name: sha256_file(snap / name) for name in files}
        register(replace(get(MODEL), hub_repo=repo_id, revision=revision, files=shas))
        shutil.rmtree(self.bundled)


@pytest.fixture()
def env(built: Path, hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    """A copy of the built zoo; MEDZOO_REGISTRY, HF_HOME and HF_ENDPOINT (and huggingface_hub's import-time copies)."""
    root = tmp_path / "zoo"
    shutil.copytree(built, root, ignore=shutil.ignore_patterns("run"))
    hf_home = tmp_path / "hf"
    monkeypatch.setenv("MEDZOO_REGISTRY", str(root / "models.json"))
    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    for var in ("HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    patched = {"ENDPOINT": hub.url, "HUGGINGFACE_CO_URL_TEMPLATE": hub.url + "/{repo_id}/resolve/{revision}/{filename}",
               "HF_HOME": str(hf_home), "HF_HUB_CACHE": str(hf_home / "hub"), "HF_HUB_OFFLINE": False,
               "HF_TOKEN_PATH": str(hf_home / "token"), "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens")}
    for name, value in patched.items():
        monkeypatch.setattr(constants, name, value)
    return Env(root, hub, monkeypatch)


@pytest.fixture()
def naps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """huggingface_hub's retry back-off, recorded instead of slept."""
    slept: list[float] = []
    fake = types.SimpleNamespace(sleep=slept.append)
    monkeypatch.setattr(file_download, "time", fake)
    monkeypatch.setattr(_http, "time", fake)
    return slept


@dataclass
class Reference:
    """What the bundled model holds, to compare a downloaded one with."""

    state: dict[str, torch.Tensor]
    images: torch.Tensor


def reference(folder: Path) -> Reference:
    """Weights and seeded samples of the model in `folder`."""
    model = zoo.load_folder(folder)
    return Reference({k: v.clone() for k, v in model.state_dict().items()}, model.generate(8, seed=3))


def assert_same(model: torch.nn.Module, ref: Reference) -> None:
    """Bit-identical weights and seeded samples."""
    state = model.state_dict()
    assert state.keys() == ref.state.keys()
    assert all(torch.equal(state[k], ref.state[k]) for k in state)
    assert torch.equal(model.generate(8, seed=3), ref.images)


@pytest.fixture()
def published(env: Env) -> Reference:
    """The model published to the loopback Hub, then its bundled folder removed: only the Hub has it."""
    ref = reference(env.bundled)
    publish(MODEL, REPO)
    shutil.rmtree(env.bundled)
    return ref


def test_publish_pins_the_commit_and_load_downloads_it_into_the_empty_cache(env: Env):
    ref = reference(env.bundled)
    local = {p.name: p.read_bytes() for p in env.bundled.iterdir()}
    revision = publish(MODEL, REPO)
    entry = get(MODEL)
    assert (entry.hub_repo, entry.revision) == (REPO, revision) == (REPO, env.hub.head(REPO))
    assert re.fullmatch("[0-9a-f]{40}", revision)
    served = env.hub.files(REPO, revision)
    assert {k: served[k] for k in local} == local
    shutil.rmtree(env.bundled)
    assert not env.cache.exists()
    before = len(env.hub.requests)
    model = zoo.load(MODEL)
    assert_same(model, ref)
    folder = Path(env.cached("model.safetensors")).parent
    assert folder == env.cache / f"models--{REPO.replace('/', '--')}" / "snapshots" / revision
    assert [m for m, _ in env.hub.requests[before:]] == ["HEAD", "GET"] * 3


def test_republishing_unchanged_files_keeps_the_revision(env: Env):
    first = publish(MODEL, REPO)
    assert publish(MODEL, REPO) == first and len(env.hub.repos[REPO].commits) == 2  # .gitattributes commit + ours


def test_second_load_is_served_from_the_cache_offline(env: Env, published: Reference):
    zoo.load(MODEL)
    env.go_offline()
    before = len(env.hub.requests)
    assert_same(zoo.load(MODEL), published)
    assert len(env.hub.requests) == before


def test_offline_with_an_empty_cache_says_what_is_missing_and_how_to_get_it(env: Env, published: Reference):
    env.go_offline()
    before = len(env.hub.requests)
    with pytest.raises(ModelNotAvailableError) as e:
        zoo.load(MODEL)
    msg = str(e.value)
    assert MODEL in msg and REPO in msg and "HF_HUB_OFFLINE" in msg
    assert f"hf download {REPO} --revision {get(MODEL).revision}" in msg
    assert len(env.hub.requests) == before


def test_a_revision_the_hub_lacks_is_a_clear_error(env: Env, published: Reference):
    with pytest.raises(ModelNotAvailableError, match="not the pinned revision"):
        zoo.load(MODEL, revision="c" * 40)
    register(replace(get(MODEL), revision="d" * 40))
    with pytest.raises(ModelNotAvailableError) as e:
        zoo.load(MODEL)
    assert MODEL in str(e.value) and REPO in str(e.value) and f"no revision {'d' * 40}" in str(e.value)
    register(replace(get(MODEL), hub_repo="medzoo-test/no-such-repo"))
    with pytest.raises(ModelNotAvailableError, match="medzoo-test/no-such-repo was not found"):
        zoo.load(MODEL)


def test_a_file_missing_from_the_pinned_commit_is_named(env: Env, published: Reference):
    del env.hub.repos[REPO].commits[get(MODEL).revision]["README.md"]
    with pytest.raises(ModelNotAvailableError, match=f"{MODEL}.*{REPO} at revision .* has no README.md"):
        zoo.load(MODEL)


def test_http_500_twice_then_ok_is_retried(env: Env, published: Reference, naps: list[float]):
    env.hub.faults.errors = 2
    assert_same(zoo.load(MODEL), published)
    assert env.hub.errors_sent == 2 and naps  # huggingface_hub backed off and asked again


def test_http_500_that_persists_is_a_clear_error(env: Env, published: Reference, naps: list[float]):
    env.hub.faults.errors = 100
    with pytest.raises(ModelNotAvailableError) as e:
        zoo.load(MODEL)
    assert MODEL in str(e.value) and REPO in str(e.value) and "HF_ENDPOINT" in str(e.value)
    assert 2 <= env.hub.errors_sent < 100


def test_truncated_download_leaves_nothing_trusted_in_the_cache(env: Env, published: Reference, naps: list[float]):
    env.hub.faults.truncate = 100
    with pytest.raises(ModelNotAvailableError, match="could not download config.json"):
        zoo.load(MODEL)
    assert env.hub.faults.truncate < 100
    assert env.cached("config.json") is None and not env.untrusted()
    assert not list(env.cache.rglob("*.incomplete"))
    env.hub.faults.truncate = 0
    assert_same(zoo.load(MODEL), published)


def test_one_truncated_body_is_resumed(env: Env, published: Reference, naps: list[float]):
    env.hub.faults.truncate = 1
    assert_same(zoo.load(MODEL), published)
    assert env.hub.faults.truncate == 0


def test_tampered_download_is_refused_and_dropped(env: Env, published: Reference):
    env.hub.faults.tamper = {"model.safetensors"}
    with pytest.raises(IntegrityError, match="model.safetensors: sha256 .* does not match the registry"):
        zoo.load(MODEL)
    assert env.cached("model.safetensors") is None and not env.untrusted()
    env.hub.faults.tamper = set()
    assert_same(zoo.load(MODEL), published)


def test_a_cached_file_corrupted_later_is_dropped_and_downloaded_again(env: Env, published: Reference):
    zoo.load(MODEL)
    blob = Path(env.cached("model.safetensors")).resolve()
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="cached"):
        zoo.load(MODEL)
    assert env.cached("model.safetensors") is None and not blob.exists()
    assert_same(zoo.load(MODEL), published)


def _touch_payload(marker: Path) -> bytes:
    """A pickle that creates `marker` when unpickled."""

    class Touch:
        def __reduce__(self):
            return (Path.touch, (marker,))

    return pickle.dumps(Touch())


def _forbid_weight_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("weights were read although the file should have been refused first")

    monkeypatch.setattr("safetensors.torch.load_file", fail)
    monkeypatch.setattr(torch, "load", fail)


def test_a_pickle_renamed_model_safetensors_is_refused_before_torch_reads_it(env: Env, tmp_path: Path):
    probe, marker = tmp_path / "probe", tmp_path / "marker"
    pickle.loads(_touch_payload(probe))
    assert probe.exists()  # the payload is live: unpickling it would run code
    env.plant({"config.json": (env.bundled / "config.json").read_bytes(),
               "README.md": (env.bundled / "README.md").read_bytes(),
               "model.safetensors": _touch_payload(marker)})
    _forbid_weight_loading(env.monkeypatch)
    with pytest.raises(IntegrityError, match="refused"):
        zoo.load(MODEL)
    assert not marker.exists()
    assert not env.hub.requests  # everything came from the cache


@pytest.mark.parametrize("claimed", [MAX_HEADER + 1, 1 << 40])
def test_an_oversized_safetensors_header_is_refused(env: Env, claimed: int):
    weights = env.root / "big.safetensors"
    with open(weights, "wb") as f:  # sparse: a header length the file could hold, but more than MAX_HEADER
        f.write(struct.pack("<Q", claimed) + b"{")
        f.truncate(MAX_HEADER + 64)
    env.plant({"config.json": (env.bundled / "config.json").read_bytes(),
               "README.md": (env.bundled / "README.md").read_bytes(),
               "model.safetensors": weights.read_bytes()})
    _forbid_weight_loading(env.monkeypatch)
    with pytest.raises(IntegrityError, match=f"header claims {claimed} bytes"):
        zoo.load(MODEL)


def test_publish_refuses_what_the_hub_serves_wrong_and_keeps_the_registry(env: Env):
    before = get(MODEL)
    env.hub.faults.tamper = {"config.json"}
    with pytest.raises(IntegrityError) as e:
        publish(MODEL, REPO)
    assert MODEL in str(e.value) and REPO in str(e.value) and "config.json" in str(e.value)
    assert get(MODEL) == before


def test_publish_errors_name_the_model_and_the_repo(env: Env):
    with HubServer() as gone:
        url = gone.url
    with pytest.raises(PublishError) as e:
        publish(MODEL, REPO, endpoint=url)  # nothing listens there any more
    assert MODEL in str(e.value) and f"{url}/{REPO}" in str(e.value) and "ConnectError" in str(e.value)
    shutil.rmtree(env.bundled)
    with pytest.raises(PublishError, match=f"'{MODEL}' to .*{REPO}.*lacks config.json"):
        publish(MODEL, REPO)
    assert get(MODEL).revision is None


def test_cli_publish_prints_the_commit_and_sends_the_token(env: Env):
    from zoo.cli import app

    env.hub.token = "hf_test_token"
    runner = CliRunner()
    denied = runner.invoke(app, ["publish", MODEL, "--repo", REPO])
    assert denied.exit_code == 2 and "could not publish" in denied.output and get(MODEL).revision is None
    ok = runner.invoke(app, ["publish", MODEL, "--repo", REPO, "--endpoint", env.hub.url, "--token", "hf_test_token"])
    assert ok.exit_code == 0, ok.output
    assert f"at commit {env.hub.head(REPO)}" in ok.output and get(MODEL).revision == env.hub.head(REPO)
    assert json.loads((env.root / "models.json").read_text())[MODEL]["hub_repo"] == REPO


# --- zoo.load("hf://OWNER/REPO", revision=COMMIT): any repo in the medzoo layout, checked against the Hub's hashes

from zoo.hub import UnpinnedRevisionError, hashes_path  # noqa: E402


@pytest.fixture()
def hf_env(env: Env, tmp_path: Path) -> Env:
    """`env` with medzoo's own cache (the Hub's recorded hashes per commit) in the test's folder."""
    env.monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return env


def test_hf_repo_loads_pinned_to_a_commit_checked_against_the_hub_hashes(hf_env: Env, published: Reference):
    commit = get(MODEL).revision
    register(replace(get(MODEL), hub_repo="medzoo-test/elsewhere", revision=None))  # the registry plays no part
    before = len(hf_env.hub.requests)
    model = zoo.load(f"hf://{REPO}", revision=commit)
    assert_same(model, published)
    assert ("POST", f"/api/models/{REPO}/paths-info/{commit}") in hf_env.hub.requests[before:]
    record = json.loads(hashes_path(REPO, commit).read_text())
    served = hf_env.hub.files(REPO, commit)
    assert record["model.safetensors"] == ["sha256", sha256_file_bytes(served["model.safetensors"])]  # the LFS sha256
    assert record["config.json"][0] == "git-sha1"  # a small regular file: its git blob id
    hf_env.go_offline()  # a commit never changes: the cached files are checked against the kept hashes
    before = len(hf_env.hub.requests)
    assert_same(zoo.load(f"hf://{REPO}", revision=commit), published)
    assert len(hf_env.hub.requests) == before


def sha256_file_bytes(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_hf_repo_without_a_commit_is_refused_unless_trusted(hf_env: Env, published: Reference):
    before = len(hf_env.hub.requests)
    for revision in (None, "main"):
        with pytest.raises(UnpinnedRevisionError, match=rf"hf://{REPO}: revision .* is not a commit.*trust_unpinned=True"):
            zoo.load(f"hf://{REPO}", revision=revision)
    assert len(hf_env.hub.requests) == before  # refused before any request
    assert_same(zoo.load(f"hf://{REPO}", trust_unpinned=True), published)  # the branch's current commit, still checked
    assert hashes_path(REPO, hf_env.hub.head(REPO)).is_file()


def test_hf_repo_file_that_differs_from_the_hub_hash_is_refused_and_dropped(hf_env: Env, published: Reference):
    commit = get(MODEL).revision
    hf_env.hub.faults.tamper = {"config.json"}
    with pytest.raises(IntegrityError, match=r"downloaded hf://.*config.json: git-sha1 .* does not match .* the Hub records"):
        zoo.load(f"hf://{REPO}", revision=commit)
    assert hf_env.cached("config.json") is None and not hf_env.untrusted()
    hf_env.hub.faults.tamper = {"model.safetensors"}
    with pytest.raises(IntegrityError, match=r"model.safetensors: sha256 .* does not match"):
        zoo.load(f"hf://{REPO}", revision=commit)
    assert hf_env.cached("model.safetensors") is None and not hf_env.untrusted()
    hf_env.hub.faults.tamper = set()
    assert_same(zoo.load(f"hf://{REPO}", revision=commit), published)


def test_hf_repo_errors_are_one_clear_line(hf_env: Env, published: Reference):
    from zoo.errors import InputError

    for bad in ("hf://../etc", "hf://only-one-part", "hf://a/b/c", "hf://owner/repo?x=1"):
        with pytest.raises(InputError, match="is not a Hub model repo"):
            zoo.load(bad, revision="a" * 40)
    with pytest.raises(ModelNotAvailableError, match="medzoo-test/missing.*not found"):
        zoo.load("hf://medzoo-test/missing", revision="a" * 40)
    with pytest.raises(ModelNotAvailableError, match="no such revision"):
        zoo.load(f"hf://{REPO}", revision="a" * 40)
    first = hf_env.hub.repos[REPO].commits[hf_env.hub.repos[REPO].branches["main"]]
    assert "config.json" in first
    gitattributes_only = next(oid for oid, files in hf_env.hub.repos[REPO].commits.items() if "config.json" not in files)
    with pytest.raises(ModelNotAvailableError, match=r"is not a medzoo model repo: it has no config.json"):
        zoo.load(f"hf://{REPO}", revision=gitattributes_only)
    hf_env.go_offline()
    with pytest.raises(ModelNotAvailableError, match="never fetched and HF_HUB_OFFLINE is set"):
        zoo.load(f"hf://{REPO}", revision=get(MODEL).revision)


def test_cli_publish_prints_the_hf_load_line_that_works(hf_env: Env):
    from zoo.cli import app

    ok = CliRunner().invoke(app, ["publish", MODEL, "--repo", REPO])
    assert ok.exit_code == 0, ok.output
    line = f'zoo.load("hf://{REPO}", revision="{hf_env.hub.head(REPO)}")'
    assert line in ok.output
    ref = reference(hf_env.bundled)
    shutil.rmtree(hf_env.bundled)
    assert_same(eval(line, {"zoo": zoo}), ref)  # noqa: S307 - the printed line, as a user pastes it
