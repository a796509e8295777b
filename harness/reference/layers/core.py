"""Core layers: Dense, Activation, Embedding, Masking and Dropout (Keras 3 names and configs)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.reference import activations
from harness.reference import backend as K
from harness.reference import random as reference_random
from harness.reference.layers.base import Layer

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")

# Keras short names for initializers that the registry spells out in full
_INITIALIZER_ALIASES = {"uniform": "random_uniform", "normal": "random_normal"}


def cast_floating(x: Any, dtype: str) -> Any:
    """``x`` cast to ``dtype`` when it is a floating tensor of another dtype, else ``x``.

    Keras casts floating inputs to a layer's dtype before ``call``; integer and boolean
    tensors are left alone.
    """
    current = K.dtype(x)
    if current in FLOAT_DTYPES and current != dtype:
        return K.cast(x, dtype)
    return x


def resolve_initializer(identifier: Any) -> Any:
    """The registry key for a Keras initializer name (``uniform`` -> ``random_uniform``)."""
    if isinstance(identifier, str):
        return _INITIALIZER_ALIASES.get(identifier.lower(), identifier)
    return identifier


def _check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a positive integer. "
            f"Received: {name}={value}"
        )
    return int(value)


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``, applied on the last axis of any rank >= 2."""

    supports_masking = True

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.units = _check_positive_int(units, "units")
        self.activation = activations.serialize(activation)
        self._activation_fn = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel: Any = None
        self.bias: Any = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        if len(input_shape) < 2:
            raise ValueError(
                f"Input 0 of layer {self.name!r} needs min_ndim=2, got shape {tuple(input_shape)}"
            )
        if input_shape[-1] is None:
            raise ValueError(
                f"The last dimension of the inputs to {self.name!r} must be defined; "
                f"got shape {tuple(input_shape)}"
            )
        self.kernel = self.add_weight("kernel", (input_shape[-1], self.units),
                                      resolve_initializer(self.kernel_initializer))
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.units,),
                                        resolve_initializer(self.bias_initializer))
        self.built = True

    def call(self, inputs: Any) -> Any:
        x = K.matmul(cast_floating(inputs, self.dtype), self.kernel.value)
        if self.use_bias:
            x = K.add(x, self.bias.value)
        return self._activation_fn(x)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return (*tuple(input_shape)[:-1], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "activation": self.activation,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer}


class Activation(Layer):
    """Applies an activation function elementwise."""

    supports_masking = True

    def __init__(self, activation: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self.activation = activations.serialize(activation)
        self._activation_fn = activations.get(activation)

    def call(self, inputs: Any) -> Any:
        return self._activation_fn(cast_floating(inputs, self.dtype))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation}


class Embedding(Layer):
    """Maps integer indices in ``[0, input_dim)`` to dense vectors of size ``output_dim``."""

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 mask_zero: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.input_dim = _check_positive_int(input_dim, "input_dim")
        self.output_dim = _check_positive_int(output_dim, "output_dim")
        self.embeddings_initializer = embeddings_initializer
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
        self.embeddings: Any = None

    def build(self, input_shape: Sequence[int | None]) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          resolve_initializer(self.embeddings_initializer))
        self.built = True

    def call(self, inputs: Any) -> Any:
        if K.dtype(inputs) not in ("int32", "int64"):
            inputs = K.cast(inputs, "int32")
        return K.take(self.embeddings.value, inputs, axis=0)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, ...]:
        return (*tuple(input_shape), self.output_dim)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """``inputs != 0`` when ``mask_zero``, else None (an incoming mask is replaced)."""
        if not self.mask_zero:
            return None
        return K.not_equal(inputs, 0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": self.embeddings_initializer,
                "mask_zero": self.mask_zero}


class Masking(Layer):
    """Masks timesteps whose features all equal ``mask_value`` (and zeroes them)."""

    supports_masking = True

    def __init__(self, mask_value: float = 0.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def _keep(self, inputs: Any) -> Any:
        return K.any(K.not_equal(inputs, self.mask_value), axis=-1, keepdims=True)

    def call(self, inputs: Any) -> Any:
        inputs = cast_floating(inputs, self.dtype)
        return K.multiply(inputs, K.cast(self._keep(inputs), K.dtype(inputs)))

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """True where any feature of a timestep differs from ``mask_value``."""
        return K.squeeze(self._keep(inputs), -1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}


def _validate_noise_shape(noise_shape: Any) -> tuple[int | None, ...] | None:
    if noise_shape is None:
        return None
    if isinstance(noise_shape, str):
        raise ValueError(f"`noise_shape` must be a tuple of integers or None, got {noise_shape!r}")
    try:
        dims = tuple(noise_shape)
    except TypeError:
        raise ValueError(
            f"`noise_shape` must be a tuple of integers or None, got {noise_shape!r}"
        ) from None
    for dim in dims:
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, (int, np.integer))
                                or dim <= 0):
            raise ValueError(
                f"`noise_shape` dimensions must be positive integers or None, got {dims}"
            )
    return tuple(None if d is None else int(d) for d in dims)


class Dropout(Layer):
    """Zeroes inputs with probability ``rate`` in training and scales the rest by
    ``1 / (1 - rate)``; the identity otherwise."""

    supports_masking = True

    def __init__(self, rate: float, noise_shape: Sequence[int | None] | None = None,
                 seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError(
                f"Invalid value received for argument `rate`. Expected a float value between "
                f"0 and 1. Received: rate={rate}"
            )
        self.rate = rate
        self.noise_shape = _validate_noise_shape(noise_shape)
        self.seed = seed
        # a seeded layer owns its generator, so successive calls draw fresh masks reproducibly
        self._rng: np.random.Generator | None = None

    def _generator(self) -> np.random.Generator:
        if self.seed is None:
            return reference_random.generator(None)
        if self._rng is None:
            self._rng = reference_random.generator(self.seed)
        return self._rng

    def _concrete_noise_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.noise_shape is None:
            return shape
        if len(self.noise_shape) != len(shape):
            raise ValueError(
                f"`noise_shape` {self.noise_shape} does not match the rank of inputs {shape}"
            )
        return tuple(s if n is None else n for n, s in zip(self.noise_shape, shape, strict=True))

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        inputs = cast_floating(inputs, self.dtype)
        if not training or self.rate == 0:
            return inputs
        shape = tuple(K.shape(inputs))
        dtype = K.dtype(inputs)
        if self.rate == 1:
            # as Keras: everything dropped, even NaN inputs
            return K.zeros(shape, dtype)
        keep = 1.0 - self.rate
        drawn = self._generator().uniform(size=self._concrete_noise_shape(shape)) < keep
        mask = K.convert_to_tensor(drawn.astype(np.float64), dtype=dtype)
        return K.divide(K.multiply(inputs, mask), K.convert_to_tensor(keep, dtype=dtype))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": self.noise_shape}
