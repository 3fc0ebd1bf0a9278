"""Publish a bundled model to the Hugging Face Hub, check what the Hub serves back, pin the registry to that commit."""
from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from zoo.hub import IntegrityError, check_safetensors, offline
from zoo.registry import MODEL_FILES, get, pretrained_dir, register, sha256_file

OPTIONAL_FILES = ("samples.png",)


class PublishError(RuntimeError):
    """The model could not be uploaded or read back; the message names the model, the repo and the cause."""


def _first_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {(str(e).strip().splitlines() or [''])[0]}"


def _bundled(model_id: str, where: str) -> tuple[Path, dict[str, str]]:
    """The bundled folder and the sha256 of each file to upload, checked against the registry."""
    entry = get(model_id)
    folder = pretrained_dir() / model_id
    missing = [f for f in MODEL_FILES if not (folder / f).is_file()]
    if missing:
        raise PublishError(f"cannot publish {where}: {folder} lacks {', '.join(missing)}; export the model first")
    for name in MODEL_FILES:
        if sha256_file(folder / name) != entry.files[name]:
            raise IntegrityError(f"cannot publish {where}: bundled {name} does not match the registry's sha256; "
                                 "register the export again (zoo.registry.entry_from_folder + register)")
    check_safetensors(folder / "model.safetensors")
    optional = {n: sha256_file(folder / n) for n in OPTIONAL_FILES if (folder / n).is_file()}
    return folder, {name: entry.files[name] for name in MODEL_FILES} | optional


def _check_served(repo_id: str, revision: str, expected: dict[str, str], endpoint: str, token: str | None,
                  where: str) -> None:
    """Download each file at `revision` into a temporary folder and compare its sha256 with the expected one."""
    from huggingface_hub import hf_hub_download

    with tempfile.TemporaryDirectory(prefix="medzoo-publish-") as tmp:
        for name, sha in expected.items():
            try:
                path = hf_hub_download(repo_id, name, revision=revision, endpoint=endpoint, token=token, local_dir=tmp)
            except Exception as e:  # the HTTP client's transport errors share no base class with the Hub's
                raise PublishError(f"uploaded {where} at revision {revision}, but could not download {name} back to "
                                   f"check it ({_first_line(e)}); the registry was not changed") from e
            actual = sha256_file(Path(path))
            if actual != sha:
                raise IntegrityError(f"uploaded {where} at revision {revision}, but the Hub serves {name} with sha256 "
                                     f"{actual}, not {sha}; the registry was not changed")


def publish(model_id: str, repo_id: str, endpoint: str | None = None, token: str | None = None,
            private: bool = False) -> str:
    """Upload a bundled model folder to `repo_id`, verify it, record hub_repo and the commit in the registry."""
    from huggingface_hub import HfApi, constants

    url = (endpoint or os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
    where = f"{model_id!r} to {url}/{repo_id}"
    if offline():
        raise PublishError(f"cannot publish {where}: HF_HUB_OFFLINE is set; unset it to upload")
    folder, expected = _bundled(model_id, where)
    api = HfApi(endpoint=url, token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, folder_path=folder, allow_patterns=list(expected),
                                   commit_message=f"Publish {model_id}")
    except Exception as e:  # the HTTP client's transport errors share no base class with the Hub's
        raise PublishError(f"could not publish {where}: {_first_line(e)}") from e
    _check_served(repo_id, commit.oid, expected, url, token, where)
    register(replace(get(model_id), hub_repo=repo_id, revision=commit.oid))
    return commit.oid
