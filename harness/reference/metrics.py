"""Accuracy metrics with Keras 3 names and formulas, and the running mean that training uses.

Each function returns one value per sample (1.0 for a hit, 0.0 for a miss); ``Mean`` averages
them over an epoch, weighted by sample count as Keras's ``MeanMetricWrapper`` does.
``get(identifier)`` also accepts loss names (``"mse"`` as a metric). ``resolve_accuracy``
chooses binary, sparse or categorical accuracy for ``"accuracy"`` from the shapes, as Keras's
``compile`` does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.reference import backend as K
from harness.reference import losses


def accuracy(y_true: Any, y_pred: Any) -> Any:
    """1.0 where y_true == y_pred exactly (same rank after Keras's squeeze/expand), else 0.0."""
    y_pred = K.convert_to_tensor(y_pred)
    y_true = K.cast(K.convert_to_tensor(y_true), K.dtype(y_pred))
    y_true, y_pred = losses.same_rank(y_true, y_pred)
    return K.cast(K.equal(y_true, y_pred), "float32")


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> Any:
    """1.0 where (y_pred > threshold) equals y_true, elementwise."""
    y_pred = K.convert_to_tensor(y_pred)
    y_true = K.convert_to_tensor(y_true)
    y_true, y_pred = losses.same_rank(y_true, y_pred)
    predicted = K.cast(K.greater(y_pred, threshold), K.dtype(y_true))
    return K.cast(K.equal(y_true, predicted), "float32")


def categorical_accuracy(y_true: Any, y_pred: Any) -> Any:
    """1.0 where argmax(y_true) == argmax(y_pred) over the last axis; shape y_pred[:-1]."""
    return K.cast(K.equal(K.argmax(y_true, axis=-1), K.argmax(y_pred, axis=-1)), "float32")


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> Any:
    """1.0 where the integer label equals argmax(y_pred); labels (n,) or (n, 1)."""
    y_true = K.convert_to_tensor(y_true)
    if len(K.shape(y_true)) == len(K.shape(y_pred)) and K.shape(y_true)[-1] == 1:
        y_true = K.squeeze(y_true, -1)
    labels = K.cast(y_true, "int64")
    return K.cast(K.equal(labels, K.argmax(y_pred, axis=-1)), "float32")


acc = accuracy

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "accuracy": accuracy, "acc": accuracy, "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
}


def get(identifier: Any) -> Callable[..., Any]:
    """The per-sample metric function for a name (metric or loss name) or a callable."""
    if isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        try:
            return losses.get(identifier)  # type: ignore[no-any-return]
        except ValueError:
            pass
        raise ValueError(f"unknown metric {identifier!r} (known: {', '.join(names())})")
    if callable(identifier):
        return identifier  # type: ignore[no-any-return]
    raise ValueError(f"unknown metric {identifier!r}")


def resolve_accuracy(identifier: Any, true_shape: tuple[int, ...],
                     pred_shape: tuple[int | None, ...]) -> Callable[..., Any]:
    """The metric for ``identifier``; ``"accuracy"``/``"acc"`` become binary accuracy when
    predictions have one unit, sparse when labels lack the class axis, else categorical."""
    if not (isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc")):
        return get(identifier)
    if pred_shape[-1] == 1:
        return binary_accuracy
    if len(true_shape) < len(pred_shape) or (true_shape[-1] == 1 and (pred_shape[-1] or 2) > 1):
        return sparse_categorical_accuracy
    return categorical_accuracy


def names() -> list[str]:
    """Metric names ``get`` knows besides the loss names."""
    return sorted(_FUNCTIONS)


class Mean:
    """A running mean of per-sample values (or of batch values weighted by batch size)."""

    def __init__(self, name: str = "mean"):
        self.name = name
        self.total = 0.0
        self.count = 0.0

    def update(self, value: float, weight: float = 1.0) -> None:
        """Add ``value`` with weight ``weight`` (e.g. a batch mean and its batch size)."""
        self.total += float(value) * weight
        self.count += weight

    def result(self) -> float:
        """The weighted mean so far (0.0 before any update)."""
        return self.total / self.count if self.count else 0.0

    def reset(self) -> None:
        self.total = 0.0
        self.count = 0.0
