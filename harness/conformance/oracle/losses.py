"""Oracle losses, metrics and loss gradients in float64, with Keras 3 semantics.

``per_sample`` gives Keras's unreduced loss (one value per sample: the mean over the last
axis, or a sum where Keras sums); ``loss`` reduces it as Keras's default
``"sum_over_batch_size"`` does (the mean of all per-sample values). Probabilities are clipped
to [1e-7, 1 - 1e-7] (Keras's ``epsilon``); ``from_logits`` uses exact log-sigmoid and
log-softmax forms that stay finite for logits of any size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness.errors import UsageError

#: Keras's backend epsilon, used to clip probabilities.
EPSILON = 1e-7

_ALIASES = {
    "mse": "mean_squared_error",
    "MeanSquaredError": "mean_squared_error",
    "mae": "mean_absolute_error",
    "MeanAbsoluteError": "mean_absolute_error",
    "BinaryCrossentropy": "binary_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    "Hinge": "hinge",
    "Huber": "huber",
    "kld": "kl_divergence",
    "KLD": "kl_divergence",
    "KLDivergence": "kl_divergence",
    "Accuracy": "accuracy",
    "BinaryAccuracy": "binary_accuracy",
    "CategoricalAccuracy": "categorical_accuracy",
    "SparseCategoricalAccuracy": "sparse_categorical_accuracy",
}
# Keys a Keras Loss.get_config() carries that do not change the per-sample value.
_IGNORED_KEYS = {"name", "dtype", "reduction", "axis"}


def _canonical(name: str) -> str:
    return _ALIASES.get(name, name)


def _same_rank(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras's squeeze-or-expand rule: a trailing size-1 axis reconciles ranks differing by 1."""
    for flip in (False, True):
        a, b = (y_pred, y_true) if flip else (y_true, y_pred)
        if a.ndim == b.ndim + 1 and a.shape[-1] == 1:
            if b.ndim == 1:
                b = b[:, None]
            else:
                a = a[..., 0]
        y_true, y_pred = (b, a) if flip else (a, b)
    return y_true, y_pred


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    # log(1 / (1 + e^-x)) = min(x, 0) - log1p(e^-|x|): no overflow for any x
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def _log_softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _clip(p: np.ndarray) -> np.ndarray:
    return np.clip(p, EPSILON, 1.0 - EPSILON)


def _mse(t, p):
    return np.mean((t - p) ** 2, axis=-1)


def _mae(t, p):
    return np.mean(np.abs(t - p), axis=-1)


def _bce(t, p, from_logits=False, label_smoothing=0.0):
    t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        elementwise = -(t * _log_sigmoid(p) + (1.0 - t) * _log_sigmoid(-p))
    else:
        q = _clip(p)
        elementwise = -(t * np.log(q) + (1.0 - t) * np.log(1.0 - q))
    return np.mean(elementwise, axis=-1)


def _cce(t, p, from_logits=False, label_smoothing=0.0):
    if t.shape != p.shape:
        raise UsageError(
            f"categorical_crossentropy needs y_true and y_pred of one shape, "
            f"got {t.shape} and {p.shape}"
        )
    t = t * (1.0 - label_smoothing) + label_smoothing / p.shape[-1]
    if from_logits:
        log_prob = _log_softmax(p)
    else:
        # Keras renormalises the rows before clipping.
        log_prob = np.log(_clip(p / p.sum(axis=-1, keepdims=True)))
    return -np.sum(t * log_prob, axis=-1)


def _one_hot(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """One-hot rows for integer ``labels`` shaped like ``scores`` (class axis last)."""
    classes = scores.shape[-1]
    if labels.ndim == scores.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    index = labels.astype(np.int64)
    if np.any(index != labels) or (index.size and (index.min() < 0 or index.max() >= classes)):
        raise UsageError(f"sparse labels must be integers in [0, {classes})")
    return np.eye(classes)[index]


def _sparse_cce(t, p, from_logits=False):
    return _cce(_one_hot(t, p), p, from_logits=from_logits)


def _hinge(t, p):
    if np.all((t == 0) | (t == 1)):
        t = 2.0 * t - 1.0  # Keras maps binary 0/1 labels to -1/1
    return np.mean(np.maximum(1.0 - t * p, 0.0), axis=-1)


def _huber(t, p, delta=1.0):
    err = p - t
    small = np.abs(err) <= delta
    return np.mean(np.where(small, 0.5 * err**2, delta * np.abs(err) - 0.5 * delta**2), axis=-1)


def _kld(t, p):
    t, p = np.clip(t, EPSILON, 1.0), np.clip(p, EPSILON, 1.0)
    return np.sum(t * np.log(t / p), axis=-1)


_LOSSES: dict[str, Callable[..., np.ndarray]] = {
    "mean_squared_error": _mse,
    "mean_absolute_error": _mae,
    "binary_crossentropy": _bce,
    "categorical_crossentropy": _cce,
    "sparse_categorical_crossentropy": _sparse_cce,
    "hinge": _hinge,
    "huber": _huber,
    "kl_divergence": _kld,
}


def _prepare(name: str, y_true: Any, y_pred: Any, config: dict[str, Any]) -> tuple:
    key = _canonical(name)
    if key not in _LOSSES:
        raise UsageError(f"the oracle has no loss {name!r}")
    if config.get("axis", -1) != -1:
        raise UsageError("the oracle computes losses over the last axis only")
    t, p = _same_rank(np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64))
    kwargs = {k: v for k, v in config.items() if k not in _IGNORED_KEYS}
    return key, t, p, kwargs


