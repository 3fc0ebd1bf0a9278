"""Find a model's files: bundled folder, then the Hugging Face cache, then a pinned-revision download; verify each."""
from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from zoo.registry import MODEL_FILES, ModelEntry, pretrained_dir, sha256_file

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


def _bundled(entry: ModelEntry) -> Path | None:
    folder = pretrained_dir() / entry.model_id
    if not all((folder / f).is_file() for f in MODEL_FILES):
        return None
    for f in MODEL_FILES:
        verify(folder / f, entry.files[f], f"bundled {entry.model_id}/{f}")
    return folder


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
            "set HF_HUB_OFFLINE=1 to use only local files.") from e


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
                f"model {entry.model_id!r} is not bundled and not in the Hugging Face cache ({cache_dir()}), and "
                f"HF_HUB_OFFLINE is set. Unset HF_HUB_OFFLINE to download {entry.hub_repo} at revision {revision}, "
                f"or copy the repo into the cache with `hf download {entry.hub_repo} --revision {revision}`.")
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
    """A folder holding the model's verified files: bundled, else cached, else downloaded at the pinned revision."""
    if revision is not None and revision != entry.revision:
        raise ModelNotAvailableError(
            f"revision {revision!r} of {entry.model_id} is not the pinned revision {entry.revision!r}: medzoo loads only "
            "files whose sha256 the registry records")
    folder = _bundled(entry)
    if folder is not None:
        return folder
    if not entry.revision:
        raise ModelNotAvailableError(f"model {entry.model_id!r} is not bundled in this installation and has no published "
                                     f"revision on the Hub ({entry.hub_repo}); train and export it with `medzoo train`")
    return _from_hub(entry, entry.revision)
