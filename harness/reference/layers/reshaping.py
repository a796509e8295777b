"""Reshaping layers: Flatten, Reshape, Permute, RepeatVector, ZeroPadding2D, Cropping2D and
UpSampling2D (channels_last only; Keras 3 names, configs and output shapes)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.reference import backend as K
from harness.reference.layers.base import Layer

Shape = tuple[int | None, ...]


def standardize_data_format(data_format: str | None) -> str:
    """``channels_last`` for None or ``channels_last``; ValueError for anything else."""
    if data_format is None or str(data_format).lower() == "channels_last":
        return "channels_last"
    raise ValueError(
        f"data_format={data_format!r} is not supported: the reference library is "
        "channels_last only"
    )


def _int_tuple(value: Any, n: int, name: str, allow_zero: bool) -> tuple[int, ...]:
    """``value`` (an int or n ints) as a tuple of n ints, validated as Keras does."""
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (int(value),) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values
        ):
            raise ValueError(message)
        values = tuple(int(v) for v in values)
    low = 0 if allow_zero else 1
    if any(v < low for v in values):
        raise ValueError(f"{message}; every value must be >= {low}")
    return values


def _pairs(value: Any, name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Keras' 2-D padding/cropping forms (int, (h, w), ((t, b), (l, r))) as two pairs."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"`{name}` cannot be negative. Received: {name}={value}.")
        return ((int(value),) * 2, (int(value),) * 2)
    if not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(
            f"`{name}` should be an int, a tuple of 2 ints or a tuple of 2 tuples of 2 ints. "
            f"Received: {name}={value}."
        )
    height = _int_tuple(value[0], 2, f"1st entry of {name}", allow_zero=True)
    width = _int_tuple(value[1], 2, f"2nd entry of {name}", allow_zero=True)
    return (height, width)  # type: ignore[return-value]


def _check_rank(layer: Layer, input_shape: Sequence[Any], ndim: int) -> None:
    if len(input_shape) != ndim:
        raise ValueError(
            f"Input 0 of layer {layer.name!r} is incompatible with the layer: expected "
            f"ndim={ndim}, found ndim={len(input_shape)}. Full shape received: "
            f"{tuple(input_shape)}"
        )


class Flatten(Layer):
    """Flattens every non-batch dimension into one: (batch, ...) -> (batch, prod(...))."""

    def __init__(self, data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)

    def call(self, inputs: Any) -> Any:
        shape = tuple(K.shape(inputs))
        return K.reshape(inputs, (shape[0], math.prod(shape[1:])))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> Shape:
        rest = [d for d in tuple(input_shape)[1:] if d is not None]
        flat = math.prod(rest) if len(rest) == len(input_shape) - 1 else None
        return (input_shape[0], flat)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


def _validate_target_shape(target: tuple[int, ...]) -> None:
    for dim in target:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < -1:
            raise ValueError(
                "Each dimension in `target_shape` must be a non-negative integer, or `-1` "
                f"for a single unknown dimension. Received: target_shape={target}."
            )
    if target.count(-1) > 1:
        raise ValueError(
            "There must be at most one unknown dimension (-1) in `target_shape`. "
            f"Received: target_shape={target}."
        )


def resolve_target_shape(input_dims: Sequence[int | None], target: tuple[int, ...]) -> Shape:
    """``target`` with its -1 resolved against ``input_dims`` (None when not knowable).

    Raises ValueError when the sizes cannot match, as Keras does.
    """
    if None in input_dims:
        return tuple(None if d == -1 else d for d in target)
    size = math.prod(input_dims)  # type: ignore[arg-type]
    if -1 not in target:
        if size != math.prod(target):
            raise ValueError(
                "The total size of the tensor must be unchanged. Received: "
                f"input_shape={tuple(input_dims)}, target_shape={target}"
            )
        return target
    known = math.prod(d for d in target if d != -1)
    if known == 0 or size % known != 0:
        raise ValueError(
            "The total size of the tensor must be unchanged, however, the input size cannot "
            "be divided by the specified dimensions in target_shape. Received: "
            f"input_shape={tuple(input_dims)}, target_shape={target}"
        )
    return tuple(size // known if d == -1 else d for d in target)


class Reshape(Layer):
    """Reshapes the non-batch dimensions to ``target_shape`` (one -1 allowed)."""

    def __init__(self, target_shape: Sequence[int], **kwargs: Any):
        super().__init__(**kwargs)
        target = tuple(target_shape)
        _validate_target_shape(target)
        self.target_shape = tuple(int(d) for d in target)

    def call(self, inputs: Any) -> Any:
        shape = tuple(K.shape(inputs))
        return K.reshape(inputs, (shape[0], *resolve_target_shape(shape[1:], self.target_shape)))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> Shape:
        return (input_shape[0], *resolve_target_shape(tuple(input_shape)[1:], self.target_shape))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": self.target_shape}


class Permute(Layer):
    """Permutes the non-batch dimensions; ``dims`` is 1-indexed (``(2, 1)`` swaps two axes)."""

    def __init__(self, dims: Sequence[int], **kwargs: Any):
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                "Invalid permutation argument `dims` for Permute Layer. The set of indices in "
                f"`dims` must be consecutive and start from 1. Received dims={tuple(dims)}"
            )

    def build(self, input_shape: Sequence[int | None]) -> None:
        _check_rank(self, input_shape, len(self.dims) + 1)
        self.built = True

    def call(self, inputs: Any) -> Any:
        return K.transpose(inputs, (0, *self.dims))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> Shape:
        _check_rank(self, input_shape, len(self.dims) + 1)
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """Repeats a (batch, features) input ``n`` times: (batch, n, features)."""

    def __init__(self, n: int, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n <= 0:
            raise ValueError(f"Argument `n` should be a positive integer. Received: n={n}")
        self.n = int(n)

    def build(self, input_shape: Sequence[int | None]) -> None:
        _check_rank(self, input_shape, 2)
        self.built = True

    def call(self, inputs: Any) -> Any:
        return K.repeat(K.expand_dims(inputs, 1), self.n, axis=1)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> Shape:
        _check_rank(self, input_shape, 2)
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class ZeroPadding2D(Layer):
    """Pads rows and columns of a (batch, height, width, channels) input with zeros."""

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.padding = _pairs(padding, "padding")

    def build(self, input_shape: Sequence[int | None]) -> None:
        _check_rank(self, input_shape, 4)
        self.built = True

    def call(self, inputs: Any) -> Any:
        return K.pad(inputs, ((0, 0), *self.padding, (0, 0)))

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> Shape:
        _check_rank(self, input_shape, 4)
        out = list(input_shape)
        for i, (before, after) in enumerate(self.padding, start=1):
            if out[i] is not None:
                out[i] = out[i] + before + after  # type: ignore[operator]
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding,
                "data_format": self.data_format}


class Cropping2D(Layer):
    """Crops rows and columns of a (batch, height, width, channels) input."""

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.cropping = _pairs(cropping, "cropping")

    def _check_fits(self, input_shape: Sequence[int | None]) -> None:
        _check_rank(self, input_shape, 4)
        for dim, crop in zip(input_shape[1:3], self.cropping, strict=True):
            if dim is not None and sum(crop) >= dim:
                raise ValueError(
                    "Values in `cropping` argument should be smaller than the corresponding "
                    f"spatial dimension of the input. Received: input_shape="
                    f"{tuple(input_shape)}, cropping={self.cropping}"
                )

    def build(self, input_shape: Sequence[int | None]) -> None:
        self._check_fits(input_shape)
        self.built = True

    def call(self, inputs: Any) -> Any:
        shape = tuple(K.shape(inputs))
        self._check_fits(shape)
        x = inputs
        for axis, (before, after) in enumerate(self.cropping, start=1):
            x = K.slice_axis(x, axis, before, shape[axis] - after)
        return x

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> Shape:
        self._check_fits(input_shape)
        out = list(input_shape)
        for i, crop in enumerate(self.cropping, start=1):
            if out[i] is not None:
                out[i] = out[i] - sum(crop)  # type: ignore[operator]
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping,
                "data_format": self.data_format}


def bilinear_matrix(size_in: int, factor: int) -> np.ndarray:
    """(size_in * factor, size_in) weights of half-pixel-centre bilinear upsampling.

    Output cell ``o`` samples the input at ``(o + 0.5) / factor - 0.5``, clamped to the edge
    cells (TensorFlow's ``resize(..., 'bilinear')``, ``F.interpolate(align_corners=False)``).
    """
    weights = np.zeros((size_in * factor, size_in))
    for out in range(size_in * factor):
        src = min(max((out + 0.5) / factor - 0.5, 0.0), size_in - 1.0)
        low = int(math.floor(src))
        high = min(low + 1, size_in - 1)
        frac = src - low
        weights[out, low] += 1.0 - frac
        weights[out, high] += frac
    return weights


class UpSampling2D(Layer):
    """Repeats rows and columns ``size`` times ('nearest') or interpolates ('bilinear')."""

    def __init__(self, size: Any = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs: Any):
        super().__init__(**kwargs)
        self.data_format = standardize_data_format(data_format)
        self.size = _int_tuple(size, 2, "size", allow_zero=False)
        self.interpolation = str(interpolation).lower()
        if self.interpolation not in ("nearest", "bilinear"):
            raise ValueError(
                f"interpolation={interpolation!r} is not supported: use 'nearest' or 'bilinear'"
            )

    def build(self, input_shape: Sequence[int | None]) -> None:
        _check_rank(self, input_shape, 4)
        self.built = True

    def call(self, inputs: Any) -> Any:
        if self.interpolation == "nearest":
            x = K.repeat(inputs, self.size[0], axis=1)
            return K.repeat(x, self.size[1], axis=2)
        _, height, width, _ = K.shape(inputs)
        dtype = K.dtype(inputs)
        rows = K.convert_to_tensor(bilinear_matrix(height, self.size[0]), dtype=dtype)
        cols = K.convert_to_tensor(bilinear_matrix(width, self.size[1]), dtype=dtype)
        x = K.einsum("oh,bhwc->bowc", rows, inputs)
        return K.einsum("pw,bowc->bopc", cols, x)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> Shape:
        _check_rank(self, input_shape, 4)
        batch, height, width, channels = input_shape
        return (batch, None if height is None else height * self.size[0],
                None if width is None else width * self.size[1], channels)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}
