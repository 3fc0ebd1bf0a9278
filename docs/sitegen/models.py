"""Zoo models as the site shows them: registry entry, bundled card body and sample grid."""
from __future__ import annotations

from dataclasses import dataclass

from zoo import registry


@dataclass
class Model:
    """A registered model with its card (without front matter) and sample grid, when its folder is bundled."""

    entry: registry.ModelEntry
    card: str | None
    samples: bytes | None

    @property
    def id(self) -> str:
        return self.entry.model_id


def card_body(text: str) -> str:
    """A model card without its YAML front matter (Hub metadata, shown elsewhere on the page)."""
    if text.startswith("---\n"):
        _, sep, body = text[4:].partition("\n---\n")
        if sep:
            return body
    return text


def load_models() -> list[Model]:
    """Every registered model, by id, with what its bundled folder holds."""
    out = []
    for model_id, entry in sorted(registry.entries().items()):
        folder = registry.pretrained_dir() / model_id
        readme, grid = folder / "README.md", folder / "samples.png"
        card = card_body(readme.read_text(encoding="utf-8")) if readme.is_file() else None
        out.append(Model(entry, card, grid.read_bytes() if grid.is_file() else None))
    return out
