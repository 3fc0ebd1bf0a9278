"""The `medzoo docs` commands: build the documentation site from a source checkout (mkdocs in a subprocess)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Build the documentation site from the catalog database and the zoo registry.", no_args_is_help=True)




@app.command("build")
def docs_build_cmd(
    site: Optional[Path] = typer.Option(None, "--site", help="folder to write the site into (default: site/)"),
    db: Optional[str] = typer.Option(None, "--db", envvar="MEDZOO_DB", help="SQLAlchemy URL or SQLite path (default: the cached catalog)"),
) -> None:
    """Build the site with `mkdocs build --strict`, offline: every data page generated at build time."""
    import os
    import subprocess
    import time

    root = Path(__file__).resolve().parents[1]
    config = root / "mkdocs.yml"
    if not config.is_file():
        raise FileNotFoundError(f"{config} is missing: the site builds from a source checkout of medzoo")
    out = (site or root / "site").resolve()
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    if db:
        env["MEDZOO_DB"] = db
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-f", str(config), "-d", str(out)]
    start = time.perf_counter()
    if subprocess.run(cmd, env=env, cwd=root).returncode:
        print("error: the strict site build failed; the warnings above say why", file=sys.stderr)
        raise typer.Exit(1)
    pages = sum(1 for _ in out.rglob("index.html"))
    print(f"built {pages} pages into {out} in {time.perf_counter() - start:.0f} s")
