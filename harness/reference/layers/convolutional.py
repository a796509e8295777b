"""Convolution layers (Keras 3 names, configs and weight layouts), ``channels_last`` only.

Conv1D/2D/3D compute through ``K.conv``, DepthwiseConv2D and the depthwise half of
SeparableConv2D through ``K.depthwise_conv``, Conv*DTranspose through ``K.conv_transpose``.
Output sizes come from ``backend/common/conv_utils``; the wrappers here (None dims, causal
padding, empty outputs) are shared with ``pooling``.
"""

from __future__ import annotations

from typing import Any

from harness.reference import activations
from harness.reference import backend as K
from harness.reference.backend.common import conv_utils
from harness.reference.backend.common.conv_utils import normalize_tuple
from harness.reference.layers.base import Layer, Shape


def check_data_format(data_format: str | None) -> str:
    """The data format to use: ``channels_last`` (the only one supported); else ValueError."""
    if data_format is None or data_format == "channels_last":
        return "channels_last"
    raise ValueError(f"only data_format='channels_last' is supported, got {data_format!r}")


def check_padding(padding: str, allow_causal: bool = False) -> str:
    """``padding`` lower-cased and validated (``valid``, ``same``, ``causal`` where allowed)."""
    allowed = ("valid", "same", "causal") if allow_causal else ("valid", "same")
    value = str(padding).lower()
    if value not in allowed:
        raise ValueError(f"`padding` must be one of {allowed}, got {padding!r}")
    return value


def conv_output_length(length: int | None, kernel: int, stride: int, padding: str,
                       dilation: int = 1) -> int | None:
    """Output length of a convolution or pooling window along one axis (None stays None);
    ValueError when the window does not fit."""
    if length is None:
        return None
    if padding == "causal":
        # causal pads the past by the window's extent - 1, so it sizes like 'same' at stride 1
        out = (length - 1) // stride + 1
    else:
        out = conv_utils.conv_output_length(length, kernel, stride, padding, dilation)
    if out <= 0:
        raise ValueError(
            f"window of size {conv_utils.dilated_size(kernel, dilation)} with padding "
            f"{padding!r} does not fit an input of length {length}: the output would be empty"
        )
    return out


def conv_transpose_output_length(length: int | None, kernel: int, stride: int, padding: str,
                                 output_padding: int | None, dilation: int = 1) -> int | None:
    """Output length of a transposed convolution along one axis, as Keras 3 computes it."""
    if length is None:
        return None
    return conv_utils.deconv_output_length(length, kernel, padding, output_padding, stride,
                                           dilation)


def check_filters(filters: Any) -> int:
    """``filters`` checked to be a positive int (ValueError otherwise)."""
    if isinstance(filters, bool) or not isinstance(filters, int) or filters <= 0:
        raise ValueError(f"`filters` must be a positive int, got {filters!r}")
    return filters


def as_dtype(x: Any, dtype: str) -> Any:
    """``x`` cast to ``dtype`` when it is not already (layers compute in their own dtype)."""
    return x if K.dtype(x) == dtype else K.cast(x, dtype)


class _BaseConv(Layer):
    """Shared constructor, config and shape logic of every convolution layer."""

    rank = 2

    def __init__(self, kernel_size: Any, strides: Any = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = 1, activation: Any = None, use_bias: bool = True,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.kernel_size = normalize_tuple(kernel_size, self.rank, "kernel_size")
        self.strides = normalize_tuple(strides, self.rank, "strides")
        self.dilation_rate = normalize_tuple(dilation_rate, self.rank, "dilation_rate")
        self.padding = check_padding(padding, allow_causal=self._allows_causal())
        self.data_format = check_data_format(data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("`strides > 1` is not compatible with `dilation_rate > 1`")
        self.activation = activations.get(activation)
        self.use_bias = use_bias

    def _allows_causal(self) -> bool:
        return False

    def _check_rank(self, input_shape: Shape) -> None:
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank {self.rank + 2} "
                f"(batch, *spatial, channels), got shape {tuple(input_shape)}"
            )

    def _channels(self, input_shape: Shape) -> int:
        """The input channel count, which weights need (ValueError when unknown)."""
        self._check_rank(input_shape)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{type(self).__name__} needs a known channel dimension")
        return channels

    def _spatial_out(self, input_shape: Shape) -> list[int | None]:
        return [
            conv_output_length(n, k, s, self.padding, d)
            for n, k, s, d in zip(input_shape[1:-1], self.kernel_size, self.strides,
                                  self.dilation_rate, strict=True)
        ]

    def _finish(self, y: Any, bias: Any) -> Any:
        if bias is not None:
            y = K.add(y, bias.value)
        return self.activation(y)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
        })
        return config


