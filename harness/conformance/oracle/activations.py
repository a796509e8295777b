"""Activation functions by Keras 3 name, and the activation layers (float64, elementwise).

``activation(name, x)`` is what every oracle module applies for a config's ``activation``.
Formulas are the textbook definitions, written out element by element where a library would
fuse them (softmax subtracts the row maximum only to stay finite; the value is unchanged).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.conformance.oracle import register
from harness.errors import UsageError

#: SELU constants from Klambauer et al. (2017), as Keras uses them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # two branches so neither exp overflows: 1/(1+e^-x) for x>=0, e^x/(1+e^x) otherwise
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def _softplus(x: np.ndarray) -> np.ndarray:
    # log(1 + e^x) = max(x, 0) + log(1 + e^-|x|), finite for any x
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def softmax(x: np.ndarray, axis: int | tuple[int, ...] = -1) -> np.ndarray:
    """exp(x) / sum(exp(x)) along ``axis`` (one axis or several); returns an array of x's shape."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    ex = np.exp(shifted)
    return ex / np.sum(ex, axis=axis, keepdims=True)


def _elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _hard_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(x / 6.0 + 0.5, 0.0, 1.0)


def relu(
    x: np.ndarray,
    negative_slope: float = 0.0,
    max_value: float | None = None,
    threshold: float = 0.0,
) -> np.ndarray:
    """Keras's generalised ReLU; returns an array of x's shape.

    x above ``threshold`` passes (capped at ``max_value``); below it the output is
    ``negative_slope * (x - threshold)``.
    """
    # NaN must propagate (tf.nn.relu, torch.relu and jax.nn.relu all keep it)
    out = np.where((x > threshold) | np.isnan(x), x, 0.0)
    if max_value is not None:
        out = np.minimum(out, max_value)
    if negative_slope:
        out = out - negative_slope * np.maximum(threshold - x, 0.0)
    return out


_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: x,
    "relu": relu,
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "softmax": softmax,
    "log_softmax": lambda x: np.log(softmax(x)),
    "elu": _elu,
    "selu": lambda x: SELU_SCALE * _elu(x, SELU_ALPHA),
    "celu": lambda x: np.maximum(x, 0.0) + np.expm1(np.minimum(x, 0.0)),
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "hard_sigmoid": _hard_sigmoid,
    "hard_silu": lambda x: x * _hard_sigmoid(x),
    "hard_swish": lambda x: x * _hard_sigmoid(x),
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "silu": lambda x: x * _sigmoid(x),
    "swish": lambda x: x * _sigmoid(x),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "exponential": np.exp,
    "log_sigmoid": lambda x: -_softplus(-x),
}


def names() -> list[str]:
    """Activation names the oracle knows."""
    return sorted(_FUNCTIONS)


def activation(name: Any, x: np.ndarray) -> np.ndarray:
    """Apply the Keras activation ``name`` (None means linear) to ``x``; returns float64.

    ``name`` may also be a serialized Keras object (``{"config": "relu", ...}``).
    """
    if name is None:
        name = "linear"
    if isinstance(name, dict):
        name = name.get("config")
    if not isinstance(name, str) or name not in _FUNCTIONS:
        raise UsageError(f"the oracle has no activation {name!r}")
    return np.asarray(_FUNCTIONS[name](np.asarray(x, dtype=np.float64)), dtype=np.float64)


@register("Activation")
def activation_layer(config, weights, inputs, training=False, mask=None):
    """Keras ``Activation``: the named function, elementwise."""
    return activation(config.get("activation"), inputs)


@register("ReLU")
def relu_layer(config, weights, inputs, training=False, mask=None):
    """Keras ``ReLU`` layer (max_value, negative_slope, threshold)."""
    return relu(
        inputs,
        negative_slope=config.get("negative_slope", 0.0) or 0.0,
        max_value=config.get("max_value"),
        threshold=config.get("threshold", 0.0) or 0.0,
    )


@register("LeakyReLU")
def leaky_relu_layer(config, weights, inputs, training=False, mask=None):
    """Keras ``LeakyReLU`` layer: x for x >= 0, negative_slope * x below (default 0.3)."""
    slope = config.get("negative_slope", config.get("alpha", 0.3))
    return np.where(inputs >= 0, inputs, slope * inputs)


@register("ELU")
def elu_layer(config, weights, inputs, training=False, mask=None):
    """Keras ``ELU`` layer: x for x >= 0, alpha * (e^x - 1) below."""
    return _elu(inputs, config.get("alpha", 1.0))


@register("PReLU")
def prelu_layer(config, weights, inputs, training=False, mask=None):
    """Keras ``PReLU``: max(x, 0) - alpha * max(-x, 0); weights [alpha] (shared axes size 1)."""
    (alpha,) = weights
    return np.maximum(inputs, 0.0) - alpha * np.maximum(-inputs, 0.0)


#: the value Keras's Softmax layer writes into masked positions before normalising
SOFTMAX_MASK_VALUE = -1e9


@register("Softmax")
def softmax_layer(config, weights, inputs, training=False, mask=None):
    """Keras ``Softmax`` layer: softmax over ``axis`` (int or list); masked positions give 0."""
    axis = config.get("axis", -1)
    axis = tuple(axis) if isinstance(axis, (list, tuple)) else axis
    x = inputs
    if mask is not None:
        keep = np.asarray(mask)
        keep = keep > 0.5 if keep.dtype != bool else keep
        x = np.where(keep, x, SOFTMAX_MASK_VALUE)
    out = softmax(x, axis=axis)
    if mask is not None:
        out = np.where(keep, out, 0.0)
    return out
