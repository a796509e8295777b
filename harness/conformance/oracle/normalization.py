"""BatchNormalization and LayerNormalization, with the moments written out as sums."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.conformance.oracle import register
from harness.errors import UsageError

#: Keras's backend epsilon, added to the masked-moment divisor.
KERAS_EPSILON = 1e-7


def _axis(axis: Any, ndim: int) -> int:
    axis = int(axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis)
    if not -ndim <= axis < ndim:
        raise UsageError(f"axis {axis} out of range for rank {ndim}")
    return axis % ndim


def _split_bn_weights(config: dict[str, Any], weights: list[np.ndarray]):
    # Keras order: gamma (if scale), beta (if center), moving_mean, moving_variance
    scale, center = config.get("scale", True), config.get("center", True)
    expected = int(scale) + int(center) + 2
    if len(weights) != expected:
        raise UsageError(f"BatchNormalization expects {expected} weights, got {len(weights)}")
    rest = list(weights)
    gamma = rest.pop(0) if scale else None
    beta = rest.pop(0) if center else None
    return gamma, beta, rest[0], rest[1]


def batch_moments(x: np.ndarray, axis: int, mask: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and biased variance over every axis except ``axis``.

    With a mask (x's shape without the last axis) only unmasked positions count, and
    the divisor is their count + 1e-7, as in Keras.
    """
    xf = np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])  # (positions, features)
    if mask is None:
        n = xf.shape[0]
        mean = xf.sum(axis=0) / n
        var = ((xf - mean) ** 2).sum(axis=0) / n
        return mean, var
    # Keras broadcasts the mask along a new last axis, whatever the feature axis is
    full = np.broadcast_to(np.asarray(mask, dtype=np.float64)[..., None], x.shape)
    keep = np.moveaxis(full, axis, -1).reshape(-1, x.shape[axis])
    count = keep.sum(axis=0) + KERAS_EPSILON
    mean = (xf * keep).sum(axis=0) / count
    var = (((xf - mean) * keep) ** 2).sum(axis=0) / count
    return mean, var


def _broadcast(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    shape = [1] * ndim
    shape[axis] = v.shape[0]
    return v.reshape(shape)


@register("BatchNormalization")
def batch_normalization(config, weights, inputs, training=False, mask=None):
    """gamma * (x - mean) / sqrt(var + epsilon) + beta along ``axis``.

    Inference uses the moving statistics; training uses the batch mean and biased variance.
    """
    axis = _axis(config.get("axis", -1), inputs.ndim)
    gamma, beta, moving_mean, moving_var = _split_bn_weights(config, weights)
    if training:
        mean, var = batch_moments(inputs, axis, mask)
    else:
        mean, var = moving_mean, moving_var
    eps = config.get("epsilon", 1e-3)
    out = (inputs - _broadcast(mean, axis, inputs.ndim)) / np.sqrt(
        _broadcast(var, axis, inputs.ndim) + eps
    )
    if gamma is not None:
        out = out * _broadcast(gamma, axis, inputs.ndim)
    if beta is not None:
        out = out + _broadcast(beta, axis, inputs.ndim)
    return out


def batchnorm_moving_stats(
    config: dict[str, Any], weights: list[np.ndarray], x: np.ndarray, mask: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """(moving_mean, moving_variance) after one training step on batch ``x``.

    new = old * momentum + batch_stat * (1 - momentum), batch variance biased.
    """
    x = np.asarray(x, dtype=np.float64)
    axis = _axis(config.get("axis", -1), x.ndim)
    _, _, moving_mean, moving_var = _split_bn_weights(
        config, [np.asarray(w, dtype=np.float64) for w in weights]
    )
    mean, var = batch_moments(x, axis, mask)
    m = config.get("momentum", 0.99)
    return moving_mean * m + mean * (1 - m), moving_var * m + var * (1 - m)


@register("LayerNormalization")
def layer_normalization(config, weights, inputs, training=False, mask=None):
    """Per-sample normalisation over ``axis`` (int or list), then gamma and beta.

    Weights: gamma (if scale or rms_scaling), beta (if center and not rms_scaling), each of
    the shape of the normalised axes. With rms_scaling: x / sqrt(var + epsilon) * gamma.
    """
    axis = config.get("axis", -1)
    axes = sorted(
        {int(a) % inputs.ndim for a in (axis if isinstance(axis, (list, tuple)) else [axis])}
    )
    eps = config.get("epsilon", 1e-3)
    rms = bool(config.get("rms_scaling", False))
    scale = config.get("scale", True) or rms
    center = config.get("center", True) and not rms
    rest = list(weights)
    gamma = rest.pop(0) if scale else None
    beta = rest.pop(0) if center else None
    shape = [inputs.shape[a] if a in axes else 1 for a in range(inputs.ndim)]
    count = int(np.prod([inputs.shape[a] for a in axes]))
    mean = inputs.sum(axis=tuple(axes), keepdims=True) / count
    var = ((inputs - mean) ** 2).sum(axis=tuple(axes), keepdims=True) / count
    out = inputs / np.sqrt(var + eps) if rms else (inputs - mean) / np.sqrt(var + eps)
    if gamma is not None:
        out = out * gamma.reshape(shape)
    if beta is not None:
        out = out + beta.reshape(shape)
    return out
