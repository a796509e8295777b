"""One step of Keras 3's optimizers in float64, with the optimizer state as plain data.

``init_state(name, params, **config)`` builds the state; ``step(name, params, grads, state,
**config)`` returns ``(new_params, new_state)`` and never mutates its arguments. ``config``
is the optimizer's Keras config (``get_config()`` keys; missing keys take Keras defaults).

Each step follows Keras's ``BaseOptimizer.apply``: gradients are divided by
``loss_scale_factor``, then clipped (``clipnorm`` per tensor, else ``global_clipnorm``, else
``clipvalue``), then weight decay ``w <- w - w * weight_decay * lr`` is applied, then the
update rule below, then ``iterations`` is incremented.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.errors import UsageError

Arrays = list[np.ndarray]

_DEFAULTS: dict[str, dict[str, Any]] = {
    "sgd": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    "adam": {
        "learning_rate": 0.001,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
        "amsgrad": False,
    },
    "rmsprop": {
        "learning_rate": 0.001,
        "rho": 0.9,
        "momentum": 0.0,
        "epsilon": 1e-7,
        "centered": False,
    },
    "adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
}
_COMMON: dict[str, Any] = {
    "name": None,
    "weight_decay": None,
    "clipnorm": None,
    "global_clipnorm": None,
    "clipvalue": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


def _settings(name: str, config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(canonical name, config with Keras defaults filled in); rejects what we cannot model."""
    key = name.lower()
    if key not in _DEFAULTS:
        raise UsageError(f"the oracle has no optimizer {name!r} (SGD, Adam, RMSprop, Adagrad)")
    unknown = set(config) - set(_DEFAULTS[key]) - set(_COMMON)
    if unknown:
        raise UsageError(f"unknown {name} option(s): {', '.join(sorted(unknown))}")
    merged = {**_COMMON, **_DEFAULTS[key], **config}
    if merged["use_ema"] or merged["gradient_accumulation_steps"]:
        raise UsageError("the oracle does not model use_ema or gradient_accumulation_steps")
    if not isinstance(merged["learning_rate"], (int, float)):
        raise UsageError("the oracle needs a constant learning_rate, not a schedule")
    return key, merged


def init_state(name: str, params: Arrays, /, **config: Any) -> dict[str, Any]:
    """Fresh optimizer state for ``params``, as Keras's ``build`` creates it.

    Returns ``{"iterations": 0, slot: [array per param], ...}``; the slots are
    SGD: momentum (when momentum != 0); Adam: momentum, velocity (+ velocity_hat with
    amsgrad); RMSprop: velocity (+ momentum when momentum > 0, + average_gradient when
    centered); Adagrad: accumulator (filled with initial_accumulator_value).
    """
    key, cfg = _settings(name, config)
    zeros = [np.zeros(np.shape(p)) for p in params]
    state: dict[str, Any] = {"iterations": 0}
    if key == "sgd" and cfg["momentum"] != 0:
        state["momentum"] = zeros
    elif key == "adam":
        state["momentum"], state["velocity"] = zeros, [z.copy() for z in zeros]
        if cfg["amsgrad"]:
            state["velocity_hat"] = [z.copy() for z in zeros]
    elif key == "rmsprop":
        state["velocity"] = zeros
        if cfg["momentum"] > 0:
            state["momentum"] = [z.copy() for z in zeros]
        if cfg["centered"]:
            state["average_gradient"] = [z.copy() for z in zeros]
    elif key == "adagrad":
        state["accumulator"] = [
            np.full(np.shape(p), float(cfg["initial_accumulator_value"])) for p in params
        ]
    return state


def _clip(grads: Arrays, cfg: dict[str, Any]) -> Arrays:
    if cfg["clipnorm"] and cfg["clipnorm"] > 0:
        c = float(cfg["clipnorm"])
        return [g * c / max(float(np.sqrt(np.sum(g * g))), c) for g in grads]
    if cfg["global_clipnorm"] and cfg["global_clipnorm"] > 0:
        c = float(cfg["global_clipnorm"])
        norm = math.sqrt(sum(float(np.sum(g * g)) for g in grads))
        return [g * c / max(norm, c) for g in grads]
    if cfg["clipvalue"] and cfg["clipvalue"] > 0:
        v = float(cfg["clipvalue"])
        return [np.clip(g, -v, v) for g in grads]
    return grads


