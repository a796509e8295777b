"""The reference layer library: a small Keras-like library written once against the backend
op interface (``backend/ops.py``) and run on every backend.

``from harness.reference import layers, models, losses, optimizers, saving``. Nothing here
imports the rest of ``harness`` or any framework outside ``backend/<name>/``.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("layers", "models", "losses", "metrics", "optimizers", "saving", "backend",
               "activations", "initializers", "random")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
