"""Targets: a library under test on one backend and device, behind one small interface.

Checks talk to a ``Target`` only with NumPy arrays and plain data, so the same checks judge the
reference library on any backend and, through adapters, third-party libraries (Keras 3).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from harness.conformance.cases import Case, ModelCase
from harness.errors import UsageError

LIBRARIES = {"reference": "harness.conformance.targets.reference",
             "keras": "harness.conformance.targets.keras3"}


class DeviceUnavailable(RuntimeError):
    """The backend does not see the device asked for: its cases are skipped with the reason."""


@dataclass
class Built:
    """A layer built by a target for a case: the native object plus what checks need."""

    layer: Any
    case: Case
    dtype: str
    weight_names: list[str]
    trainable: list[bool]
    extra: dict[tuple[Any, ...], Any] = field(default_factory=dict)  # compiled fns by key


class Target(Protocol):
    library: str
    backend: str
    device: str

    def versions(self) -> dict[str, str]: ...
    def build(self, case: Case, dtype: str) -> Built: ...
    def get_weights(self, built: Built) -> list[np.ndarray]: ...
    def set_weights(self, built: Built, weights: list[np.ndarray]) -> None: ...
    def forward(self, built: Built, inputs: list[np.ndarray], training: bool = False,
                mask: np.ndarray | None = None) -> list[np.ndarray]: ...
    def output_shape(self, built: Built, input_shapes: list[tuple[int | None, ...]]
                     ) -> list[tuple[int | None, ...]]: ...
    def output_mask(self, built: Built, inputs: list[np.ndarray],
                    mask: np.ndarray | None) -> np.ndarray | None: ...
    def gradients(self, built: Built, inputs: list[np.ndarray], cotangents: list[np.ndarray],
                  wrt_inputs: list[int], training: bool = False,
                  mask: np.ndarray | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]: ...
    def config(self, built: Built) -> dict[str, Any]: ...
    def from_config(self, built: Built) -> Built: ...
    def formats(self) -> list[str]: ...
    def save_and_load(self, built: Built, fmt: str, folder: str) -> Built: ...
    def save(self, built: Built, fmt: str, folder: str) -> str: ...
    def load(self, path: str, like: Built) -> Built: ...
    def supports(self, dtype: str) -> bool: ...
    def train(self, case: ModelCase, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray
              ) -> dict[str, Any]: ...
    def loss(self, name: str, y_true: np.ndarray, y_pred: np.ndarray, config: dict[str, Any],
             dtype: str) -> tuple[float, np.ndarray]: ...
    def devices(self) -> list[str]: ...
    def compile_variants(self) -> dict[str, dict[str, Any]]: ...
    def compiled_forward(self, built: Built, inputs: list[np.ndarray], training: bool = False,
                         mask: np.ndarray | None = None, **options: Any) -> list[np.ndarray]: ...


@runtime_checkable
class DataParallelTarget(Protocol):
    """A target that can also train data-parallel over several devices (the reference
    library does; the Keras 3 adapter does not)."""

    def train_data_parallel(self, case: ModelCase, weights: list[np.ndarray], x: np.ndarray,
                            y: np.ndarray, devices: list[str]) -> dict[str, Any]: ...


def distribution_version(backend: str) -> str | None:
    """The installed version of ``backend``'s framework (``tensorflow`` may be installed as
    ``tensorflow-cpu``), read from package metadata without importing it; None if absent."""
    import importlib.metadata

    for name in (backend, f"{backend}-cpu"):
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def installed_backends() -> list[str]:
    """Backends whose framework and whose reference-library module are importable here."""
    import importlib.util

    found = []
    for name, module in FRAMEWORKS.items():
        if importlib.util.find_spec(module) is None:
            continue
        if importlib.util.find_spec(f"harness.reference.backend.{name}") is None:
            continue
        found.append(name)
    return found


#: the module each backend needs importable before it counts as installed
FRAMEWORKS = {"numpy": "numpy", "tensorflow": "tensorflow", "theano": "theano",
              "pytensor": "pytensor", "jax": "jax", "torch": "torch"}


def make_target(library: str, backend: str, device: str = "cpu") -> Target:
    """The target for ``library`` on ``backend`` (UsageError when unknown or not installed)."""
    module_name = LIBRARIES.get(library)
    if module_name is None:
        raise UsageError(f"unknown library {library!r} (known: {', '.join(LIBRARIES)})")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"library {library!r} is not available here: {exc}") from exc
    return module.make(backend=backend, device=device)
