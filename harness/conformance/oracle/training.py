"""Training trajectories of a Sequential stack in float64: forward, loss, gradients, updates.

The forward pass uses the oracle's registered layer formulas (training mode, masks passed
along as Keras's Sequential does); gradients come from backpropagation layer by layer:
analytic for Dense and Activation with the common activations, central finite differences
of the layer's own formula otherwise. The optimizer and loss are this package's oracles.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.conformance.oracle import losses, numeric, optimizers
from harness.errors import UsageError

Arrays = list[np.ndarray]
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_UNMODELLED_KEYS = (
    "kernel_regularizer",
    "bias_regularizer",
    "recurrent_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
    "recurrent_constraint",
    "beta_regularizer",
    "gamma_regularizer",
    "embeddings_regularizer",
    "embeddings_constraint",
)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _activation_name(name: Any) -> Any:
    if name is None:
        return "linear"
    if isinstance(name, dict):
        return name.get("config")
    return name


def activation_vjp(name: Any, z: np.ndarray, a: np.ndarray, g: np.ndarray) -> np.ndarray | None:
    """d/dz of sum(activation(z) * g), given ``a = activation(z)``; None for an activation
    without an analytic derivative here (the caller then uses finite differences).

    At kinks (relu at 0, hard_sigmoid at +-3) the derivative taken is 0 on the flat side,
    the convention of TF, JAX and PyTorch.
    """
    name = _activation_name(name)
    if name == "softmax":
        return a * (g - np.sum(g * a, axis=-1, keepdims=True))
    erf = np.vectorize(math.erf, otypes=[np.float64])
    derivatives = {
        "linear": lambda: np.ones_like(z),
        "relu": lambda: (z > 0).astype(np.float64),
        "relu6": lambda: ((z > 0) & (z < 6)).astype(np.float64),
        "leaky_relu": lambda: np.where(z >= 0, 1.0, 0.2),
        "sigmoid": lambda: a * (1.0 - a),
        "tanh": lambda: 1.0 - a * a,
        "elu": lambda: np.where(z >= 0, 1.0, np.exp(np.minimum(z, 0.0))),
        "selu": lambda: (
            _SELU_SCALE * np.where(z > 0, 1.0, _SELU_ALPHA * np.exp(np.minimum(z, 0.0)))
        ),
        "softplus": lambda: _sigmoid(z),
        "softsign": lambda: 1.0 / (1.0 + np.abs(z)) ** 2,
        "hard_sigmoid": lambda: ((z > -3.0) & (z < 3.0)) / 6.0,
        "gelu": lambda: (
            0.5 * (1.0 + erf(z / math.sqrt(2.0)))
            + z * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
        ),
        "swish": lambda: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z))),
        "silu": lambda: _sigmoid(z) * (1.0 + z * (1.0 - _sigmoid(z))),
        "exponential": lambda: np.exp(z),
    }
    if name not in derivatives:
        return None
    return derivatives[name]() * g


def _trainable_positions(kind: str, config: dict[str, Any], n_weights: int) -> list[int]:
    """Indices of a layer's weights that the optimizer updates (Keras's trainable_weights)."""
    if not config.get("trainable", True):
        return []
    if kind == "BatchNormalization":
        return list(range(n_weights - 2))  # moving_mean, moving_variance come last
    return list(range(n_weights))


def _check_modelled(kind: str, config: dict[str, Any]) -> None:
    for key in _UNMODELLED_KEYS:
        if config.get(key) is not None:
            raise UsageError(f"{kind} {key} is not modelled by the oracle trajectory")
    if kind == "BatchNormalization" and config.get("renorm", False):
        raise UsageError("BatchNormalization renorm is not modelled by the oracle trajectory")


def _layer_training(kind: str, config: dict[str, Any]) -> bool:
    # Keras's BatchNormalization uses batch statistics only when the layer is trainable.
    return bool(config.get("trainable", True)) if kind == "BatchNormalization" else True


def _registry() -> tuple[Any, Any]:
    """The oracle's ``forward`` and ``compute_mask`` (imported late: they load every formula)."""
    from harness.conformance.oracle import forward
    from harness.conformance.oracle.core import compute_mask

    return forward, compute_mask


