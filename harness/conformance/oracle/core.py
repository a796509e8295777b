"""Core layers (Dense, Dropout, Embedding, Masking, Identity) and the mask each layer emits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness.conformance.oracle import register
from harness.conformance.oracle.activations import activation
from harness.errors import UsageError


@register("Dense")
def dense(config, weights, inputs, training=False, mask=None):
    """activation(x @ kernel + bias) on the last axis of any-rank input; weights [kernel, bias?]."""
    kernel = weights[0]
    units = kernel.shape[1]
    flat = inputs.reshape(-1, inputs.shape[-1])
    out = np.zeros((flat.shape[0], units))
    # y[n, u] = sum_i x[n, i] * W[i, u], written as the sum it is
    for i in range(flat.shape[1]):
        out += np.outer(flat[:, i], kernel[i])
    if config.get("use_bias", True):
        out = out + weights[1]
    out = out.reshape(inputs.shape[:-1] + (units,))
    return activation(config.get("activation"), out)


@register("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D")
def dropout(config, weights, inputs, training=False, mask=None):
    """Identity at inference; a training-mode dropout output is random and judged statistically."""
    if training and config.get("rate", 0.0) > 0:
        raise ValueError("dropout in training mode is random: judge its mask statistically")
    return inputs


@register("Identity")
def identity(config, weights, inputs, training=False, mask=None):
    """The input, unchanged."""
    return inputs


@register("Embedding")
def embedding(config, weights, inputs, training=False, mask=None):
    """Row ``inputs[...]`` of the embeddings matrix; output shape inputs.shape + (output_dim,)."""
    (table,) = weights
    # Keras casts float indices to int32, which truncates toward zero
    idx = np.asarray(inputs).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= table.shape[0]):
        raise UsageError(
            f"Embedding index out of range [0, {table.shape[0]}): min {idx.min()}, max {idx.max()}"
        )
    out = np.empty(idx.shape + (table.shape[1],))
    for pos in np.ndindex(idx.shape):
        out[pos] = table[idx[pos]]
    return out


def _masking_keep(config: dict[str, Any], x: np.ndarray) -> np.ndarray:
    # a timestep is kept unless every feature equals mask_value
    return np.any(x != config.get("mask_value", 0.0), axis=-1)


@register("Masking")
def masking(config, weights, inputs, training=False, mask=None):
    """Zero every timestep whose features all equal ``mask_value``; other steps unchanged."""
    keep = _masking_keep(config, inputs)
    return np.where(keep[..., None], inputs, 0.0)


MaskRule = Callable[[dict[str, Any], Any, Any], Any]
_MASK_RULES: dict[str, MaskRule] = {}


def mask_rule(*names: str) -> Callable[[MaskRule], MaskRule]:
    """Register how layers ``names`` compute their output mask: ``fn(config, inputs, mask)``."""

    def decorate(fn: MaskRule) -> MaskRule:
        for name in names:
            _MASK_RULES[name] = fn
        return fn

    return decorate


#: Keras layers with ``supports_masking`` and the default compute_mask: the mask passes through.
PASS_THROUGH = frozenset(
    {
        "Dense",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "Identity",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "ELU",
        "PReLU",
        "Softmax",
        "BatchNormalization",
        "LayerNormalization",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "ActivityRegularization",
    }
)


@mask_rule("Embedding")
def _embedding_mask(config, inputs, mask):
    if not config.get("mask_zero", False):
        return None
    return np.asarray(inputs) != 0


@mask_rule("Masking")
def _masking_mask(config, inputs, mask):
    return _masking_keep(config, np.asarray(inputs))


@mask_rule("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
def _merge_mask(config, inputs, mask):
    # Keras's base Merge: OR of the input masks, None as soon as one input is unmasked
    if mask is None or any(m is None for m in mask):
        return None
    out = np.asarray(mask[0], dtype=bool)
    for m in mask[1:]:
        out = out | np.asarray(m, dtype=bool)
    return out


@mask_rule("Concatenate")
def _concatenate_mask(config, inputs, mask):
    # per-element masks concatenated along the axis, then "any" over the last axis
    if mask is None or all(m is None for m in mask):
        return None
    full = []
    for x, m in zip(inputs, mask, strict=True):
        x = np.asarray(x)
        if m is None:
            full.append(np.ones(x.shape, dtype=bool))
        elif np.ndim(m) < x.ndim:
            full.append(np.broadcast_to(np.asarray(m, dtype=bool)[..., None], x.shape))
        else:
            full.append(np.asarray(m, dtype=bool))
    return np.any(np.concatenate(full, axis=config.get("axis", -1)), axis=-1)


def compute_mask(layer: str, config: dict[str, Any], inputs: Any, mask: Any = None) -> Any:
    """The boolean mask Keras layer ``layer`` emits for ``inputs`` given the input ``mask``.

    Returns an array, or None when the layer emits no mask (layers without mask support,
    and layers that consume it such as GlobalAveragePooling1D or Dot).
    """
    rule = _MASK_RULES.get(layer)
    if rule is not None:
        return rule(config, inputs, mask)
    if layer in PASS_THROUGH:
        return mask
    return None