def per_sample(name: str, y_true: Any, y_pred: Any, /, **config: Any) -> np.ndarray:
    """Keras's unreduced loss ``name`` (e.g. ``"mse"``, ``"binary_crossentropy"``).

    ``config`` holds the loss's options (``from_logits``, ``label_smoothing``, ``delta``).
    Returns a float64 array of y_pred's shape without its last axis.
    """
    key, t, p, kwargs = _prepare(name, y_true, y_pred, config)
    try:
        return np.asarray(_LOSSES[key](t, p, **kwargs), dtype=np.float64)
    except TypeError as exc:
        raise UsageError(f"bad option for loss {name!r}: {exc}") from None


def _reduce(values: np.ndarray, reduction: Any) -> float:
    if reduction in ("sum_over_batch_size", "mean", None):
        return float(values.mean()) if values.size else 0.0
    if reduction == "sum":
        return float(values.sum())
    raise UsageError(
        f"the oracle supports reductions sum_over_batch_size and sum, not {reduction!r}"
    )


def loss(name: str, y_true: Any, y_pred: Any, /, **config: Any) -> float:
    """Loss ``name`` reduced as Keras 3 does by default: the mean of the per-sample values.

    ``reduction="sum"`` sums them instead. Returns a Python float.
    """
    return _reduce(
        per_sample(name, y_true, y_pred, **config), config.get("reduction", "sum_over_batch_size")
    )


def loss_grad(name: str, y_true: Any, y_pred: Any, /, **config: Any) -> np.ndarray:
    """Analytic d loss(name, y_true, y_pred, **config) / d y_pred, an array of y_pred's shape.

    Covers mean_squared_error, mean_absolute_error (sign(y_pred - y_true), taking 0 where
    they are equal and |.| has no derivative, as TF, JAX and PyTorch do), huber, hinge and the
    ``from_logits=True`` cross-entropies (binary, categorical, sparse categorical). Other
    losses raise UsageError: use finite differences for them.
    """
    key, t, p, kwargs = _prepare(name, y_true, y_pred, config)
    if config.get("reduction", "sum_over_batch_size") not in ("sum_over_batch_size", "mean", None):
        raise UsageError("loss_grad covers the sum_over_batch_size reduction only")
    smooth = kwargs.get("label_smoothing", 0.0)
    if key == "mean_squared_error":
        g = 2.0 * (p - t) / p.size
    elif key == "mean_absolute_error":
        g = np.sign(p - t) / p.size
    elif key == "huber":
        delta, err = kwargs.get("delta", 1.0), p - t
        g = np.where(np.abs(err) <= delta, err, delta * np.sign(err)) / p.size
    elif key == "hinge":
        signed = 2.0 * t - 1.0 if np.all((t == 0) | (t == 1)) else t
        g = np.where(1.0 - signed * p > 0, -signed, 0.0) / p.size
    elif key == "binary_crossentropy" and kwargs.get("from_logits", False):
        t = t * (1.0 - smooth) + 0.5 * smooth
        g = (np.exp(_log_sigmoid(p)) - t) / p.size
    elif key in ("categorical_crossentropy", "sparse_categorical_crossentropy") and kwargs.get(
        "from_logits", False
    ):
        if key == "sparse_categorical_crossentropy":
            t = _one_hot(t, p)
        else:
            t = t * (1.0 - smooth) + smooth / p.shape[-1]
        samples = p.size // p.shape[-1]
        g = (np.exp(_log_softmax(p)) * t.sum(axis=-1, keepdims=True) - t) / samples
    else:
        raise UsageError(f"no analytic gradient for loss {name!r} with {kwargs}")
    return np.asarray(g, dtype=np.float64).reshape(np.shape(y_pred))


def _matches(key: str, t: np.ndarray, p: np.ndarray, threshold: float) -> np.ndarray:
    if key == "accuracy":
        t, p = _same_rank(t, p)
        return t == p
    if key == "binary_accuracy":
        t, p = _same_rank(t, p)
        return t == (p > threshold)
    if key == "categorical_accuracy":
        return np.argmax(t, axis=-1) == np.argmax(p, axis=-1)
    if key == "sparse_categorical_accuracy":
        if t.ndim == p.ndim and t.shape[-1] == 1:
            t = t[..., 0]
        return t == np.argmax(p, axis=-1)
    raise UsageError(f"the oracle has no metric {key!r}")


def metric(name: str, y_true: Any, y_pred: Any, threshold: float = 0.5) -> float:
    """Keras 3 metric ``name`` (accuracy, binary_accuracy, categorical_accuracy,
    sparse_categorical_accuracy) over the whole batch: the fraction of matches, a float.

    ``threshold`` is binary_accuracy's: a prediction above it counts as 1.
    """
    key = _canonical(name)
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    matches = _matches(key, t, p, threshold)
    return float(np.mean(matches)) if matches.size else 0.0
