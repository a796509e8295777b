"""Which Keras backend the Keras tests of this process use (Keras binds one at import)."""

from __future__ import annotations

import importlib.util
import os
import sys


def keras_backend() -> str | None:
    """The backend of an already imported Keras, else ``KERAS_BACKEND``, else the first
    installed of jax, tensorflow, torch; None when none is."""
    loaded = sys.modules.get("keras")
    if loaded is not None:
        return str(loaded.backend.backend())
    wanted = os.environ.get("KERAS_BACKEND")
    if wanted:
        return wanted
    for name in ("jax", "tensorflow", "torch"):
        if importlib.util.find_spec(name) is not None:
            return name
    return None
