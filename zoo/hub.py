"""Find a model's files: bundled folder, the user's local models folder, the Hugging Face cache, then a
pinned-revision download; verify each."""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from pathlib import Path
from typing import Any, Callable

from zoo.errors import InputError
from zoo.registry import BUNDLE_MAX_BYTES, MODEL_FILES, ModelEntry, local_models_dir, pretrained_dir, sha256_file

MAX_HEADER = 16 * 1024 * 1024  # a safetensors header larger than this is refused before it is parsed


class IntegrityError(ValueError):
    """A model file that does not match the registry's sha256, or that is not a sane safetensors file."""


class ModelNotAvailableError(FileNotFoundError):
    """The model's files are neither bundled nor cached, and cannot be downloaded."""


def offline() -> bool:
    """True when HF_HUB_OFFLINE asks for no network."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def verify(path: Path, expected: str, what: str) -> None:
    """Refuse a file whose sha256 differs from the registry's."""
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(f"{what}: sha256 {actual} does not match the registry's {expected}; the file is corrupt "
                             "or was replaced, so it is not used")


def check_safetensors(path: Path) -> None:
    """Refuse files that are not safetensors (a pickle renamed, a truncated file, an oversized header)."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise IntegrityError(f"{path}: {size} bytes is too short to be a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER or n > size - 8:
            raise IntegrityError(f"{path}: safetensors header claims {n} bytes (file has {size}); refused")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise IntegrityError(f"{path}: not a safetensors file (no JSON header); refused without reading it") from None
    if not isinstance(header, dict):
        raise IntegrityError(f"{path}: safetensors header is not a JSON object")
    end = max([0] + [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"])
    if 8 + n + end != size:
        raise IntegrityError(f"{path}: safetensors data should end at byte {8 + n + end}, file has {size} (truncated?)")


def _drop_cached(path: Path) -> None:
    """Remove a bad file from the HF cache (the snapshot link and the blob it points to)."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    if blob != path:
        blob.unlink(missing_ok=True)


def _folder(entry: ModelEntry, folder: Path, what: str) -> Path | None:
    """`folder` when it holds every file of the model, each verified; None when a file is missing."""
    if not all((folder / f).is_file() for f in MODEL_FILES):
        return None
    for f in MODEL_FILES:
        verify(folder / f, entry.files[f], f"{what} {entry.model_id}/{f}")
    return folder


def _bundled(entry: ModelEntry) -> Path | None:
    return _folder(entry, pretrained_dir() / entry.model_id, "bundled")


def fetch_command(entry: ModelEntry, revision: str | None = None) -> str:
    """The `hf download` command that puts the model's files where zoo.load looks (the local models folder)."""
    rev = revision or entry.revision or "<commit>"
    return f"hf download {entry.hub_repo} --revision {rev} --local-dir {local_models_dir() / entry.model_id}"


def _not_here(entry: ModelEntry) -> str:
    """Why the model has no local files, and where medzoo looked (for one-line errors)."""
    if entry.bundled:
        why = f"its bundled folder {pretrained_dir() / entry.model_id} is missing or incomplete"
    else:
        why = (f"it is not bundled with this installation (models over {BUNDLE_MAX_BYTES // 2**20} MB resolve "
               "through the Hugging Face Hub)")
    return f"model {entry.model_id!r}: {why}, and it is neither in {local_models_dir() / entry.model_id} nor in the " \
           f"Hugging Face cache ({cache_dir()})"


def _download(entry: ModelEntry, name: str, revision: str) -> Path:
    """One file of the pinned revision, downloaded into the HF cache; ModelNotAvailableError saying why not."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

    where = f"model {entry.model_id!r}: {entry.hub_repo}"
    try:
        return Path(hf_hub_download(entry.hub_repo, name, revision=revision))
    except RepositoryNotFoundError:
        raise ModelNotAvailableError(f"{where} was not found on {constants.ENDPOINT} (or it is private and no token "
                                     "is set); check hub_repo in the registry") from None
    except RevisionNotFoundError:
        raise ModelNotAvailableError(f"{where} has no revision {revision} on {constants.ENDPOINT}; the registry pins a "
                                     "commit the Hub does not have, so publish the model again") from None
    except RemoteEntryNotFoundError:
        raise ModelNotAvailableError(f"{where} at revision {revision} has no {name} on {constants.ENDPOINT}") from None
    except Exception as e:  # the HTTP client's transport errors share no base class with OSError
        raise ModelNotAvailableError(
            f"{where}: could not download {name} at revision {revision} from {constants.ENDPOINT} "
            f"({type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}). Check the network or HF_ENDPOINT, or "
            f"fetch it where the network allows with `{fetch_command(entry, revision)}`.") from e


def _cached_file(repo: str, name: str, revision: str) -> Path | None:
    """A file of `repo` at `revision` in the Hugging Face cache (its documented layout: models--org--name/refs,
    snapshots/<commit>/<file>), found without importing huggingface_hub's download stack (~0.25 s, bench/loading.py)."""
    repo_dir = Path(cache_dir()) / ("models--" + repo.replace("/", "--"))
    ref = repo_dir / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    path = repo_dir / "snapshots" / commit / name
    return path if path.is_file() else None


