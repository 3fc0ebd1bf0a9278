"""The `medzoo` command: catalog queries, model zoo, training and evaluation, in one CLI."""
from __future__ import annotations

import sys

import typer

from catalog.cli import register as register_catalog

app = typer.Typer(help="medzoo: GAN-based medical image augmentation, literature catalog and model zoo.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
register_catalog(app)


def _mount_reproductions() -> None:
    """Add `train`, `export` and `samples` from reproductions.cli when that package is present."""
    try:
        from reproductions.cli import app as repro_app
    except ImportError:
        return
    app.registered_commands.extend(repro_app.registered_commands)


_mount_reproductions()


def main() -> None:
    """Entry point: user errors print one clear line and exit with status 2, never a traceback."""
    from catalog.errors import CatalogError

    try:
        app()
    except (CatalogError, ValueError, KeyError, FileNotFoundError, FileExistsError, PermissionError, TypeError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        sys.exit(2)