def _forward(
    stack: list[tuple[str, dict[str, Any]]], weights: list[Arrays], x: np.ndarray
) -> tuple[list[Any], list[Any], np.ndarray, Any]:
    """Run the stack; returns (layer inputs, layer input masks, output, output mask)."""
    forward, compute_mask = _registry()

    inputs: list[Any] = []
    masks: list[Any] = []
    mask: Any = None
    h = x
    for (kind, cfg), w in zip(stack, weights, strict=True):
        inputs.append(h)
        masks.append(mask)
        out = forward(kind, cfg, w, h, training=_layer_training(kind, cfg), mask=mask)
        if isinstance(out, (list, tuple)):
            raise UsageError(f"{kind} returns several outputs: it cannot sit in a Sequential stack")
        mask = compute_mask(kind, cfg, h, mask)
        h = np.asarray(out, dtype=np.float64)
    return inputs, masks, h, mask


def _dense_vjp(
    cfg: dict[str, Any], w: Arrays, x: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, Arrays] | None:
    """(d/dx, [d/dkernel, d/dbias]) of sum(Dense(x) * g), or None without an analytic path."""
    from harness.conformance.oracle.activations import activation

    kernel = w[0]
    flat_x = x.reshape(-1, x.shape[-1])
    z = np.einsum("ni,iu->nu", flat_x, kernel)
    if cfg.get("use_bias", True):
        z = z + w[1]
    a = activation(cfg.get("activation"), z)
    gz = activation_vjp(cfg.get("activation"), z, a, g.reshape(z.shape))
    if gz is None:
        return None
    grads = [np.einsum("ni,nu->iu", flat_x, gz)]
    if cfg.get("use_bias", True):
        grads.append(gz.sum(axis=0))
    gx = np.einsum("nu,iu->ni", gz, kernel).reshape(x.shape)
    return gx, grads


def _layer_vjp(
    kind: str,
    cfg: dict[str, Any],
    w: Arrays,
    x: np.ndarray,
    mask: Any,
    g: np.ndarray,
    positions: list[int],
    need_input: bool,
) -> tuple[np.ndarray | None, Arrays]:
    """Cotangent for the layer input (None unless ``need_input``) and for weights[positions]."""
    if kind == "Dense":
        analytic = _dense_vjp(cfg, w, x, g)
        if analytic is not None:
            gx, gw = analytic
            return gx, [gw[i] for i in positions]
    if kind == "Activation":
        from harness.conformance.oracle.activations import activation

        name = cfg.get("activation")
        g_act = activation_vjp(name, x, activation(name, x), g)
        if g_act is not None:
            return g_act, []
    forward, _ = _registry()
    training = _layer_training(kind, cfg)

    def run(*args: np.ndarray) -> np.ndarray:
        inp = args[0] if need_input else x
        trained = args[1:] if need_input else args
        full = list(w)
        for pos, value in zip(positions, trained, strict=True):
            full[pos] = value
        return np.asarray(forward(kind, cfg, full, inp, training=training, mask=mask))

    wrt = ([x] if need_input else []) + [w[i] for i in positions]
    if not wrt:
        return None, []
    grads = numeric.vjp_by_finite_differences(run, wrt, g)
    return (grads[0], grads[1:]) if need_input else (None, grads)


