"""Variables and the stateless scope through which backends differentiate a model.

A ``Variable`` holds a backend tensor. Training does not mutate variables while a gradient is
being traced: ``StatelessScope`` maps variables to substitute values (e.g. autograd boxes, JAX
tracers) and collects assignments made inside it (BatchNormalization's moving statistics), so
every backend can differentiate a pure function of the weights, as Keras 3 does.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from harness.reference import backend as K

_local = threading.local()


class Variable:
    """A named, possibly trainable weight holding a backend tensor."""

    def __init__(self, value: Any, name: str, trainable: bool = True, dtype: str = "float32"):
        self.name = name
        self.trainable = trainable
        self.dtype = dtype
        self._value = K.convert_to_tensor(np.asarray(value), dtype=dtype)

    @property
    def value(self) -> Any:
        scope = current_scope()
        if scope is not None and id(self) in scope.values:
            return scope.values[id(self)]
        return self._value

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(K.shape(self._value))

    def assign(self, value: Any) -> None:
        """Set the value (recorded in the active stateless scope, if any)."""
        scope = current_scope()
        if scope is not None:
            scope.values[id(self)] = value
            scope.assigned[id(self)] = (self, value)
            return
        self._value = K.cast(K.convert_to_tensor(value), self.dtype)

    def numpy(self) -> np.ndarray:
        return K.to_numpy(self.value)

    def __repr__(self) -> str:
        return f"<Variable {self.name} shape={self.shape} dtype={self.dtype}>"


class StatelessScope:
    """Within ``with StatelessScope({var: value})`` variables read their substitutes."""

    def __init__(self, mapping: dict[Variable, Any] | None = None):
        self.values: dict[int, Any] = {id(v): val for v, val in (mapping or {}).items()}
        self.assigned: dict[int, tuple[Variable, Any]] = {}

    def __enter__(self) -> StatelessScope:
        stack = getattr(_local, "stack", [])
        stack.append(self)
        _local.stack = stack
        return self

    def __exit__(self, *exc: object) -> None:
        _local.stack.pop()

    def updates(self) -> list[tuple[Variable, Any]]:
        """Assignments made inside the scope, in order."""
        return list(self.assigned.values())


def current_scope() -> StatelessScope | None:
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None
