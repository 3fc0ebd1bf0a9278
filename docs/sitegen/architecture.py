"""The Architecture page: layers, data flow and the package import graph, read from the source as it is now."""
from __future__ import annotations

from medzoo.layers import ALLOWED, PACKAGES, docstring, first_cycle, module_graph, modules, package_edges
from sitegen.md import Pages, esc

FLOW = """```text
catalog/data/*.yaml --(medzoo catalog build)--> catalog database (SQLite | PostgreSQL)
   papers, datasets, vocabularies        ^ measured results enter as an explicit input (--results)
        |
        v  dataset facts (catalog/data/datasets/<slug>.yaml) are what training loads
reproductions/<family>  --(medzoo train / finetune)--> run folder (checkpoints, log)
   one training loop, image folders,      --(medzoo export)--> model folder (Hub layout):
   evaluation (fidelity, CAS, utility)        config.json + model.safetensors (fp16) + README.md
        |
        v  zoo.save_folder / zoo.load_folder: the one save/load pair
zoo/  registry (zoo/models.json) + hub (bundled -> HF cache -> pinned download, sha256) + api
   (load, generate, translate) + datasets of synthetic images   <- never imports training code
        |
        v
docs/ (this site, generated at build time)      medzoo/ (the command: mounts every package's command group)
```"""


def pages() -> Pages:
    """architecture.md, generated from the code (medzoo.layers)."""
    mods = modules()
    graph = module_graph()
    edges = package_edges()
    lines = ["# Architecture", "",
             "Generated at build time from the source (`medzoo/layers.py` reads every module's imports, lazy ones "
             "included); `tests/test_architecture.py` enforces the same rules.", "", "## Data flow", "", FLOW, "",
             "## Layers", "",
             "| package | may import | imports now (modules that do) | import cycle | modules |", "|---|---|---|---|---|"]
    for pkg in PACKAGES:
        now = ", ".join(f"`{b}` ({n})" for (a, b), n in sorted(edges.items()) if a == pkg) or "none"
        cycle = first_cycle({k: v for k, v in graph.items() if k.split(".")[0] == pkg})
        allowed = ", ".join(f"`{p}`" for p in sorted(ALLOWED[pkg])) or "none"
        count = sum(1 for m in mods if m.split(".")[0] == pkg)
        lines.append(f"| `{pkg}` | {allowed} | {now} | {'none' if cycle is None else ' -> '.join(cycle)} | {count} |")
    lines += ["", "`catalog` imports no torch. The `medzoo` root imports the command groups by name (`importlib`, listed in "
              "`medzoo/cli.py`), only the one whose command runs, so catalog queries start without torch; those "
              "imports are not counted above.", ""]
    for pkg in PACKAGES:
        lines += [f"## `{pkg}`", "", "| module | what it holds |", "|---|---|"]
        lines += [f"| `{name}` | {esc(docstring(path))} |" for name, path in mods.items() if name.split(".")[0] == pkg]
        lines.append("")
    return {"architecture.md": "\n".join(lines)}
