"""Active backend selection and forwarding, in the Keras style.

``HARNESS_BACKEND=<name>`` picks the backend at import (default ``numpy``);
``set_backend(name)`` switches before layers are built. Every op of ``ops.OPS`` is reachable
as ``backend.<op>`` and forwards to the active backend module, imported lazily, so that the
NumPy path imports no other framework.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import Any

from harness.reference.backend.ops import OPS, check_backend

#: every backend the library knows; ``cntk`` has no wheel for any current Python.
KNOWN_BACKENDS = ("numpy", "tensorflow", "theano", "pytensor", "jax", "torch", "cntk")

#: where a backend is known but cannot exist on this Python, the reason.
UNAVAILABLE = {"cntk": "CNTK publishes no wheel for any Python >= 3.7"}


class BackendUnavailable(RuntimeError):
    """The backend is unknown, or its framework is not installed here."""


_active: ModuleType | None = None
_active_name = os.environ.get("HARNESS_BACKEND", "numpy")


def load(name: str) -> ModuleType:
    """Import and return the backend module ``name`` (raises BackendUnavailable)."""
    if name not in KNOWN_BACKENDS:
        raise BackendUnavailable(
            f"unknown backend {name!r} (known: {', '.join(KNOWN_BACKENDS)})"
        )
    if name in UNAVAILABLE:
        raise BackendUnavailable(f"backend {name!r} is unavailable: {UNAVAILABLE[name]}")
    try:
        module = importlib.import_module(f"harness.reference.backend.{name}")
    except ImportError as exc:
        raise BackendUnavailable(
            f"backend {name!r} is not installed ({exc}); install dl-harness[{name}]"
        ) from exc
    missing = check_backend(module)
    if missing:
        raise BackendUnavailable(f"backend {name!r} lacks ops: {', '.join(missing)}")
    return module


def set_backend(name: str) -> None:
    """Make ``name`` the active backend for layers built from now on."""
    global _active, _active_name
    _active = load(name)
    _active_name = name


def name() -> str:
    """Name of the active backend."""
    return _active_name


def active() -> ModuleType:
    """The active backend module (imported on first use)."""
    global _active
    if _active is None:
        _active = load(_active_name)
    return _active


def __getattr__(attr: str) -> Any:
    if attr in OPS:
        return getattr(active(), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
