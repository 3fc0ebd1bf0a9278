"""The import graph of medzoo's packages, read from the source (AST): what the layer rules are checked against and
what the docs' Architecture page draws. Lazy imports inside functions count as imports."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("catalog", "reproductions", "zoo", "medzoo")
# what each package may import of the others (data flows catalog -> reproductions -> zoo -> docs; the root mounts all)
ALLOWED = {
    "catalog": set(),
    "zoo": {"catalog"},
    "reproductions": {"catalog", "zoo"},
    "medzoo": {"catalog", "zoo", "reproductions"},
}


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Every module a file imports, at module level or inside functions, as absolute dotted names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    out: set[str] = set()
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


def modules(root: Path = ROOT) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    mods = modules(root)
    return {name: {m for m in imports_of(path, root) if m in mods} for name, path in mods.items()}


def package_edges(root: Path = ROOT) -> dict[tuple[str, str], int]:
    """(package, imported package) -> number of modules of the first that import the second."""
    edges: dict[tuple[str, str], int] = {}
    for name, deps in module_graph(root).items():
        for other in {d.split(".")[0] for d in deps} - {name.split(".")[0]}:
            key = (name.split(".")[0], other)
            edges[key] = edges.get(key, 0) + 1
    return edges


def first_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among modules of the same package (a module importing its own package excluded), or None."""
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


def docstring(path: Path) -> str:
    """The first paragraph of a module's docstring, on one line."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.strip().split("\n\n")[0].split())
