"""Catalog papers' augmentation experiments repeated on medzoo's data: the paper's setting beside the fair protocol."""

MODULES = ("aldhabyani2019", "manaf2025")  # one module per repeated paper, each with its SETTING and main()


def settings() -> dict:
    """{catalog key: (module name, Setting)} of every repeated paper."""
    from importlib import import_module

    return {s.paper: (m, s) for m, s in ((m, import_module(f"reproductions.evaluate.papers.{m}").SETTING) for m in MODULES)}
