"""Import rules of the design: data flows catalog -> reproductions -> zoo -> docs; the zoo never imports training code,
the catalog never imports torch (or the zoo), and no package has an import cycle (lazy imports inside functions count)."""
from __future__ import annotations

import pytest

from medzoo.layers import ALLOWED, PACKAGES, first_cycle, imports_of, module_graph, modules


def offending(package: str, banned: set[str]) -> dict[str, list[str]]:
    out = {name: sorted(m for m in imports_of(p) if m.split(".")[0] in banned)
           for name, p in modules().items() if name.split(".")[0] == package}
    return {k: v for k, v in out.items() if v}


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_the_layers_below_them(package):
    banned = (set(PACKAGES) | {"docs", "bench", "tests"}) - ALLOWED[package] - {package}
    assert not offending(package, banned)


def test_zoo_never_imports_training_code_and_catalog_never_imports_torch():
    assert not offending("zoo", {"reproductions", "medzoo"})
    assert not offending("catalog", {"torch", "torchvision", "zoo", "reproductions"})


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    graph = {k: v for k, v in module_graph().items() if k.split(".")[0] == package}
    cycle = first_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_rules_can_fail():
    assert first_cycle({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"b.q"}}) == ["a.x", "a.y", "a.z", "a.x"]
    assert first_cycle({"a.x": {"a.y", "b.q"}, "a.y": {"a"}}) is None
    assert "torch" in imports_of(modules()["zoo.base"])
