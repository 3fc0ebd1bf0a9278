"""medzoo model zoo: find, load and use pretrained medical image augmenters.

`zoo.list_models`, `zoo.models_for` and `zoo.get` never import torch; `zoo.load` and the datasets do, on first use.
"""
from __future__ import annotations

from typing import Any

from zoo.registry import get, list_models, models_for

__all__ = ["list_models", "models_for", "get", "load", "load_folder", "save_folder", "info", "SyntheticDataset", "MixedDataset"]
_LAZY = {"load": "zoo.api", "load_folder": "zoo.folder", "save_folder": "zoo.folder", "info": "zoo.api",
         "SyntheticDataset": "zoo.datasets", "MixedDataset": "zoo.datasets"}


def __getattr__(name: str) -> Any:
    """Import torch-backed parts only when they are used, so catalog commands start fast."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
