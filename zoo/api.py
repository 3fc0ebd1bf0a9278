"""Load a registered model, or any Hub repo in the medzoo layout, in one line: resolve and verify its files, rebuild
the module, load safetensors weights."""
from __future__ import annotations

import torch

from zoo.base import GenerativeModel
from zoo.folder import load_folder
from zoo.hub import HF_PREFIX, resolve, resolve_repo
from zoo.registry import get


def load(model_id: str, revision: str | None = None, device: str | torch.device = "cpu",
         trust_unpinned: bool = False) -> GenerativeModel:
    """A pretrained zoo model as an nn.Module with generate()/translate(): bundled, cached or downloaded, verified.

    `model_id` is a registered id, or "hf://OWNER/REPO" for any Hub repo in the medzoo layout (config.json,
    model.safetensors, README.md): then `revision` must be a commit, and every file is checked against the hash
    the Hub records for it (the LFS sha256; the git blob id of small files) before use. A branch or no revision is
    refused unless `trust_unpinned=True`.

    >>> model = load("dcgan.pneumoniamnist_28"); images = model.generate(16, seed=0)
    >>> model = load("hf://medzoo/dcgan.pneumoniamnist_28", revision="<40-hex commit>")
    """
    if isinstance(model_id, str) and model_id.startswith(HF_PREFIX):
        return load_folder(resolve_repo(model_id, revision, trust_unpinned), device)
    entry = get(model_id)
    return load_folder(resolve(entry, revision), device)


def info(model_id: str) -> str:
    """The model card (README.md) of a registered model, with its Citation section (BibTeX of the model and of
    the papers it reproduces; written from the registry and the catalog when the card has none)."""
    import json

    from zoo.card import CITATION, with_citation

    entry = get(model_id)
    folder = resolve(entry)
    card = (folder / "README.md").read_text(encoding="utf-8")
    if f"\n## {CITATION}\n" not in card:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        card = with_citation(card, config, entry.hub_repo)
    return card
