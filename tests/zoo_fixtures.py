"""Tiny exported models (a few steps on real images) in a private registry, shared by the zoo tests."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = [("dcgan", "pneumoniamnist"), ("acgan", "breastmnist"), ("pix2pix", "pneumoniamnist")]


def build_tiny_zoo(root: Path) -> Path:
    """Train each family one epoch on 32 real images, export it and register it in root/models.json."""
    from zoo import registry

    pretrained = root / "pretrained"
    for family, dataset in TINY:
        run = root / "runs" / f"{family}-{dataset}"
        cmd = [sys.executable, "-m", "reproductions.cli"]
        subprocess.run([*cmd, "train", family, "--dataset", dataset, "--epochs", "1", "--limit", "32", "--set", "batch_size=16", "--out", str(run)],
                       check=True, capture_output=True, cwd=REPO)
        subprocess.run([*cmd, "export", str(run), "--out", str(pretrained)], check=True, capture_output=True, cwd=REPO)
    old = os.environ.get("MEDZOO_REGISTRY")
    os.environ["MEDZOO_REGISTRY"] = str(root / "models.json")
    try:
        for folder in sorted(pretrained.iterdir()):
            registry.register(registry.entry_from_folder(folder))
    finally:
        if old is None:
            os.environ.pop("MEDZOO_REGISTRY")
        else:
            os.environ["MEDZOO_REGISTRY"] = old
    return root / "models.json"
