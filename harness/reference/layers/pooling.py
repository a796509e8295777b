"""Pooling layers (Keras 3 names and configs), ``channels_last`` only.

Windowed pooling goes through ``K.max_pool`` / ``K.avg_pool``; global pooling reduces the
spatial axes with ``K.max`` / ``K.mean``. GlobalAveragePooling1D averages unmasked steps only.
"""

from __future__ import annotations

from typing import Any

from harness.reference import backend as K
from harness.reference.layers.base import Layer, Shape
from harness.reference.layers.convolutional import (
    as_dtype,
    check_data_format,
    check_padding,
    conv_output_length,
    normalize_tuple,
)


class _Pooling(Layer):
    """Windowed pooling over ``rank`` spatial axes; strides default to the pool size."""

    rank = 2
    mode = "max"

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.pool_size = normalize_tuple(pool_size, self.rank, "pool_size")
        self.strides = (self.pool_size if strides is None
                        else normalize_tuple(strides, self.rank, "strides"))
        self.padding = check_padding(padding)
        self.data_format = check_data_format(data_format)

    def _check_rank(self, input_shape: Shape) -> None:
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank {self.rank + 2}, "
                f"got shape {tuple(input_shape)}"
            )

    def call(self, inputs: Any) -> Any:
        x = as_dtype(inputs, self.dtype)
        pool = K.max_pool if self.mode == "max" else K.avg_pool
        return pool(x, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._check_rank(input_shape)
        spatial = [conv_output_length(n, p, s, self.padding)
                   for n, p, s in zip(input_shape[1:-1], self.pool_size, self.strides, strict=True)]
        return (input_shape[0], *spatial, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "pool_size": self.pool_size,
            "padding": self.padding,
            "strides": self.strides,
            "data_format": self.data_format,
        })
        return config


class MaxPooling1D(_Pooling):
    """Max over windows of ``pool_size`` steps."""

    rank, mode = 1, "max"


class MaxPooling2D(_Pooling):
    """Max over ``pool_size`` windows of rows and columns."""

    rank, mode = 2, "max"


class MaxPooling3D(_Pooling):
    """Max over 3-d ``pool_size`` windows."""

    rank, mode = 3, "max"


class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps ('same' averages valid cells only)."""

    rank, mode = 1, "avg"


class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of rows and columns."""

    rank, mode = 2, "avg"


class AveragePooling3D(_Pooling):
    """Mean over 3-d ``pool_size`` windows."""

    rank, mode = 3, "avg"


class _GlobalPooling(Layer):
    """Reduction over every spatial axis; ``keepdims`` keeps them with size 1."""

    rank = 2
    mode = "max"

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        self.keepdims = keepdims

    def _axes(self) -> tuple[int, ...]:
        return tuple(range(1, self.rank + 1))

    def call(self, inputs: Any) -> Any:
        x = as_dtype(inputs, self.dtype)
        reduce = K.max if self.mode == "max" else K.mean
        return reduce(x, axis=self._axes(), keepdims=self.keepdims)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank {self.rank + 2}, "
                f"got shape {tuple(input_shape)}"
            )
        if self.keepdims:
            return (input_shape[0], *([1] * self.rank), input_shape[-1])
        return (input_shape[0], input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"data_format": self.data_format, "keepdims": self.keepdims})
        return config


class GlobalMaxPooling1D(_GlobalPooling):
    """Max over the steps axis."""

    rank, mode = 1, "max"


class GlobalMaxPooling2D(_GlobalPooling):
    """Max over rows and columns."""

    rank, mode = 2, "max"


class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over rows and columns."""

    rank, mode = 2, "avg"


class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps axis; with a mask (batch, steps), over unmasked steps only."""

    rank, mode = 1, "avg"
    supports_masking = True

    def call(self, inputs: Any, mask: Any = None) -> Any:
        if mask is None:
            return super().call(inputs)
        x = as_dtype(inputs, self.dtype)
        keep = K.expand_dims(K.convert_to_tensor(mask, dtype="bool"), -1)
        # where, not multiply: a masked NaN/inf must not leak into the sum
        total = K.sum(K.where(keep, x, K.zeros((), self.dtype)), axis=1,
                      keepdims=self.keepdims)
        count = K.sum(K.cast(keep, self.dtype), axis=1, keepdims=self.keepdims)
        return K.divide(total, count)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return None