def _from_hub(entry: ModelEntry, revision: str) -> Path:
    """Files from the HF cache when present, else downloaded at the pinned revision; each verified."""
    paths = []
    for name in MODEL_FILES:
        cached = _cached_file(entry.hub_repo, name, revision)
        if cached is not None:
            path, what = cached, "cached"
        elif offline():
            raise ModelNotAvailableError(
                f"{_not_here(entry)}, and HF_HUB_OFFLINE is set. Fetch it from {entry.hub_repo} with "
                f"`{fetch_command(entry, revision)}`, or unset HF_HUB_OFFLINE to download it at revision {revision}.")
        else:
            path, what = _download(entry, name, revision), "downloaded"
        try:
            verify(path, entry.files[name], f"{what} {entry.hub_repo}@{revision[:12]}/{name}")
        except IntegrityError:
            _drop_cached(path)
            raise
        paths.append(path)
    folder = paths[0].parent
    if any(p.parent != folder for p in paths):
        raise IntegrityError(f"{entry.hub_repo}: files of one revision landed in different snapshot folders")
    return folder


def cache_dir() -> str:
    """The Hugging Face hub cache in use (honours HF_HOME and HF_HUB_CACHE)."""
    from huggingface_hub import constants  # the constants module alone: the package imports lazily

    return str(constants.HF_HUB_CACHE)


def resolve(entry: ModelEntry, revision: str | None = None) -> Path:
    """A folder holding the model's verified files: bundled, else in the local models folder, else cached, else
    downloaded at the pinned revision."""
    if revision is not None and revision != entry.revision:
        raise ModelNotAvailableError(
            f"revision {revision!r} of {entry.model_id} is not the pinned revision {entry.revision!r}: medzoo loads only "
            "files whose sha256 the registry records")
    folder = _bundled(entry) or _folder(entry, local_models_dir() / entry.model_id, "local")
    if folder is not None:
        return folder
    if not entry.revision:
        raise ModelNotAvailableError(
            f"{_not_here(entry)}; its Hub repo {entry.hub_repo} has no pinned revision yet (the model is not published), "
            f"so nothing can be downloaded: use a source checkout of medzoo (zoo/pretrained/{entry.model_id}), or train "
            f"and export it with `medzoo train`; once `medzoo publish` pins a commit, `{fetch_command(entry)}` fetches it.")
    return _from_hub(entry, entry.revision)


# --- Any Hub repo in the medzoo layout, by id: zoo.load("hf://OWNER/REPO", revision=COMMIT) ----------------------

HF_PREFIX = "hf://"
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
REPO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}$")


class UnpinnedRevisionError(InputError):
    """A Hub repo asked for without a commit: its files could change under the same name."""


def git_blob_sha1(path: Path) -> str:
    """The git object id of a file (sha1 of 'blob <size>\\0' + bytes): what the Hub records for a non-LFS file."""
    h = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hub_repo_id(model: str) -> str:
    """OWNER/REPO of an 'hf://OWNER/REPO' string; InputError for anything else (paths, URLs, '..')."""
    repo = model[len(HF_PREFIX):] if model.startswith(HF_PREFIX) else model
    if not REPO_RE.match(repo) or ".." in repo or repo.endswith((".", "-")):
        raise InputError(f"{model!r} is not a Hub model repo: write hf://OWNER/REPO (letters, digits, '_', '-', '.')")
    return repo