class _Conv(_BaseConv):
    """N-d convolution: kernel (*kernel_size, in // groups, filters), then bias."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = 1, groups: int = 1, activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", **kwargs: Any):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)
        self.filters = check_filters(filters)
        if not isinstance(groups, int) or groups <= 0 or self.filters % groups:
            raise ValueError(f"`groups` must be a positive divisor of filters, got {groups!r}")
        self.groups = groups
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape: Shape) -> None:
        channels = self._channels(input_shape)
        if channels % self.groups:
            raise ValueError(
                f"input channels ({channels}) must be divisible by groups ({self.groups})"
            )
        self.kernel = self.add_weight(
            "kernel", (*self.kernel_size, channels // self.groups, self.filters),
            self.kernel_initializer)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer)
                     if self.use_bias else None)
        self.built = True

    def _convolve(self, x: Any, kernel: Any, padding: str) -> Any:
        if self.groups == 1:
            return K.conv(x, kernel, self.strides, padding, self.dilation_rate)
        c_in = K.shape(x)[-1] // self.groups
        c_out = self.filters // self.groups
        parts = [
            K.conv(K.slice_axis(x, -1, g * c_in, (g + 1) * c_in),
                   K.slice_axis(kernel, -1, g * c_out, (g + 1) * c_out),
                   self.strides, padding, self.dilation_rate)
            for g in range(self.groups)
        ]
        return K.concatenate(parts, axis=-1)

    def call(self, inputs: Any) -> Any:
        x = as_dtype(inputs, self.dtype)
        padding = self.padding
        if padding == "causal":
            # causal = pad the past only, then a valid convolution
            left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
            x = K.pad(x, [(0, 0), (left, 0), (0, 0)])
            padding = "valid"
        return self._finish(self._convolve(x, self.kernel.value, padding), self.bias)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._check_rank(input_shape)
        return (input_shape[0], *self._spatial_out(input_shape), self.filters)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "groups": self.groups,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        })
        return config


class Conv1D(_Conv):
    """1-d convolution over (batch, steps, channels); ``padding='causal'`` allowed."""

    rank = 1

    def _allows_causal(self) -> bool:
        return True


class Conv2D(_Conv):
    """2-d convolution over (batch, rows, cols, channels)."""

    rank = 2


class Conv3D(_Conv):
    """3-d convolution over (batch, d1, d2, d3, channels)."""

    rank = 3


class _ConvTranspose(_BaseConv):
    """N-d transposed convolution: kernel (*kernel_size, filters, in), Keras output sizes."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1,
                 padding: str = "valid", output_padding: Any = None,
                 data_format: str | None = None, dilation_rate: Any = 1,
                 activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)
        self.filters = check_filters(filters)
        if output_padding is None:
            self.output_padding = None
        else:
            pads = (output_padding,) * self.rank if isinstance(output_padding, int) \
                else tuple(output_padding)
            if len(pads) != self.rank or any(
                    p < 0 or p >= s for p, s in zip(pads, self.strides, strict=True)):
                raise ValueError(
                    f"`output_padding` must be {self.rank} non-negative ints each smaller "
                    f"than the stride {self.strides}, got {output_padding!r}"
                )
            self.output_padding = pads
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape: Shape) -> None:
        self.kernel = self.add_weight(
            "kernel", (*self.kernel_size, self.filters, self._channels(input_shape)),
            self.kernel_initializer)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer)
                     if self.use_bias else None)
        self.built = True

    def call(self, inputs: Any) -> Any:
        x = as_dtype(inputs, self.dtype)
        y = K.conv_transpose(x, self.kernel.value, self.strides, self.padding,
                             self.output_padding, self.dilation_rate)
        return self._finish(y, self.bias)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._check_rank(input_shape)
        pads = self.output_padding or (None,) * self.rank
        spatial = [
            conv_transpose_output_length(n, k, s, self.padding, p, d)
            for n, k, s, p, d in zip(input_shape[1:-1], self.kernel_size, self.strides, pads,
                                     self.dilation_rate, strict=True)
        ]
        return (input_shape[0], *spatial, self.filters)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "output_padding": self.output_padding,
            "kernel_initializer": self.kernel_initializer,
            "bias_initializer": self.bias_initializer,
        })
        return config


