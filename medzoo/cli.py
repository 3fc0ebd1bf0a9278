"""The `medzoo` command's composition root: mounts the catalog, zoo, training, evaluation and docs command groups.

Only this module imports every package (lazily, per command group), so `zoo` never imports `reproductions` and the
catalog commands never load torch. Known user errors print one line on stderr and exit with status 2; anything else
is a bug and keeps its traceback.
"""
from __future__ import annotations

import errno
import sys
import typer

from catalog.cli import register as register_catalog
from zoo.malloc import keep_freed_memory

app = typer.Typer(help="medzoo: GAN-based medical image augmentation, literature catalog and model zoo.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
register_catalog(app)

# command -> module whose typer app defines it (top-level commands) or is mounted as a group
COMMANDS = {
    "models": "zoo.cli", "info": "zoo.cli", "generate": "zoo.cli", "translate": "zoo.cli", "publish": "zoo.cli",
    "train": "reproductions.cli", "finetune": "reproductions.cli", "export": "reproductions.cli", "samples": "reproductions.cli",
    "eval": "reproductions.evaluate.cli", "leaderboard": "reproductions.evaluate.cli",
    "app": "medzoo.app",
}
GROUPS = {"utility": "reproductions.evaluate.cli:utility_app", "docs": "medzoo.docs:app"}


def _mount(argv: list[str]) -> None:
    """Add the command groups. Only the one named on the command line is imported (a catalog query imports none of
    them, so it starts without torch); with no command, --help or an unknown one, all are mounted."""
    import importlib

    wanted = next((a for a in argv if not a.startswith("-")), None)
    catalog_commands = {c.name for c in app.registered_commands} | {"catalog"}
    if wanted in catalog_commands:
        return
    modules = [COMMANDS[wanted]] if wanted in COMMANDS else [] if wanted in GROUPS else sorted(set(COMMANDS.values()))
    for module in modules:
        app.registered_commands.extend(importlib.import_module(module).app.registered_commands)
    for name, target in GROUPS.items():
        if wanted == name or wanted not in {**COMMANDS, **GROUPS}:
            module, attr = target.split(":")
            app.add_typer(getattr(importlib.import_module(module), attr), name=name)


def build_app() -> typer.Typer:
    """The whole command tree (every group mounted, once): for documentation and tests."""
    if not any(g.name == "docs" for g in app.registered_groups):
        _mount([])
    return app


def user_errors() -> tuple[type[BaseException], ...]:
    """The exception types that mean the user can fix something (input, file, service): shown as one line."""
    from catalog.errors import CatalogError

    types: list[type[BaseException]] = [CatalogError, FileExistsError, FileNotFoundError, PermissionError,
                                        IsADirectoryError, NotADirectoryError]
    for module, names in (("zoo.errors", ("InputError",)), ("medzoo.app", ("AppError",)),
                          ("zoo.hub", ("IntegrityError",)), ("zoo.registry", ("UnknownModelError",)),
                          ("reproductions.common.data", ("DataError",)), ("reproductions.common.folders", ("FolderError",)),
                          ("reproductions.common.checkpoint", ("CheckpointError",)),
                          ("reproductions.evaluate.fidelity", ("EvaluationError",))):
        mod = sys.modules.get(module)  # only modules the command loaded can have raised their errors
        types += [getattr(mod, n) for n in names if mod is not None and hasattr(mod, n)]
    return tuple(types)


def _one_line(e: BaseException) -> str:
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    if isinstance(e, OSError) and e.filename and e.strerror:
        return f"{e.filename}: {e.strerror}"
    return str(e)


def main() -> None:
    """Entry point of the `medzoo` command."""
    keep_freed_memory()  # 128 px generation and training: no page faults on every forward pass (zoo/malloc.py)
    if not any(g.name == "docs" for g in app.registered_groups):
        _mount(sys.argv[1:])
    try:
        app()
    except OSError as e:
        if e.errno in (errno.EROFS, errno.ENOSPC, errno.EACCES, errno.EDQUOT) or isinstance(e, user_errors()):
            what = {errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on device"}.get(e.errno, "")
            print(f"error: {_one_line(e)}" + (f" ({what}: choose another folder or free space)" if what else ""), file=sys.stderr)
            sys.exit(2)
        raise
    except Exception as e:  # noqa: BLE001 - re-raised unless it is a known user error
        if isinstance(e, user_errors()):
            print(f"error: {_one_line(e)}", file=sys.stderr)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