def hashes_path(repo_id: str, commit: str) -> Path:
    """Where the Hub's file hashes of one commit are kept once fetched: $XDG_CACHE_HOME/medzoo/hub/<repo>/<commit>.json
    (a commit never changes, so offline loads can check the cached files against them)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "medzoo" / "hub" / repo_id.replace("/", "--") / f"{commit}.json"


def _hub_call(what: str, call: Callable[[], Any]) -> Any:
    """Run a huggingface_hub call; its errors become one ModelNotAvailableError saying what failed and why."""
    from huggingface_hub import constants
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        return call()
    except RepositoryNotFoundError:
        raise ModelNotAvailableError(f"{what}: the repo was not found on {constants.ENDPOINT} (or it is private and no "
                                     "token is set)") from None
    except RevisionNotFoundError:
        raise ModelNotAvailableError(f"{what}: {constants.ENDPOINT} has no such revision") from None
    except Exception as e:  # the HTTP client's transport errors share no base class with the Hub's
        raise ModelNotAvailableError(f"{what} from {constants.ENDPOINT} failed ({type(e).__name__}: "
                                     f"{(str(e).strip().splitlines() or [''])[0]}); check the network or HF_ENDPOINT") from e


def hub_hashes(repo_id: str, commit: str) -> dict[str, list[str]]:
    """What the Hub records for each medzoo file at `commit`: ["sha256", hex] for LFS files (the LFS object id),
    ["git-sha1", hex] for regular files (their git blob id); kept in hashes_path once fetched."""
    record = hashes_path(repo_id, commit)
    if record.is_file():
        return json.loads(record.read_text(encoding="utf-8"))
    where = f"hf://{repo_id}@{commit[:12]}"
    if offline():
        raise ModelNotAvailableError(f"{where}: the Hub's file hashes for this commit were never fetched and "
                                     "HF_HUB_OFFLINE is set; load it once online so its files can be checked")
    from huggingface_hub import HfApi

    infos = _hub_call(f"{where}: reading the file metadata",
                      lambda: HfApi().get_paths_info(repo_id, list(MODEL_FILES), revision=commit))
    found = {i.path: (["sha256", i.lfs.sha256] if getattr(i, "lfs", None) else ["git-sha1", i.blob_id])
             for i in infos if hasattr(i, "blob_id")}
    missing = [f for f in MODEL_FILES if f not in found]
    if missing:
        raise ModelNotAvailableError(f"{where} is not a medzoo model repo: it has no {', '.join(missing)} "
                                     f"(a medzoo repo holds {', '.join(MODEL_FILES)})")
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f".{record.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, record)
    return found


def verify_hub_hash(path: Path, expected: list[str], what: str) -> None:
    """Refuse a file whose sha256 (LFS files) or git blob id (regular files) differs from what the Hub records."""
    kind, want = expected
    got = sha256_file(path) if kind == "sha256" else git_blob_sha1(path)
    if got != want:
        raise IntegrityError(f"{what}: {kind} {got} does not match the {want} the Hub records for this commit; the file "
                             "is corrupt or was replaced, so it is not used")


def resolve_repo(repo_id: str, revision: str | None = None, trust_unpinned: bool = False) -> Path:
    """A folder holding the medzoo files of a Hub repo at a commit, each checked against the hash the Hub records
    for it. A branch, tag or no revision is refused unless `trust_unpinned` (then the branch's current commit)."""
    repo_id = hub_repo_id(repo_id)
    if revision is None or not COMMIT_RE.match(revision):
        if not trust_unpinned:
            raise UnpinnedRevisionError(
                f"hf://{repo_id}: revision {revision!r} is not a commit, so the files could change under that name; pass "
                "revision='<40-hex commit>' (the line `medzoo publish` prints), or trust_unpinned=True to take the "
                "branch's current commit")
        if offline():
            raise ModelNotAvailableError(f"hf://{repo_id}: an unpinned revision needs the Hub to name its commit, and "
                                         "HF_HUB_OFFLINE is set; pass revision=<commit>")
        from huggingface_hub import HfApi

        info = _hub_call(f"hf://{repo_id}@{revision or 'main'}: reading the repo",
                         lambda: HfApi().model_info(repo_id, revision=revision))
        revision = info.sha
    expected = hub_hashes(repo_id, revision)
    paths = []
    for name in MODEL_FILES:
        where = f"hf://{repo_id}@{revision[:12]}/{name}"
        cached = _cached_file(repo_id, name, revision)
        if cached is None and offline():
            raise ModelNotAvailableError(f"{where} is not in the Hugging Face cache ({cache_dir()}) and HF_HUB_OFFLINE "
                                         "is set; unset it to download the file")
        if cached is None:
            from huggingface_hub import hf_hub_download

            path = Path(_hub_call(f"{where}: download", lambda: hf_hub_download(repo_id, name, revision=revision)))
        else:
            path = cached
        try:
            verify_hub_hash(path, expected[name], f"{'cached' if cached else 'downloaded'} {where}")
        except IntegrityError:
            _drop_cached(path)
            raise
        paths.append(path)
    check_safetensors(paths[MODEL_FILES.index("model.safetensors")])
    folder = paths[0].parent
    if any(p.parent != folder for p in paths):
        raise IntegrityError(f"hf://{repo_id}: files of one revision landed in different snapshot folders")
    return folder
