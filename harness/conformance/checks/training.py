"""The training check: a tiny model trained a few steps follows the oracle's trajectory
(the loss before every step, and the final weights)."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.conformance import data, expected
from harness.conformance.cases import ModelCase, plain_config
from harness.conformance.checks import CheckResult, Context, register
from harness.conformance.compare import compare
from harness.conformance.targets import DataParallelTarget


def model_weight_shapes(case: ModelCase) -> list[tuple[int, ...]]:
    """Keras-ordered weight shapes of the case's Dense stack."""
    shapes: list[tuple[int, ...]] = []
    width = case.input_shape[-1]
    for name, config in case.layers:
        if name != "Dense":
            raise ValueError(f"model cases support Dense stacks only, not {name}")
        units = int(config["units"])
        shapes.append((width, units))
        if config.get("use_bias", True):
            shapes.append((units,))
        width = units
    return shapes


def model_data(case: ModelCase) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets for the case (float32-exact float64 arrays)."""
    rng = np.random.default_rng(data.seed_of(case.id, "data"))
    n = case.input_shape[0]
    x = data.round_to(rng.normal(size=case.input_shape), "float32")
    if case.target == "regression":
        y = data.round_to(rng.normal(size=(n, case.units_out)), "float32")
    elif case.target == "binary":
        y = rng.integers(0, 2, size=(n, 1)).astype(np.float64)
    elif case.target == "categorical":
        y = np.eye(case.units_out)[rng.integers(0, case.units_out, size=n)]
    elif case.target == "sparse":
        y = rng.integers(0, case.units_out, size=(n,)).astype(np.float64)
    else:
        raise ValueError(f"unknown target kind {case.target!r}")
    return x, y


def oracle_trajectory(case: ModelCase, weights: list[np.ndarray], x: np.ndarray,
                      y: np.ndarray) -> dict[str, Any]:
    """The oracle's float64 trajectory of the case from ``weights``: ``{"losses", "weights"}``
    (the loss before every step and the final weights, per layer)."""
    from harness.conformance.oracle.training import trajectory

    layers = [(name, plain_config(cfg)) for name, cfg in case.layers]
    per_layer: list[list[np.ndarray]] = []
    rest = list(weights)
    for _, cfg in layers:
        count = 2 if cfg.get("use_bias", True) else 1
        per_layer.append(rest[:count])
        rest = rest[count:]
    return trajectory(layers, per_layer, x, y, case.loss, case.optimizer, case.steps,
                      batch_size=case.batch_size, loss_config=plain_config(case.loss_config),
                      optimizer_config=plain_config(case.optimizer_config))


def flatten_weights(weights: Any) -> list[np.ndarray]:
    """Weights nested one level per layer (or flat) as one flat list of float64 arrays."""
    flat: list[np.ndarray] = []
    for w in weights:
        if isinstance(w, (list, tuple)):
            flat.extend(np.asarray(v, np.float64) for v in w)
        else:
            flat.append(np.asarray(w, np.float64))
    return flat


@register("training")
def check_training(ctx: Context) -> CheckResult:
    case = ctx.case
    if not isinstance(case, ModelCase):
        return CheckResult.skip("training applies to model cases")
    shapes = model_weight_shapes(case)
    weights = data.weights(case.id, shapes, [f"w{i}" for i in range(len(shapes))], "float32")
    x, y = model_data(case)
    got = ctx.target.train(case, weights, x, y)
    (want_losses,), want_weights = expected.trajectory(case, weights, x, y)
    tol = ctx.tol("training", "float32")
    return CheckResult.from_comparisons([
        compare(np.asarray(got["losses"]), want_losses, tol, "losses"),
        compare(flatten_weights(got["weights"]), want_weights, tol, "final weights"),
    ], tol)


@register("data_parallel")
def check_data_parallel(ctx: Context) -> CheckResult:
    """Training data-parallel over N devices gives the weights one device gives."""
    case = ctx.case
    if not isinstance(case, ModelCase):
        return CheckResult.skip("data_parallel applies to model cases")
    wanted = int(ctx.cache.get("devices", 0) or 0)
    seen = ctx.target.devices()
    if wanted < 2:
        return CheckResult.skip("data_parallel needs --devices N with N >= 2")
    if len(seen) < wanted:
        return CheckResult.skip(f"{ctx.target.backend} sees {len(seen)} device(s) "
                                f"({', '.join(seen)}), {wanted} asked")
    shapes = model_weight_shapes(case)
    weights = data.weights(case.id, shapes, [f"w{i}" for i in range(len(shapes))], "float32")
    x, y = model_data(case)
    single = ctx.target.train(case, weights, x, y)
    if not isinstance(ctx.target, DataParallelTarget):
        raise TypeError(f"the {ctx.target.library} target has no data-parallel training")
    parallel = ctx.target.train_data_parallel(case, weights, x, y, seen[:wanted])
    tol = ctx.tol("training", "float32")
    how = parallel.get("mechanism") or f"{ctx.target.library}'s per-device loop"
    result = CheckResult.from_comparisons(
        [compare(flatten_weights(parallel["weights"]), flatten_weights(single["weights"]), tol,
                 f"weights after data-parallel training on {', '.join(seen[:wanted])}")], tol)
    # which machinery ran is part of the verdict, passed or not
    result.message = f"{how}: {result.message}" if result.message else f"ran {how}"
    return result
