"""The float64 NumPy oracle: naive, obviously-correct formulas, independent of the library.

Nothing here imports ``harness.reference``. Each layer formula is registered under its Keras
class name and takes Keras-ordered weights, so the oracle can judge any library whose
``get_weights()`` follows Keras (the reference library, Keras 3 itself, ...).

``forward(layer, config, weights, inputs, training=False, mask=None)`` is the entry point.
Modules register with ``@register("Dense")``; a new layer is one function in one module.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

#: oracle version: bump when any formula changes, so cached oracle results are recomputed.
VERSION = "1"

LayerFn = Callable[..., Any]
_LAYERS: dict[str, LayerFn] = {}
_loaded = False

_MODULES = (
    "activations", "core", "conv", "pooling", "reshaping", "merging", "normalization",
    "recurrent",
)


def register(*names: str) -> Callable[[LayerFn], LayerFn]:
    """Register a layer formula under one or more Keras class names."""

    def decorate(fn: LayerFn) -> LayerFn:
        for name in names:
            _LAYERS[name] = fn
        return fn

    return decorate


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")
    _loaded = True


def layers() -> list[str]:
    """Keras class names the oracle can compute."""
    _load()
    return sorted(_LAYERS)


def forward(layer: str, config: dict[str, Any], weights: list[np.ndarray], inputs: Any,
            training: bool = False, mask: Any = None) -> Any:
    """Output of ``layer`` (Keras class name) in float64.

    ``inputs`` is one array or a list (merge layers); ``weights`` follow Keras's
    ``get_weights()`` order and shapes; ``training`` selects training behaviour
    (BatchNormalization batch statistics; Dropout is judged separately through its mask).
    Returns an array, or a list of arrays for layers with several outputs
    (e.g. ``return_state``).
    """
    _load()
    try:
        fn = _LAYERS[layer]
    except KeyError:
        raise KeyError(f"the oracle has no formula for layer {layer!r}") from None
    as64 = [np.asarray(w, dtype=np.float64) for w in weights]
    if isinstance(inputs, (list, tuple)):
        x: Any = [np.asarray(i, dtype=np.float64) if np.asarray(i).dtype.kind == "f"
                  else np.asarray(i) for i in inputs]
    else:
        arr = np.asarray(inputs)
        x = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
    return fn(config, as64, x, training=training, mask=mask)


def compute_mask(layer: str, config: dict[str, Any], inputs: Any, mask: Any = None) -> Any:
    """The boolean mask ``layer`` emits (None for none), with every module's rules loaded."""
    _load()  # recurrent.py registers its mask rules on import
    from harness.conformance.oracle.core import compute_mask as rules

    return rules(layer, config, inputs, mask)
