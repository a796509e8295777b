"""What the Keras 3 target needs from the framework under Keras: autodiff, a compiler and the
device list. Keras 3 leaves these to its backend (``jax.grad``, ``tf.GradientTape``,
``torch.autograd``), so each gets a small function here, looked up by Keras backend name.

Imported by ``harness.conformance.targets.keras3``; ``load_keras`` imports Keras itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.errors import UsageError

#: the backends Keras 3 runs on, and the framework module each one needs importable
KERAS_BACKENDS = {"jax": "jax", "tensorflow": "tensorflow", "torch": "torch", "numpy": "numpy"}

#: named option sets of each backend's compiler (the ``compiled`` check runs each one)
COMPILE_VARIANTS: dict[str, dict[str, dict[str, Any]]] = {
    "jax": {"jit": {}},
    "tensorflow": {"tf.function": {"jit_compile": False}, "xla": {"jit_compile": True}},
    "torch": {"inductor": {"backend": "inductor"}},
    "numpy": {},
}

Objective = Callable[[list[Any]], Any]


def load_keras(backend: str) -> Any:
    """Import Keras on ``backend``: set ``KERAS_BACKEND`` first, or check the running one."""
    if backend not in KERAS_BACKENDS:
        raise UsageError(f"Keras 3 has no {backend!r} backend "
                         f"(it has {', '.join(KERAS_BACKENDS)})")
    loaded = sys.modules.get("keras")
    if loaded is not None:
        active = loaded.backend.backend()
        if active != backend:
            raise UsageError(f"Keras already runs on {active} in this process; one process "
                             f"runs one Keras backend (start another for {backend})")
        return loaded
    if importlib.util.find_spec("keras") is None:
        raise UsageError("keras is not installed (pip install keras)")
    if not framework_importable(backend):
        raise UsageError(f"Keras's {backend} backend needs {KERAS_BACKENDS[backend]}, "
                         "which is not installed")
    os.environ["KERAS_BACKEND"] = backend
    keras = importlib.import_module("keras")
    if keras.backend.backend() != backend:
        raise UsageError(f"Keras started on {keras.backend.backend()}, not {backend}")
    return keras


def keras_object(class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    """A case's ``{class_name, config}`` as Keras 3 deserializes it: every nested layer dict
    names its module (``keras.layers``), as Keras's own ``get_config`` output does."""
    def with_module(value: Any) -> Any:
        if isinstance(value, dict):
            value = {k: with_module(v) for k, v in value.items()}
            if "class_name" in value and "config" in value and "module" not in value:
                value["module"] = "keras.layers"
        elif isinstance(value, list):
            value = [with_module(v) for v in value]
        return value

    return with_module({"class_name": class_name, "config": config})


class NoAutodiff(NotImplementedError):
    """Raised for Keras backends without automatic differentiation (numpy)."""


def grad(backend: str, objective: Objective, values: list[Any]) -> list[Any]:
    """Gradients of the scalar ``objective(values)`` w.r.t. each of ``values`` (a list of
    backend tensors), by the backend's own autodiff; an input the objective ignores gets zeros.
    """
    if backend == "jax":
        import jax

        return list(jax.grad(objective)(list(values)))
    if backend == "tensorflow":
        import tensorflow as tf

        watched = [tf.convert_to_tensor(v) for v in values]
        with tf.GradientTape() as tape:
            for v in watched:
                tape.watch(v)
            total = objective(watched)
        grads = tape.gradient(total, watched,
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return list(grads)
    if backend == "torch":
        import torch

        leaves = [v.detach().clone().requires_grad_(True) for v in values]
        total = objective(leaves)
        grads = torch.autograd.grad(total, leaves, allow_unused=True)
        return [torch.zeros_like(leaf) if g is None else g
                for g, leaf in zip(grads, leaves, strict=True)]
    raise NoAutodiff(f"Keras's {backend} backend has no automatic differentiation")


def compile(backend: str, fn: Callable[..., Any], /, **options: Any) -> Callable[..., Any]:
    """``fn`` compiled by the backend: jax.jit, tf.function (``jit_compile`` for XLA) or
    torch.compile; ValueError on a backend without a compiler."""
    if backend == "jax":
        import jax

        return jax.jit(fn, **options)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, **options)
    if backend == "torch":
        import torch

        return torch.compile(fn, **options)
    raise ValueError(f"Keras's {backend} backend has no compiler")


def device_names(backend: str) -> list[str]:
    """The devices the framework under Keras sees, as ``kind:index`` names (``cpu:0``)."""
    if backend == "jax":
        import jax

        return [f"{d.platform}:{i}" for platform in ("cpu", "gpu", "tpu")
                for i, d in enumerate(_jax_devices(jax, platform))]
    if backend == "tensorflow":
        import tensorflow as tf

        names = []
        for kind in ("CPU", "GPU"):
            names += [f"{kind.lower()}:{i}"
                      for i in range(len(tf.config.list_logical_devices(kind)))]
        return names
    if backend == "torch":
        import torch

        return ["cpu:0"] + [f"gpu:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu:0"]


def default_device(backend: str) -> str:
    """The device Keras places work on without a ``keras.device`` scope: the first GPU when
    the framework sees one, else ``cpu:0``."""
    gpus = [name for name in device_names(backend) if name.startswith("gpu:")]
    return gpus[0] if gpus else "cpu:0"


def _jax_devices(jax: Any, platform: str) -> list[Any]:
    try:
        return list(jax.devices(platform))
    except RuntimeError:  # no such platform here
        return []


def device_name(device: str) -> str:
    """A device as Keras's ``keras.device`` wants it: ``cpu`` -> ``cpu:0``."""
    device = device.lower()
    return device if ":" in device else f"{device}:0"


def framework_version(backend: str) -> str:
    """The installed version of the framework under Keras, or ``unknown``."""
    import importlib.metadata

    for dist in (backend, f"{backend}-cpu", f"{backend}_cpu"):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


#: modules a Keras backend imports besides its framework (Keras's numpy backend uses scipy)
BACKEND_NEEDS = {"numpy": ("scipy",)}


def framework_importable(backend: str) -> bool:
    """Whether the framework Keras would run on (and what that backend imports) is here."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None
               for name in (KERAS_BACKENDS[backend], *BACKEND_NEEDS.get(backend, ())))


def as_numpy(value: Any) -> np.ndarray:
    """A backend tensor as a NumPy array; bfloat16 becomes float32 (NumPy has no bfloat16)."""
    keras = importlib.import_module("keras")
    array = np.asarray(keras.ops.convert_to_numpy(value))
    if array.dtype.kind == "V" or str(array.dtype) == "bfloat16":
        return array.astype(np.float32)
    return array
