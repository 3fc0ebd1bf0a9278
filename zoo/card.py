"""The one writer of model cards (README.md with Hugging Face YAML front matter) and of their `model-index`."""
from __future__ import annotations

from typing import Any

# Hugging Face pipeline tag of each medzoo task (the Hub has no mask- or class-conditional generation tag)
PIPELINE_TAGS = {
    "unconditional-synthesis": "unconditional-image-generation",
    "conditional-synthesis": "unconditional-image-generation",
    "mask-conditional-synthesis": "image-to-image",
    "image-translation": "image-to-image",
    "super-resolution": "image-to-image",
    "feature-extraction": "image-feature-extraction",
}


def front_matter(config: dict[str, Any], tags: list[str], model_index: list[dict[str, Any]] | None = None) -> str:
    """The YAML header of a card: licence, library, pipeline tag, datasets, tags and (optional) model-index."""
    import yaml

    license_id = config.get("license") or "other"
    front: dict[str, Any] = {"license": license_id, "library_name": "medzoo", "pipeline_tag": PIPELINE_TAGS[config["task"]]}
    if license_id == "other":
        front["license_name"] = config.get("license_name", "unclear")
        front["license_link"] = config.get("license_link", "LICENSE")
    front["datasets"] = [d for d in str(config["dataset"]).split("+") if d]
    front["tags"] = list(dict.fromkeys(t for t in ["medzoo", "medical-imaging", *tags] if t))
    if model_index:
        front["model-index"] = model_index
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n"


def render(config: dict[str, Any], sections: list[tuple[str, list[str]]], tags: list[str],
           model_index: list[dict[str, Any]] | None = None) -> str:
    """A whole card: front matter, `# <model id>`, the summary, then each (heading, lines) section."""
    body = [f"# {config['model_id']}", "", f"{config['summary']}.", ""]
    for heading, lines in sections:
        body += [f"## {heading}", "", *lines, ""]
    return front_matter(config, tags, model_index) + "\n" + "\n".join(body)


def split_card(card: str) -> tuple[dict[str, Any], str]:
    """(front matter mapping, body) of a card; ValueError when it has no front matter."""
    import yaml

    if not card.startswith("---\n") or "\n---\n" not in card[4:]:
        raise ValueError("model card has no YAML front matter")
    head, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(head) or {}, body


def with_model_index(card: str, index: list[dict[str, Any]]) -> str:
    """The card with its front matter's `model-index` replaced by `index`."""
    import yaml

    front, body = split_card(card)
    front["model-index"] = index
    return "---\n" + yaml.safe_dump(front, sort_keys=False, allow_unicode=True) + "---\n" + body
