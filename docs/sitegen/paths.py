"""Where each generated page lives, relative to the docs folder."""
from __future__ import annotations

SECTIONS = {  # vocabulary -> (folder, title)
    "organ": ("organs", "Organs"), "modality": ("modalities", "Modalities"), "dataset": ("datasets", "Datasets"),
    "architecture": ("architectures", "Architectures"), "loss": ("losses", "Losses"), "metric": ("metrics", "Metrics"),
    "task": ("tasks", "Tasks"),
}
PAPERS = "papers/index.md"
MODELS = "models/index.md"


def paper(key: str) -> str:
    """Page of one paper."""
    return f"papers/{key}.md"


def section(vocab: str) -> str:
    """Index page of a vocabulary."""
    return f"{SECTIONS[vocab][0]}/index.md"


def term(vocab: str, slug: str) -> str:
    """Page of one term, listing its papers."""
    return f"{SECTIONS[vocab][0]}/{slug}.md"


def model(model_id: str) -> str:
    """Page of one zoo model."""
    return f"models/{model_id}/index.md"


def samples(model_id: str) -> str:
    """Sample grid picture of one zoo model, beside its page."""
    return f"models/{model_id}/samples.png"
