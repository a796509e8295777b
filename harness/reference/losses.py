"""Loss functions and classes with Keras 3 names, formulas and reduction.

Functions (``mean_squared_error(y_true, y_pred)``, ...) return one value per sample (the last
axis reduced); classes (``MeanSquaredError()``) reduce those with Keras 3's default
``"sum_over_batch_size"`` (the sum divided by the number of values). Probabilities are clipped
to ``[EPSILON, 1 - EPSILON]``; the ``from_logits`` forms use ``log_softmax`` and ``softplus`` so
that logits of +-1e4 give finite values and gradients. ``get(identifier)`` resolves a name,
alias, config dict or callable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.reference import backend as K

#: Keras's ``backend.epsilon()``: how far probabilities are kept from 0 and 1.
EPSILON = 1e-7

REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "none", None)


def same_rank(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Squeeze or expand the last axis when the ranks differ by one (Keras's rule)."""
    t_rank, p_rank = len(K.shape(y_true)), len(K.shape(y_pred))
    if t_rank == p_rank + 1 and K.shape(y_true)[-1] == 1:
        if p_rank == 1:
            y_pred = K.expand_dims(y_pred, -1)
        else:
            y_true = K.squeeze(y_true, -1)
    elif p_rank == t_rank + 1 and K.shape(y_pred)[-1] == 1:
        if t_rank == 1:
            y_true = K.expand_dims(y_true, -1)
        else:
            y_pred = K.squeeze(y_pred, -1)
    return y_true, y_pred


