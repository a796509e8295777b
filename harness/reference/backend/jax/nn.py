"""JAX backend, nn: activations, convolutions and pooling (channels_last, 1-3 spatial dims).

Activations are ``jax.nn``'s; convolutions are ``jax.lax.conv_general_dilated`` (kernel
dilation as ``rhs_dilation``, depthwise as ``feature_group_count``, a transposed convolution
as a stride-1 convolution of the ``lhs_dilation``-dilated input with the flipped kernel);
pooling is ``jax.lax.reduce_window``. ``"same"`` is XLA's SAME, which puts the odd cell after
as TensorFlow does.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from harness.reference.backend.common.conv_utils import (
    check_conv_kernel,
    check_transpose_kernel,
    conv_args,
    conv_transpose_args,
    pool_args,
    spatial_rank,
)
from harness.reference.backend.jax.core import common, float_tensor, shape

# --- activations ----------------------------------------------------------------------


def relu(x: Any) -> jax.Array:
    """max(x, 0); NaN propagates; gradient 0 at 0."""
    return jax.nn.relu(float_tensor(x))


def sigmoid(x: Any) -> jax.Array:
    """1 / (1 + exp(-x))."""
    return jax.nn.sigmoid(float_tensor(x))


def softplus(x: Any) -> jax.Array:
    """log(1 + exp(x)), stable for large |x|."""
    return jax.nn.softplus(float_tensor(x))


def softsign(x: Any) -> jax.Array:
    """x / (1 + |x|)."""
    return jax.nn.soft_sign(float_tensor(x))


def elu(x: Any, alpha: float = 1.0) -> jax.Array:
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""
    return jax.nn.elu(float_tensor(x), alpha=float(alpha))


def selu(x: Any) -> jax.Array:
    """scale * elu(x, alpha) with the constants of Klambauer et al. (``jax.nn.selu``)."""
    return jax.nn.selu(float_tensor(x))


def silu(x: Any) -> jax.Array:
    """x * sigmoid(x)."""
    return jax.nn.silu(float_tensor(x))


def hard_sigmoid(x: Any) -> jax.Array:
    """relu6(x + 3) / 6 (gradient 0 at the kinks)."""
    return jax.nn.hard_sigmoid(float_tensor(x))


def gelu(x: Any, approximate: bool = False) -> jax.Array:
    """Gaussian error linear unit: the erf form, or the tanh form when ``approximate``."""
    return jax.nn.gelu(float_tensor(x), approximate=bool(approximate))


def softmax(x: Any, axis: int = -1) -> jax.Array:
    """exp(x) / sum(exp(x)) along ``axis``, computed without overflow."""
    return jax.nn.softmax(float_tensor(x), axis=axis)


def log_softmax(x: Any, axis: int = -1) -> jax.Array:
    """x - logsumexp(x) along ``axis``, computed without overflow."""
    return jax.nn.log_softmax(float_tensor(x), axis=axis)


# --- convolutions ---------------------------------------------------------------------

_SPATIAL = "DHW"  # the last N letters name the spatial axes of an N-d convolution


def _dimension_numbers(rank: int, kernel_spec: str) -> tuple[str, str, str]:
    """channels_last layouts for lax: input/output ``N...C``, kernel ``...`` + ``kernel_spec``."""
    spatial = _SPATIAL[-rank:]
    return f"N{spatial}C", spatial + kernel_spec, f"N{spatial}C"


def _operands(x: Any, kernel: Any, strides: Any, padding: Any, dilation_rate: Any, op: str
              ) -> tuple[jax.Array, jax.Array, int, tuple[int, ...], str, tuple[int, ...]]:
    """x and kernel as float tensors of one dtype, checked to be (batch, *spatial, in) and
    (*kernel_size, in, out); returns them with the spatial rank, strides, padding (XLA's
    name) and dilation."""
    x, kernel = common([float_tensor(x), float_tensor(kernel)])
    rank = check_conv_kernel(shape(x), shape(kernel), op)
    steps, mode, dilation = conv_args(rank, strides, padding, dilation_rate)
    return x, kernel, rank, steps, mode.upper(), dilation


def conv(
    x: Any, kernel: Any, strides: Any = 1, padding: str = "valid", dilation_rate: Any = 1
) -> jax.Array:
    """N-d convolution (cross-correlation, as every framework): x (batch, *spatial, in),
    kernel (*kernel_size, in, out); returns (batch, *out_spatial, out)."""
    x, kernel, rank, steps, mode, dilation = _operands(x, kernel, strides, padding,
                                                       dilation_rate, "conv")
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        window_strides=steps,
        padding=mode,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(rank, "IO"),
    )


def depthwise_conv(
    x: Any, kernel: Any, strides: Any = 1, padding: str = "valid", dilation_rate: Any = 1
) -> jax.Array:
    """Depthwise N-d convolution: kernel (*kernel_size, in, multiplier); output channel
    ``c * multiplier + m`` is input channel c convolved with kernel[..., c, m]."""
    x, kernel, rank, steps, mode, dilation = _operands(x, kernel, strides, padding,
                                                       dilation_rate, "depthwise_conv")
    channels, multiplier = kernel.shape[-2:]
    # one group per input channel; lax splits the output axis into groups of `multiplier`
    grouped = jnp.reshape(kernel, kernel.shape[:rank] + (1, channels * multiplier))
    return jax.lax.conv_general_dilated(
        x,
        grouped,
        window_strides=steps,
        padding=mode,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(rank, "IO"),
        feature_group_count=channels,
    )


def conv_transpose(
    x: Any,
    kernel: Any,
    strides: Any = 1,
    padding: str = "valid",
    output_padding: Any = None,
    dilation_rate: Any = 1,
) -> jax.Array:
    """N-d transposed convolution, kernel (*kernel_size, out, in) as Keras Conv*DTranspose;
    the output spatial size is Keras's ``deconv_output_length`` per axis."""
    x, kernel = common([float_tensor(x), float_tensor(kernel)])
    rank = check_transpose_kernel(shape(x), shape(kernel))
    size = shape(kernel)[:rank]
    strides, dilation, pads = conv_transpose_args(size, strides, padding, output_padding,
                                                  dilation_rate)
    # the adjoint of a strided conv: dilate the input by the strides, convolve with the
    # spatially flipped kernel whose (out, in) axes act as the forward (O, I)
    return jax.lax.conv_general_dilated(
        x,
        jnp.flip(kernel, axis=tuple(range(rank))),
        window_strides=(1,) * rank,
        padding=list(pads),
        lhs_dilation=strides,
        rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(rank, "OI"),
    )