def _batch_moments(cfg: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    axis = cfg.get("axis", -1)
    axes = [axis] if isinstance(axis, int) else list(axis)
    kept = {a % x.ndim for a in axes}
    reduce = tuple(i for i in range(x.ndim) if i not in kept)
    mean = x.mean(axis=reduce)
    centred = x - x.mean(axis=reduce, keepdims=True)
    return mean, (centred * centred).mean(axis=reduce)


def _moving_statistics(
    stack, weights: list[Arrays], inputs: list[Any], masks: list[Any]
) -> list[Arrays]:
    """Weights with BatchNormalization's moving mean/variance updated as a training call does."""
    updated = [list(w) for w in weights]
    for i, (kind, cfg) in enumerate(stack):
        if kind != "BatchNormalization" or not _layer_training(kind, cfg):
            continue
        if masks[i] is not None:
            raise UsageError("masked BatchNormalization statistics are not modelled")
        mean, var = _batch_moments(cfg, np.asarray(inputs[i], dtype=np.float64))
        momentum = float(cfg.get("momentum", 0.99))
        updated[i][-2] = updated[i][-2] * momentum + mean * (1.0 - momentum)
        updated[i][-1] = updated[i][-1] * momentum + var * (1.0 - momentum)
    return updated


def _loss_cotangent(loss: str, y: np.ndarray, out: np.ndarray, cfg: dict[str, Any]) -> np.ndarray:
    try:
        return losses.loss_grad(loss, y, out, **cfg)
    except UsageError:
        # No analytic form (e.g. clipped probabilities): differentiate the loss numerically.
        return numeric.central_difference(lambda p: losses.loss(loss, y, p, **cfg), [out])[0]


def gradients(
    stack: list[tuple[str, dict[str, Any]]],
    weights: list[Arrays],
    x: Any,
    y: Any,
    loss: str,
    loss_config: dict[str, Any] | None = None,
) -> tuple[float, list[Arrays], list[Any], list[Any]]:
    """Loss and its gradient for one batch through the stack in training mode.

    Returns (loss value, per-layer gradients of the trainable weights in Keras order,
    per-layer inputs, per-layer input masks).
    """
    cfg = dict(loss_config or {})
    inputs, masks, out, out_mask = _forward(stack, weights, x)
    if out_mask is not None:
        raise UsageError("a loss on a masked output is not modelled by the oracle trajectory")
    y64 = np.asarray(y, dtype=np.float64)
    value = losses.loss(loss, y64, out, **cfg)
    g = _loss_cotangent(loss, y64, out, cfg)
    per_layer: list[Arrays] = [[] for _ in stack]
    for i in range(len(stack) - 1, -1, -1):
        kind, lcfg = stack[i]
        positions = _trainable_positions(kind, lcfg, len(weights[i]))
        gx, gw = _layer_vjp(
            kind, lcfg, weights[i], np.asarray(inputs[i]), masks[i], g, positions, need_input=i > 0
        )
        per_layer[i] = gw
        if gx is not None:
            g = gx
    return value, per_layer, inputs, masks


def _batches(n: int, batch_size: int | None) -> list[slice]:
    if batch_size is None:
        return [slice(0, n)]
    if batch_size <= 0:
        raise UsageError(f"batch_size must be positive, got {batch_size}")
    # Keras's fit keeps the last, smaller batch of an epoch.
    return [slice(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


def _as_stack(layers: Any) -> list[tuple[str, dict[str, Any]]]:
    stack = []
    for item in layers:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise UsageError("each layer must be a (class_name, config) pair")
        kind, cfg = item[0], dict(item[1] or {})
        _check_modelled(kind, cfg)
        stack.append((kind, cfg))
    return stack


def trajectory(
    layers: Any,
    weights: Any,
    x: Any,
    y: Any,
    loss: str,
    optimizer: str,
    steps: int,
    batch_size: int | None = None,
    loss_config: dict[str, Any] | None = None,
    optimizer_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a Sequential stack for ``steps`` optimizer steps as Keras's ``fit`` would.

    ``layers`` is a list of (Keras class name, config); ``weights`` one list of
    Keras-ordered arrays per layer. Full-batch when ``batch_size`` is None, otherwise
    consecutive minibatches in order, no shuffling, starting over after the last one.
    Returns ``{"losses": [loss before step i's update, ...], "weights": final per-layer
    weights, "weights_per_step": per-layer weights after each step}``.
    """
    stack = _as_stack(layers)
    current = [[np.asarray(w, dtype=np.float64) for w in ws] for ws in weights]
    if len(current) != len(stack):
        raise UsageError(f"{len(stack)} layers but {len(current)} weight lists")
    x_arr = np.asarray(x)
    x_arr = x_arr.astype(np.float64) if x_arr.dtype.kind == "f" else x_arr
    y_arr = np.asarray(y)
    if len(x_arr) != len(y_arr):
        raise UsageError(f"x has {len(x_arr)} samples but y has {len(y_arr)}")
    opt_cfg = dict(optimizer_config or {})
    positions = [
        _trainable_positions(k, c, len(w)) for (k, c), w in zip(stack, current, strict=True)
    ]
    flat = [current[i][p] for i, ps in enumerate(positions) for p in ps]
    state = optimizers.init_state(optimizer, flat, **opt_cfg)
    batches = _batches(len(x_arr), batch_size)
    history: dict[str, Any] = {"losses": [], "weights": current, "weights_per_step": []}
    for step in range(steps):
        part = batches[step % len(batches)]
        value, grads, inputs, masks = gradients(
            stack, current, x_arr[part], y_arr[part], loss, loss_config
        )
        current = _moving_statistics(stack, current, inputs, masks)
        flat = [current[i][p] for i, ps in enumerate(positions) for p in ps]
        flat_grads = [g for per_layer in grads for g in per_layer]
        flat, state = optimizers.step(optimizer, flat, flat_grads, state, **opt_cfg)
        updated = iter(flat)
        for i, ps in enumerate(positions):
            for p in ps:
                current[i][p] = next(updated)
        history["losses"].append(value)
        history["weights_per_step"].append([list(ws) for ws in current])
    history["weights"] = current
    return history