def _prepare(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Targets cast to the prediction's dtype, both at the same rank."""
    y_pred = K.convert_to_tensor(y_pred)
    y_true = K.cast(K.convert_to_tensor(y_true), K.dtype(y_pred))
    return same_rank(y_true, y_pred)


# --- regression ------------------------------------------------------------------------------
def mean_squared_error(y_true: Any, y_pred: Any) -> Any:
    """mean((y_pred - y_true)^2) over the last axis; shape ``y_pred.shape[:-1]``."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return K.mean(K.square(K.subtract(y_pred, y_true)), axis=-1)


def mean_absolute_error(y_true: Any, y_pred: Any) -> Any:
    """mean(|y_pred - y_true|) over the last axis."""
    y_true, y_pred = _prepare(y_true, y_pred)
    return K.mean(K.abs(K.subtract(y_pred, y_true)), axis=-1)


def huber(y_true: Any, y_pred: Any, delta: float = 1.0) -> Any:
    """mean over the last axis of 0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2."""
    y_true, y_pred = _prepare(y_true, y_pred)
    error = K.subtract(y_pred, y_true)
    abs_error = K.abs(error)
    quadratic = K.multiply(0.5, K.square(error))
    linear = K.subtract(K.multiply(delta, abs_error), 0.5 * delta * delta)
    return K.mean(K.where(K.less_equal(abs_error, delta), quadratic, linear), axis=-1)


def hinge(y_true: Any, y_pred: Any) -> Any:
    """mean(max(1 - y_true * y_pred, 0)) over the last axis; 0/1 labels become -1/1."""
    y_true, y_pred = _prepare(y_true, y_pred)
    is_binary = K.all(K.logical_or(K.equal(y_true, 0), K.equal(y_true, 1)))
    y_true = K.where(is_binary, K.subtract(K.multiply(2.0, y_true), 1.0), y_true)
    return K.mean(K.maximum(K.subtract(1.0, K.multiply(y_true, y_pred)), 0.0), axis=-1)


def kl_divergence(y_true: Any, y_pred: Any) -> Any:
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [EPSILON, 1]."""
    y_pred = K.convert_to_tensor(y_pred)
    y_true = K.cast(K.convert_to_tensor(y_true), K.dtype(y_pred))
    y_true = K.clip(y_true, EPSILON, 1.0)
    y_pred = K.clip(y_pred, EPSILON, 1.0)
    return K.sum(K.multiply(y_true, K.log(K.divide(y_true, y_pred))), axis=-1)


# --- classification --------------------------------------------------------------------------
def _log_probabilities(y_pred: Any, from_logits: bool, axis: int) -> Any:
    """log p along ``axis``: log_softmax of logits, or of normalised clipped probabilities."""
    if from_logits:
        return K.log_softmax(y_pred, axis=axis)
    probs = K.divide(y_pred, K.sum(y_pred, axis=axis, keepdims=True))
    return K.log(K.clip(probs, EPSILON, 1.0 - EPSILON))


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> Any:
    """Mean over ``axis`` of -(y log p + (1 - y) log(1 - p)); labels smoothed towards 0.5."""
    y_pred = K.convert_to_tensor(y_pred)
    y_true = K.cast(K.convert_to_tensor(y_true), K.dtype(y_pred))
    if label_smoothing:
        y_true = K.add(K.multiply(y_true, 1.0 - label_smoothing), 0.5 * label_smoothing)
    if from_logits:
        # softplus(x) - x * y equals the crossentropy of sigmoid(x), without overflow
        per_value = K.subtract(K.softplus(y_pred), K.multiply(y_pred, y_true))
    else:
        p = K.clip(y_pred, EPSILON, 1.0 - EPSILON)
        log_p, log_not_p = K.log(p), K.log(K.subtract(1.0, p))
        per_value = K.negative(K.add(K.multiply(y_true, log_p),
                                     K.multiply(K.subtract(1.0, y_true), log_not_p)))
    return K.mean(per_value, axis=axis)


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> Any:
    """-sum(y_true * log p) over ``axis``; one-hot labels smoothed by label_smoothing / classes."""
    y_pred = K.convert_to_tensor(y_pred)
    y_true = K.cast(K.convert_to_tensor(y_true), K.dtype(y_pred))
    if K.shape(y_true) != K.shape(y_pred):
        raise ValueError("categorical_crossentropy needs y_true and y_pred of the same shape, "
                         f"got {K.shape(y_true)} and {K.shape(y_pred)}")
    if label_smoothing:
        classes = K.shape(y_true)[axis]
        y_true = K.add(K.multiply(y_true, 1.0 - label_smoothing), label_smoothing / classes)
    log_p = _log_probabilities(y_pred, from_logits, axis)
    return K.negative(K.sum(K.multiply(y_true, log_p), axis=axis))


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    axis: int = -1) -> Any:
    """categorical_crossentropy of integer labels (shape ``y_pred.shape[:-1]``, or with a
    trailing 1)."""
    y_pred = K.convert_to_tensor(y_pred)
    y_true = K.convert_to_tensor(y_true)
    if len(K.shape(y_true)) == len(K.shape(y_pred)) and K.shape(y_true)[-1] == 1:
        y_true = K.squeeze(y_true, -1)
    if tuple(K.shape(y_true)) != tuple(K.shape(y_pred))[:-1]:
        raise ValueError("sparse_categorical_crossentropy needs y_true of shape "
                         f"{tuple(K.shape(y_pred))[:-1]}, got {K.shape(y_true)}")
    if axis not in (-1, len(K.shape(y_pred)) - 1):
        raise ValueError("sparse_categorical_crossentropy supports the last axis only")
    labels = K.one_hot(K.cast(y_true, "int32"), K.shape(y_pred)[-1], dtype=K.dtype(y_pred))
    log_p = _log_probabilities(y_pred, from_logits, -1)
    return K.negative(K.sum(K.multiply(labels, log_p), axis=-1))


# --- classes ---------------------------------------------------------------------------------
def reduce_values(values: Any, sample_weight: Any = None,
                  reduction: str | None = "sum_over_batch_size") -> Any:
    """Per-sample ``values`` (times ``sample_weight``) reduced as Keras 3 reduces losses."""
    if sample_weight is not None:
        weight = K.cast(K.convert_to_tensor(sample_weight), K.dtype(values))
        values = K.multiply(values, weight)
    if reduction in (None, "none") or len(K.shape(values)) == 0:
        return values
    total = K.sum(values)
    if reduction == "sum":
        return total
    count = 1
    for dim in K.shape(values):
        count *= dim
    return K.divide(total, max(count, 1))


class Loss:
    """A loss object: ``loss(y_true, y_pred, sample_weight=None)`` is a reduced scalar."""

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size",
                 dtype: str | None = None):
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.name = name or type(self).__name__
        self.reduction = reduction
        self.dtype = dtype

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Per-sample loss values (subclasses implement it)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement call")

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        return reduce_values(self.call(y_true, y_pred), sample_weight, self.reduction)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)