# --- pooling --------------------------------------------------------------------------


def _window(
    x: Any, pool_size: Any, strides: Any, padding: Any, op: str
) -> tuple[jax.Array, dict[str, Any]]:
    """x as a float tensor and the ``reduce_window`` arguments of an N-d pooling."""
    x = float_tensor(x)
    size, steps, mode = pool_args(spatial_rank(shape(x), op), pool_size, strides, padding)
    return x, {
        "window_dimensions": (1, *size, 1),
        "window_strides": (1, *steps, 1),
        "padding": mode.upper(),
    }


def max_pool(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> jax.Array:
    """N-d max pooling (padding counts as -inf); ``jax.lax.reduce_window`` with ``lax.max``."""
    x, window = _window(x, pool_size, strides, padding, "max_pool")
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, **window)


def avg_pool(x: Any, pool_size: Any, strides: Any = None, padding: str = "valid") -> jax.Array:
    """N-d average pooling; with 'same' padding each window averages its real cells only."""
    x, window = _window(x, pool_size, strides, padding, "avg_pool")
    total = jax.lax.reduce_window(x, 0.0, jax.lax.add, **window)
    if window["padding"] == "VALID":
        cells = 1
        for n in window["window_dimensions"]:
            cells *= n
        return total / jnp.asarray(cells, x.dtype)
    # the number of real cells under each window: the same window summed over ones
    ones = jnp.ones((1, *x.shape[1:-1], 1), x.dtype)
    counts = jax.lax.reduce_window(ones, 0.0, jax.lax.add, **window)
    return total / counts
