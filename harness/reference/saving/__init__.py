"""Saving and loading models through a registry of file formats.

A format is a module in ``harness/reference/saving/formats/`` (found with ``pkgutil``, so
adding one is adding a module) that declares ``NAME``, ``EXTENSIONS``, ``save(model, path)``
and ``load(path) -> model``, and optionally ``detect(path) -> bool`` for files whose name has
no known extension. A module that cannot be imported (its library missing) is left out.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from types import ModuleType
from typing import Any

from harness.reference.saving import formats as formats_package

_REQUIRED = ("NAME", "EXTENSIONS", "save", "load")


def _is_format(module: ModuleType) -> bool:
    return all(hasattr(module, attr) for attr in _REQUIRED)


def registry() -> dict[str, ModuleType]:
    """Format name -> module, for every importable format module (discovered afresh)."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(formats_package.__path__):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{formats_package.__name__}.{info.name}")
        except ImportError:
            continue  # the format's library is not installed here
        if _is_format(module):
            found[module.NAME] = module
    return found


def formats() -> list[str]:
    """Names of the formats available here, sorted."""
    return sorted(registry())


def get_format(name: str) -> ModuleType:
    """The module of format ``name`` (ValueError when unknown)."""
    known = registry()
    if name not in known:
        raise ValueError(f"unknown model format {name!r} (known: {', '.join(sorted(known))})")
    return known[name]


def _by_extension(path: str) -> ModuleType | None:
    lowered = path.lower()
    for module in registry().values():
        if any(lowered.endswith(ext.lower()) for ext in module.EXTENSIONS):
            return module
    return None


def save_model(model: Any, path: str | os.PathLike[str], format: str | None = None) -> None:  # noqa: A002
    """Save ``model`` (config and weights) at ``path`` in ``format``, or in the format its
    extension names when ``format`` is None."""
    path = os.fspath(path)
    module = get_format(format) if format is not None else _by_extension(path)
    if module is None:
        extensions = {n: list(m.EXTENSIONS) for n, m in sorted(registry().items())}
        raise ValueError(f"cannot tell the format of {path!r} from its extension; pass "
                         f"format= or use one of {extensions}")
    module.save(model, path)


def load_model(path: str | os.PathLike[str], format: str | None = None) -> Any:  # noqa: A002
    """The model saved at ``path``: the format is ``format``, else the one its extension
    names, else the first whose ``detect(path)`` recognises the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"no saved model at {path!r}")
    module = get_format(format) if format is not None else _by_extension(path)
    if module is None:
        module = next((m for m in registry().values()
                       if callable(getattr(m, "detect", None)) and m.detect(path)), None)
    if module is None:
        raise ValueError(f"{path!r} is not a model file in any known format "
                         f"({', '.join(formats())})")
    return module.load(path)