class LossFunctionWrapper(Loss):
    """A ``Loss`` around a per-sample function and its keyword arguments."""

    def __init__(self, fn: Callable[..., Any], reduction: str | None = "sum_over_batch_size",
                 name: str | None = None, dtype: str | None = None, **fn_kwargs: Any):
        super().__init__(name=name or fn.__name__, reduction=reduction, dtype=dtype)
        self.fn = fn
        self.fn_kwargs = fn_kwargs

    def call(self, y_true: Any, y_pred: Any) -> Any:
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.fn_kwargs}


def _wrapper_class(class_name: str, fn: Callable[..., Any], default_name: str,
                   **defaults: Any) -> type[LossFunctionWrapper]:
    """A Keras-style loss class calling ``fn`` with keyword arguments ``defaults``."""

    def __init__(self: LossFunctionWrapper, reduction: str | None = "sum_over_batch_size",
                 name: str = default_name, dtype: str | None = None, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{class_name} got unexpected arguments: {sorted(unknown)}")
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name, dtype=dtype,
                                     **{**defaults, **kwargs})

    doc = f"``{fn.__name__}`` reduced over the batch (arguments: {sorted(defaults) or 'none'})."
    return type(class_name, (LossFunctionWrapper,), {"__init__": __init__, "__doc__": doc})


MeanSquaredError = _wrapper_class("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper_class("MeanAbsoluteError", mean_absolute_error,
                                   "mean_absolute_error")
Huber = _wrapper_class("Huber", huber, "huber_loss", delta=1.0)
Hinge = _wrapper_class("Hinge", hinge, "hinge")
KLDivergence = _wrapper_class("KLDivergence", kl_divergence, "kl_divergence")
BinaryCrossentropy = _wrapper_class("BinaryCrossentropy", binary_crossentropy,
                                    "binary_crossentropy", from_logits=False,
                                    label_smoothing=0.0, axis=-1)
CategoricalCrossentropy = _wrapper_class("CategoricalCrossentropy", categorical_crossentropy,
                                         "categorical_crossentropy", from_logits=False,
                                         label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = _wrapper_class(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy", from_logits=False, axis=-1)

# Keras's short and legacy names
mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
kld = KLD = kullback_leibler_divergence = kl_divergence

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "mean_squared_error": mean_squared_error, "mse": mse, "MSE": MSE,
    "mean_absolute_error": mean_absolute_error, "mae": mae, "MAE": MAE,
    "huber": huber, "huber_loss": huber, "hinge": hinge,
    "kl_divergence": kl_divergence, "kld": kld, "KLD": KLD,
    "kullback_leibler_divergence": kl_divergence,
    "binary_crossentropy": binary_crossentropy,
    "categorical_crossentropy": categorical_crossentropy,
    "sparse_categorical_crossentropy": sparse_categorical_crossentropy,
}
_CLASSES: dict[str, type[Loss]] = {cls.__name__: cls for cls in (
    MeanSquaredError, MeanAbsoluteError, Huber, Hinge, KLDivergence, BinaryCrossentropy,
    CategoricalCrossentropy, SparseCategoricalCrossentropy)}


def get(identifier: Any) -> Any:
    """The loss for ``identifier``: a function for a function name or alias, a new instance
    for a class name or a ``{"class_name", "config"}`` dict, a callable as given."""
    if isinstance(identifier, str):
        if identifier in _FUNCTIONS:
            return _FUNCTIONS[identifier]
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
    elif isinstance(identifier, dict) and identifier.get("class_name") in _CLASSES:
        return _CLASSES[identifier["class_name"]].from_config(identifier.get("config", {}))
    elif callable(identifier):
        return identifier
    raise ValueError(f"unknown loss {identifier!r} (known: {', '.join(names())})")


def serialize(loss: Any) -> Any:
    """A JSON-able form of ``loss``: a function's name, or a class's ``{class_name, config}``."""
    if isinstance(loss, Loss) and type(loss).__name__ in _CLASSES:
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    name = getattr(loss, "__name__", None)
    if name in _FUNCTIONS and _FUNCTIONS[name] is loss:
        return name
    raise ValueError(f"loss {loss!r} cannot be serialized by name")


def names() -> list[str]:
    """Every function name, alias and class name ``get`` accepts."""
    return sorted([*_FUNCTIONS, *_CLASSES])
