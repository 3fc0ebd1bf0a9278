"""The CLI reference (introspected from the typer app) and the API reference (mkdocstrings, a page per module)."""
from __future__ import annotations

import ast
import enum
import importlib
from pathlib import Path
from typing import Any, Iterator

import typer

from sitegen.md import Pages, esc, link, table

PACKAGES = ("catalog", "zoo")
SKIP_MODULES = ("__init__", "__main__", "cli")


def _walk(cmd: Any, name: str, parent: Any = None) -> Iterator[Any]:
    """Contexts of a command and every subcommand below it, depth first."""
    ctx = cmd.context_class(cmd, info_name=name, parent=parent)
    yield ctx
    if hasattr(cmd, "list_commands"):
        for sub in cmd.list_commands(ctx):
            yield from _walk(cmd.get_command(ctx, sub), sub, ctx)


def _default(p: Any) -> str:
    value = p.default
    if p.required:
        return "*required*"
    if value is None or value == () or value == [] or (getattr(p, "is_flag", False) and value is False):
        return ""
    return f"`{value.value if isinstance(value, enum.Enum) else value}`"


def _params(ctx: Any) -> str:
    rows = []
    for p in ctx.command.get_params(ctx):
        if getattr(p, "hidden", False):
            continue
        arg = p.param_type_name == "argument"
        name = p.name.upper() if arg else ", ".join(p.opts + p.secondary_opts)
        kind = "flag" if getattr(p, "is_flag", False) else p.display_type(ctx).strip("<>")
        rows.append((f"`{name}`", esc(kind), _default(p), esc(p.help or "")))
    return table(["Parameter", "Type", "Default", "Help"], rows)


def anchor(heading: str) -> str:
    """The id the toc extension gives a heading of plain words."""
    return "-".join(heading.lower().split())


def cli_page() -> str:
    """Markdown of every `medzoo` command: what it does, its usage and its parameters."""
    from medzoo.cli import build_app

    app = build_app()
    parts = ["# CLI reference\n", "Generated from the `medzoo` command's own definitions; `medzoo COMMAND --help` "
             "prints the same.\n"]
    for ctx in _walk(typer.main.get_command(app), "medzoo"):
        cmd = ctx.command
        usage = " ".join([ctx.command_path, *cmd.collect_usage_pieces(ctx)])
        parts += [f"## {ctx.command_path}\n", esc(cmd.help or "") + "\n", f"```text\n{usage}\n```\n", _params(ctx)]
        if hasattr(cmd, "list_commands"):
            subs = [(f"[`{ctx.command_path} {n}`](#{anchor(f'{ctx.command_path} {n}')})",
                     esc(cmd.get_command(ctx, n).get_short_help_str(120))) for n in cmd.list_commands(ctx)]
            parts.append(table(["Command", "Summary"], subs))
    return "\n".join(parts)


def modules() -> dict[str, Path]:
    """Public modules of the catalog and zoo packages (command-line modules excluded), with their files."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        root = Path(importlib.import_module(pkg).__file__).parent
        out[pkg] = root / "__init__.py"
        out |= {f"{pkg}.{f.stem}": f for f in sorted(root.glob("*.py")) if f.stem not in SKIP_MODULES}
        out |= {f"{pkg}.{d.name}": d / "__init__.py" for d in sorted(root.iterdir()) if (d / "__init__.py").is_file()}
    return out


def _summary(file: Path) -> str:
    doc = ast.get_docstring(ast.parse(file.read_text(encoding="utf-8"))) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def api_pages() -> Pages:
    """An API page per module, rendered from its docstrings by mkdocstrings, and their index."""
    mods = modules()
    rows = [(link(name, "api/index.md", f"api/{name}.md"), esc(_summary(f))) for name, f in mods.items()]
    out: Pages = {"api/index.md": "# API reference\n\nGenerated from the docstrings of each module.\n\n"
                  + table(["Module", "Summary"], rows)}
    out |= {f"api/{name}.md": f"# {name}\n\n::: {name}\n" for name in mods}
    return out


def pages() -> Pages:
    """The CLI and API reference pages."""
    return {"cli.md": cli_page()} | api_pages()
