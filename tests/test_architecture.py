"""Import rules of the design: data flows catalog -> reproductions -> zoo -> docs; the zoo never imports training code,
the catalog never imports torch (or the zoo), and no package has an import cycle (lazy imports inside functions count)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("catalog", "zoo", "reproductions", "medzoo")


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions, as absolute dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


GRAPH = {name: {m for m in imports_of(path) if m in modules()} for name, path in modules().items()}


def test_zoo_never_imports_training_code_or_the_root():
    bad = {name: sorted(m for m in imports_of(p) if m.split(".")[0] in ("reproductions", "medzoo", "docs"))
           for name, p in modules().items() if name.split(".")[0] == "zoo"}
    assert not {k: v for k, v in bad.items() if v}


def test_catalog_never_imports_torch_or_the_zoo():
    bad = {name: sorted(m for m in imports_of(p) if m.split(".")[0] in ("torch", "zoo", "reproductions", "medzoo", "docs"))
           for name, p in modules().items() if name.split(".")[0] == "catalog"}
    assert not {k: v for k, v in bad.items() if v}


def test_reproductions_never_import_the_root_or_docs():
    bad = {name: sorted(m for m in imports_of(p) if m.split(".")[0] in ("medzoo", "docs"))
           for name, p in modules().items() if name.split(".")[0] == "reproductions"}
    assert not {k: v for k, v in bad.items() if v}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among modules of the same top-level package (a package importing its own __init__ excluded)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if m.split(".")[0] != n.split(".")[0] or n.startswith(m + ".") or m == n:
                continue
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if not state.get(m):
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if not state.get(n):
            found = visit(n)
            if found:
                return found
    return None


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package):
    graph = {k: v for k, v in GRAPH.items() if k.split(".")[0] == package}
    assert _cycle(graph) is None, " -> ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_lazy_cycle():
    assert _cycle({"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"b.q"}}) == ["a.x", "a.y", "a.z", "a.x"]
    assert _cycle({"a.x": {"a.y", "b.q"}, "a.y": {"a"}}) is None
