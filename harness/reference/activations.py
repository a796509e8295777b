"""Activation functions by Keras name; each is the active backend's own op."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.reference import backend as K


def linear(x: Any) -> Any:
    return x


def _op(name: str) -> Callable[[Any], Any]:
    def activation(x: Any) -> Any:
        return getattr(K, name)(x)

    activation.__name__ = name
    return activation


_NAMES = {
    "linear": None, "relu": "relu", "sigmoid": "sigmoid", "tanh": "tanh",
    "softmax": "softmax", "log_softmax": "log_softmax", "elu": "elu", "selu": "selu",
    "softplus": "softplus", "softsign": "softsign", "hard_sigmoid": "hard_sigmoid",
    "gelu": "gelu", "silu": "silu", "swish": "silu", "exponential": "exp",
}


def get(identifier: str | None | Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The activation for a Keras name (None means linear) or a callable as given."""
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if identifier not in _NAMES:
        raise ValueError(f"unknown activation {identifier!r}")
    op = _NAMES[identifier]
    return linear if op is None else _op(op)


def serialize(identifier: str | None | Callable[[Any], Any]) -> str:
    """The Keras name of an activation (as stored in configs)."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str):
        get(identifier)  # validate
        return identifier
    name = getattr(identifier, "__name__", "")
    return "exponential" if name == "exp" else name


def names() -> list[str]:
    return sorted(_NAMES)
