"""BatchNormalization and LayerNormalization (Keras 3 names, defaults, weights and configs).

Both compute in at least float32 (float16 inputs are upcast, as Keras does) and return the
layer's dtype.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.reference import backend as K
from harness.reference.layers.base import Layer
from harness.reference.layers.core import cast_floating, resolve_initializer

# Keras' backend.epsilon(): keeps masked means finite when a channel has no unmasked value
_EPSILON = 1e-7


def _compute_dtype(dtype: str) -> str:
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def _normalized_axis(axis: int, rank: int, received: Any) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"Axis {axis} is out of bounds for input of rank {rank}. "
                         f"Received: axis={received}")
    return axis % rank


def _broadcastable(value: Any, rank: int, axes: Sequence[int]) -> Any:
    """A weight of shape (shape[a] for a in axes) reshaped to broadcast against rank dims."""
    shape = [1] * rank
    for axis, size in zip(axes, K.shape(value), strict=True):
        shape[axis] = size
    return K.reshape(value, tuple(shape))


class BatchNormalization(Layer):
    """Normalizes each feature along ``axis`` with batch statistics in training (and updates
    the moving statistics) and with the moving statistics in inference."""

    supports_masking = True

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self.gamma: Any = None
        self.beta: Any = None
        self.moving_mean: Any = None
        self.moving_variance: Any = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        axis = _normalized_axis(self.axis, len(input_shape), self.axis)
        size = input_shape[axis]
        if size is None:
            raise ValueError(f"Axis {self.axis} of the input to {self.name!r} must be defined; "
                             f"got shape {tuple(input_shape)}")
        shape = (size,)
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, resolve_initializer(
                self.gamma_initializer))
        if self.center:
            self.beta = self.add_weight("beta", shape, resolve_initializer(
                self.beta_initializer))
        self.moving_mean = self.add_weight("moving_mean", shape, resolve_initializer(
            self.moving_mean_initializer), trainable=False)
        self.moving_variance = self.add_weight("moving_variance", shape, resolve_initializer(
            self.moving_variance_initializer), trainable=False)
        self.built = True

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        _normalized_axis(self.axis, len(input_shape), self.axis)
        return tuple(input_shape)

    def _moments(self, x: Any, axis: int, mask: Any) -> tuple[Any, Any]:
        """Per-feature mean and biased variance over every axis but ``axis``."""
        rank = len(K.shape(x))
        reduce = tuple(a for a in range(rank) if a != axis)
        if mask is None:
            mean = K.mean(x, axis=reduce, keepdims=True)
            variance = K.mean(K.square(K.subtract(x, mean)), axis=reduce, keepdims=True)
        else:
            # masked positions get weight 0 (mask has one dimension less than x, as Keras)
            weights = K.cast(K.expand_dims(mask, -1), K.dtype(x))
            weights = K.multiply(weights, K.ones(K.shape(x), K.dtype(x)))
            total = K.add(K.sum(weights, axis=reduce, keepdims=True), _EPSILON)
            mean = K.divide(K.sum(K.multiply(x, weights), axis=reduce, keepdims=True), total)
            deviation = K.multiply(K.subtract(x, mean), weights)
            variance = K.divide(K.sum(K.square(deviation), axis=reduce, keepdims=True), total)
        return K.reshape(mean, (-1,)), K.reshape(variance, (-1,))

    def _update_moving(self, variable: Any, batch_value: Any) -> None:
        old = K.cast(variable.value, K.dtype(batch_value))
        new = K.add(K.multiply(old, self.momentum),
                    K.multiply(batch_value, 1.0 - self.momentum))
        variable.assign(K.cast(K.stop_gradient(new), variable.dtype))

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        inputs = cast_floating(inputs, self.dtype)
        x = K.cast(inputs, _compute_dtype(self.dtype))
        rank = len(K.shape(x))
        axis = _normalized_axis(self.axis, rank, self.axis)
        if mask is not None and len(K.shape(mask)) != rank - 1:
            raise ValueError(f"The mask provided should be one dimension less than the inputs. "
                             f"Received: mask.shape={K.shape(mask)}, inputs.shape={K.shape(x)}")
        dtype = K.dtype(x)
        if training and self.trainable:
            mean, variance = self._moments(x, axis, mask)
            self._update_moving(self.moving_mean, mean)
            self._update_moving(self.moving_variance, variance)
        else:
            mean = K.cast(self.moving_mean.value, dtype)
            variance = K.cast(self.moving_variance.value, dtype)
        inv = K.divide(1.0, K.sqrt(K.add(variance, self.epsilon)))
        if self.scale:
            inv = K.multiply(inv, K.cast(self.gamma.value, dtype))
        shift = K.negative(K.multiply(mean, inv))
        if self.center:
            shift = K.add(shift, K.cast(self.beta.value, dtype))
        out = K.add(K.multiply(x, _broadcastable(inv, rank, (axis,))),
                    _broadcastable(shift, rank, (axis,)))
        return K.cast(out, self.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": self.beta_initializer,
                "gamma_initializer": self.gamma_initializer,
                "moving_mean_initializer": self.moving_mean_initializer,
                "moving_variance_initializer": self.moving_variance_initializer}


class LayerNormalization(Layer):
    """Normalizes each sample over ``axis`` (an int or a list of ints), then scales by
    ``gamma`` and shifts by ``beta``."""

    supports_masking = True

    def __init__(self, axis: int | Sequence[int] = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, rms_scaling: bool = False,
                 beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axis, (list, tuple)):
            self.axis: int | list[int] = [int(a) for a in axis]
        elif isinstance(axis, int) and not isinstance(axis, bool):
            self.axis = axis
        else:
            raise TypeError("Expected an int or a list/tuple of ints for the argument 'axis', "
                            f"but received: {axis!r}")
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = bool(rms_scaling)
        self.beta_initializer = beta_initializer
        self.gamma_initializer = gamma_initializer
        self.gamma: Any = None
        self.beta: Any = None

    def _axes(self, rank: int) -> tuple[int, ...]:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        return tuple(sorted({_normalized_axis(a, rank, self.axis) for a in axes}))

    def build(self, input_shape: Sequence[int | None]) -> None:
        axes = self._axes(len(input_shape))
        sizes = [input_shape[a] for a in axes]
        shape = tuple(s for s in sizes if s is not None)
        if len(shape) != len(sizes):
            raise ValueError(f"The normalized axes of the input to {self.name!r} must be "
                             f"defined; got shape {tuple(input_shape)}")
        if self.scale or self.rms_scaling:
            self.gamma = self.add_weight("gamma", shape, resolve_initializer(
                self.gamma_initializer))
        if self.center and not self.rms_scaling:
            self.beta = self.add_weight("beta", shape, resolve_initializer(
                self.beta_initializer))
        self.built = True

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        self._axes(len(input_shape))
        return tuple(input_shape)

    def call(self, inputs: Any) -> Any:
        x = K.cast(cast_floating(inputs, self.dtype), _compute_dtype(self.dtype))
        rank = len(K.shape(x))
        axes = self._axes(rank)
        dtype = K.dtype(x)
        mean = K.mean(x, axis=axes, keepdims=True)
        variance = K.mean(K.square(K.subtract(x, mean)), axis=axes, keepdims=True)
        inv = K.divide(1.0, K.sqrt(K.add(variance, self.epsilon)))
        if self.rms_scaling:
            # Keras' deprecated rms_scaling: x / sqrt(var + eps) * gamma, no centring
            out = K.multiply(x, inv)
            if self.gamma is not None:
                out = K.multiply(out, _broadcastable(K.cast(self.gamma.value, dtype), rank,
                                                     axes))
            return K.cast(out, self.dtype)
        out = K.multiply(K.subtract(x, mean), inv)
        if self.gamma is not None:
            out = K.multiply(out, _broadcastable(K.cast(self.gamma.value, dtype), rank, axes))
        if self.beta is not None:
            out = K.add(out, _broadcastable(K.cast(self.beta.value, dtype), rank, axes))
        return K.cast(out, self.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": self.beta_initializer,
                "gamma_initializer": self.gamma_initializer}