def _sgd(w, g, slots, t, cfg):
    """SGD. momentum 0: w <- w - lr*g. Otherwise m <- momentum*m - lr*g, then
    w <- w + m, or with nesterov w <- w + momentum*m - lr*g (using the new m)."""
    lr, mu = cfg["learning_rate"], cfg["momentum"]
    if mu == 0:
        return w - lr * g, slots
    m = mu * slots["momentum"] - lr * g
    w_new = w + (mu * m - lr * g if cfg["nesterov"] else m)
    return w_new, {"momentum": m}


def _adam(w, g, slots, t, cfg):
    """Adam at step t (1-based). m <- m + (g - m)(1 - b1); v <- v + (g^2 - v)(1 - b2);
    with amsgrad v_hat <- max(v_hat, v) replaces v below;
    w <- w - m * lr * sqrt(1 - b2^t) / (1 - b1^t) / (sqrt(v) + epsilon)."""
    b1, b2 = cfg["beta_1"], cfg["beta_2"]
    alpha = cfg["learning_rate"] * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
    m = slots["momentum"] + (g - slots["momentum"]) * (1.0 - b1)
    v = slots["velocity"] + (g * g - slots["velocity"]) * (1.0 - b2)
    new = {"momentum": m, "velocity": v}
    denominator_v = v
    if cfg["amsgrad"]:
        new["velocity_hat"] = np.maximum(slots["velocity_hat"], v)
        denominator_v = new["velocity_hat"]
    return w - m * alpha / (np.sqrt(denominator_v) + cfg["epsilon"]), new


def _rmsprop(w, g, slots, t, cfg):
    """RMSprop. v <- rho*v + (1 - rho)*g^2; centered: a <- rho*a + (1 - rho)*g and
    d = v - a^2 + epsilon, else d = v + epsilon (epsilon inside the root);
    inc = lr*g / sqrt(d); momentum > 0: m <- momentum*m + inc, w <- w - m; else w <- w - inc."""
    rho = cfg["rho"]
    v = rho * slots["velocity"] + (1.0 - rho) * g * g
    new = {"velocity": v}
    if cfg["centered"]:
        a = rho * slots["average_gradient"] + (1.0 - rho) * g
        new["average_gradient"] = a
        denominator = v - a * a + cfg["epsilon"]
    else:
        denominator = v + cfg["epsilon"]
    increment = cfg["learning_rate"] * g / np.sqrt(denominator)
    if cfg["momentum"] > 0:
        m = cfg["momentum"] * slots["momentum"] + increment
        new["momentum"] = m
        return w - m, new
    return w - increment, new


def _adagrad(w, g, slots, t, cfg):
    """Adagrad. acc <- acc + g^2; w <- w - lr*g / sqrt(acc + epsilon) (epsilon inside the root)."""
    acc = slots["accumulator"] + g * g
    return w - cfg["learning_rate"] * g / np.sqrt(acc + cfg["epsilon"]), {"accumulator": acc}


_RULES: dict[str, Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]] = {
    "sgd": _sgd,
    "adam": _adam,
    "rmsprop": _rmsprop,
    "adagrad": _adagrad,
}


def step(
    name: str, params: Arrays, grads: Arrays, state: dict[str, Any], /, **config: Any
) -> tuple[Arrays, dict[str, Any]]:
    """Apply one Keras 3 update of optimizer ``name`` to ``params`` given ``grads``.

    Returns ``(new_params, new_state)`` as fresh float64 arrays; the inputs are untouched.
    """
    key, cfg = _settings(name, config)
    if len(params) != len(grads):
        raise UsageError(f"{len(params)} parameters but {len(grads)} gradients")
    ws = [np.asarray(p, dtype=np.float64) for p in params]
    gs = [np.asarray(g, dtype=np.float64) for g in grads]
    if cfg["loss_scale_factor"] is not None:
        gs = [g / cfg["loss_scale_factor"] for g in gs]
    gs = _clip(gs, cfg)
    if cfg["weight_decay"] is not None:
        ws = [w - w * cfg["weight_decay"] * cfg["learning_rate"] for w in ws]
    t = int(state["iterations"]) + 1
    slot_names = [k for k in state if k != "iterations"]
    new_params: Arrays = []
    new_state: dict[str, Any] = {"iterations": t, **{k: [] for k in slot_names}}
    for i, (w, g) in enumerate(zip(ws, gs, strict=True)):
        if w.shape != g.shape:
            raise UsageError(f"parameter {i} has shape {w.shape} but its gradient {g.shape}")
        slots = {k: state[k][i] for k in slot_names}
        w_new, slots_new = _RULES[key](w, g, slots, t, cfg)
        new_params.append(w_new)
        for k in slot_names:
            new_state[k].append(slots_new[k])
    return new_params, new_state
