"""The catalog's import rules: no cycle inside catalog/ (lazy imports count), low layers never import the query layer,
and the catalog never imports torch, the zoo or the reproductions."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

CATALOG = Path(__file__).resolve().parents[1] / "catalog"
MODULES = {p.stem: p for p in CATALOG.glob("*.py") if p.stem != "__init__"}
# modules below the query layer: they may be imported by catalog/query.py, so they must never import it (or above)
LOW = ("errors", "vocab", "sourcerank", "db", "jsonl", "sql", "records", "schema", "sources", "embed", "ann", "tagbits",
       "fulltext", "indexes", "builder")
ABOVE_QUERY = ("query", "coverage", "families", "export", "importers", "cli")


def imports(path: Path) -> set[str]:
    """Every catalog module `path` imports, at module level or inside functions ('catalog' alone = the package)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + ([f"{node.module}.{a.name}" for a in node.names] if node.module == "catalog" else [])
        else:
            continue
        for n in names:
            parts = n.split(".")
            if parts[0] != "catalog":
                continue
            if len(parts) == 1:
                continue  # `from catalog import x` is counted as catalog.x above
            if parts[1] in MODULES:
                out.add(parts[1])
    return out


def external(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


GRAPH = {m: imports(p) - {m} for m, p in MODULES.items()}


def test_no_import_cycle_inside_catalog():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == 1:
                cycle = stack[stack.index(n):] + [n]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if not state.get(n):
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if not state.get(m):
            visit(m)


@pytest.mark.parametrize("module", [m for m in LOW if m in MODULES])
def test_low_modules_never_import_the_query_layer(module):
    assert not GRAPH[module] & set(ABOVE_QUERY), f"catalog/{module}.py imports {sorted(GRAPH[module] & set(ABOVE_QUERY))}"


def test_every_module_is_placed_in_a_layer():
    assert set(MODULES) <= set(LOW) | set(ABOVE_QUERY) | {"datasets"}, set(MODULES) - set(LOW) - set(ABOVE_QUERY)


def test_catalog_never_imports_torch_zoo_or_reproductions():
    for m, p in MODULES.items():
        assert not external(p) & {"torch", "torchvision", "zoo", "reproductions", "diffusers"}, m
    code = ("import sys, catalog, catalog.builder, catalog.coverage, catalog.families, catalog.importers, catalog.export\n"
            "bad = [m for m in ('torch', 'zoo', 'reproductions') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=CATALOG.parent, timeout=120)


def test_dead_code_is_gone():
    import catalog.ann
    import catalog.query

    assert not hasattr(catalog.ann, "vector_of") and not hasattr(catalog.query, "vocabulary")