class Conv1DTranspose(_ConvTranspose):
    """Transposed 1-d convolution."""

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """Transposed 2-d convolution (``output_padding`` as Keras)."""

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """Transposed 3-d convolution."""

    rank = 3


class DepthwiseConv2D(_BaseConv):
    """Per-channel 2-d convolution: kernel (kh, kw, in, depth_multiplier), bias (in*mult)."""

    rank = 2

    def __init__(self, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 depth_multiplier: int = 1, data_format: str | None = None,
                 dilation_rate: Any = (1, 1), activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)
        if not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise ValueError(f"`depth_multiplier` must be a positive int, got {depth_multiplier!r}")
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = depthwise_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape: Shape) -> None:
        channels = self._channels(input_shape)
        self.kernel = self.add_weight(
            "kernel", (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer)
        self.bias = (self.add_weight("bias", (channels * self.depth_multiplier,),
                                     self.bias_initializer) if self.use_bias else None)
        self.built = True

    def call(self, inputs: Any) -> Any:
        x = as_dtype(inputs, self.dtype)
        y = K.depthwise_conv(x, self.kernel.value, self.strides, self.padding,
                             self.dilation_rate)
        return self._finish(y, self.bias)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._check_rank(input_shape)
        channels = input_shape[-1]
        out_channels = None if channels is None else channels * self.depth_multiplier
        return (input_shape[0], *self._spatial_out(input_shape), out_channels)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": self.depthwise_initializer,
            "bias_initializer": self.bias_initializer,
        })
        return config


class SeparableConv2D(_BaseConv):
    """Depthwise 2-d convolution followed by a 1x1 pointwise convolution, then bias."""

    rank = 2

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = (1, 1), depth_multiplier: int = 1,
                 activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform",
                 pointwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 **kwargs: Any):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, **kwargs)
        self.filters = check_filters(filters)
        if not isinstance(depth_multiplier, int) or depth_multiplier <= 0:
            raise ValueError(f"`depth_multiplier` must be a positive int, got {depth_multiplier!r}")
        self.depth_multiplier = depth_multiplier
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.bias_initializer = bias_initializer

    def build(self, input_shape: Shape) -> None:
        channels = self._channels(input_shape)
        self.depthwise_kernel = self.add_weight(
            "depthwise_kernel", (*self.kernel_size, channels, self.depth_multiplier),
            self.depthwise_initializer)
        self.pointwise_kernel = self.add_weight(
            "pointwise_kernel", (1, 1, channels * self.depth_multiplier, self.filters),
            self.pointwise_initializer)
        self.bias = (self.add_weight("bias", (self.filters,), self.bias_initializer)
                     if self.use_bias else None)
        self.built = True

    def call(self, inputs: Any) -> Any:
        x = as_dtype(inputs, self.dtype)
        y = K.depthwise_conv(x, self.depthwise_kernel.value, self.strides, self.padding,
                             self.dilation_rate)
        y = K.conv(y, self.pointwise_kernel.value, (1, 1), "valid", (1, 1))
        return self._finish(y, self.bias)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        self._check_rank(input_shape)
        return (input_shape[0], *self._spatial_out(input_shape), self.filters)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "filters": self.filters,
            "depth_multiplier": self.depth_multiplier,
            "depthwise_initializer": self.depthwise_initializer,
            "pointwise_initializer": self.pointwise_initializer,
            "bias_initializer": self.bias_initializer,
        })
        return config
