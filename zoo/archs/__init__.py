"""Registry of zoo architectures: `register_arch` maps a family name to the module class built from config.json."""
from __future__ import annotations

import difflib
from typing import Callable, TypeVar

ARCHS: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register_arch(name: str) -> Callable[[T], T]:
    """Class decorator: make `name` loadable by zoo.load (timm's register_model, for generators)."""

    def wrap(cls: T) -> T:
        if name in ARCHS:
            raise ValueError(f"architecture {name!r} is registered twice ({ARCHS[name].__name__}, {cls.__name__})")
        ARCHS[name] = cls
        cls.arch_name = name
        return cls

    return wrap


def get_arch(name: str) -> type:
    """The class registered as `name`; a clear error with close matches otherwise."""
    if name not in ARCHS:
        _import_one(name)  # zoo/archs/<name>.py: loading a DCGAN never imports timm (features.py) and the rest
    if name not in ARCHS:
        _import_all()
    try:
        return ARCHS[name]
    except KeyError:
        close = difflib.get_close_matches(name, ARCHS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown architecture {name!r}{hint} (known: {', '.join(sorted(ARCHS))})") from None


def _import_one(name: str) -> None:
    """Import zoo/archs/<name>.py when such a module exists (most archs live in the module of their name)."""
    import importlib
    import pkgutil

    if isinstance(name, str) and name.isidentifier() and any(m.name == name for m in pkgutil.iter_modules(__path__)):
        importlib.import_module(f"{__name__}.{name}")


def _import_all() -> None:
    """Import every architecture module so its decorator runs."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def arch_default(name: str, argument: str) -> object:
    """The default of one typed constructor argument of architecture `name`: training configs take their
    generator settings from here instead of repeating them."""
    import inspect

    default = inspect.signature(get_arch(name).__init__).parameters[argument].default
    return list(default) if isinstance(default, tuple) else default
