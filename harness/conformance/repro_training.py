"""Standalone scripts reproducing the ``training`` and ``data_parallel`` checks of model cases.

The script rebuilds the data and the initial weights, then runs the case's steps with the
framework alone: the forward pass and the loss as the backend calls the reference model made
(recorded once per batch size: the computation depends on shapes only), the gradient by the
framework's own autodiff (the backend's ``value_and_grad``, copied), and the optimizer update as
the backend calls of the reference optimizer's ``apply_gradients`` (recorded once, as a pure
function of weights, optimizer state and gradients: the step counter is part of the state, so
the same program serves every step). It prints the loss trajectory and the final weights against
the oracle's, with the training tolerance. A data_parallel script also trains with every batch
split over N devices, each shard's gradient computed there and the gradients averaged weighted
by shard size, and compares the final weights with one device's, as the check does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.conformance import data
from harness.conformance.cases import ModelCase, plain_config
from harness.conformance.checks.training import (
    flatten_weights,
    model_data,
    model_weight_shapes,
    oracle_trajectory,
)
from harness.conformance.repro_models import (
    Session,
    backend_kept,
    header,
    literals,
    start,
)
from harness.conformance.repro_trace import Program
from harness.conformance.tolerances import Tol, lookup
from harness.errors import UsageError


@dataclass
class Training:
    """A recorded training run, as plain data for the renderer."""

    case: ModelCase
    check: str
    backend: str
    device: str
    session: Session
    losses: dict[int, Program]  # batch rows -> forward + loss program
    shards: dict[int, Program]  # data_parallel: shard rows -> weighted shard loss program
    update: Program
    arrays: dict[str, np.ndarray]
    weight_names: list[str]
    state_dtypes: list[str]
    oracle_losses: list[float]
    oracle_weights: list[np.ndarray]
    tol: Tol
    devices: list[str] | None = None  # data_parallel: the devices the shards ran on
    result: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def _record_losses(session: Session, prefix: str, objective: Callable[..., Any],
                   ws0: list[Any], batches: list[tuple[np.ndarray, np.ndarray]],
                   sizes: set[int], batch: int | None) -> dict[int, Program]:
    """One program per batch (or shard) size, largest first: the recorded ``objective``
    (ws, x, y) -> loss; with ``batch``, (ws, x, y, w) where the per-sample weights w are
    1 / batch (the data-parallel check's weighted shard loss)."""
    K = session.target.K
    programs: dict[int, Program] = {}
    for rows in sorted((r for r in sizes if r > 0), reverse=True):
        xb, yb = next(b for b in batches if len(b[0]) >= rows)
        params = [("ws", ws0), ("x", K.convert_to_tensor(xb[:rows])),
                  ("y", K.convert_to_tensor(yb[:rows]))]
        if batch is not None:
            params.append(("w", K.convert_to_tensor(np.full((rows,), 1.0 / batch, np.float32))))
        program, _, error = session.recorder.record(f"{prefix}{rows}", objective, params)
        if error is not None:
            raise UsageError(f"the reference model raised while recorded: {error}")
        programs[rows] = program
    return programs


def _loss_fn(model: Any, trainable: list[Any], loss: Callable[..., Any]
             ) -> Callable[[list[Any], Any, Any], Any]:
    """(weights, x, y) -> mean loss of the model on (x, y), in training mode, as the
    reference trainer computes it (Keras's sum_over_batch_size)."""
    from harness.reference import backend as K
    from harness.reference.variables import StatelessScope

    def loss_of(ws: list[Any], x: Any, y: Any) -> Any:
        with StatelessScope(dict(zip(trainable, ws, strict=True))):
            return K.mean(loss(y, model(x, training=True)))

    return loss_of


def build(case: ModelCase, check: str, backend: str, device: str = "cpu",
          result: dict[str, Any] | None = None, devices: int = 2) -> Training:
    """Record the training run of ``case`` on ``backend``; a ``Training``."""
    with backend_kept():
        session = start(backend, device)
        return _record(session, case, check, backend, device, result, devices)


def _record(session: Session, case: ModelCase, check: str, backend: str, device: str,
            result: dict[str, Any] | None, devices: int) -> Training:
    target, K = session.target, session.target.K
    shapes = model_weight_shapes(case)
    weights = data.weights(case.id, shapes, [f"w{i}" for i in range(len(shapes))], "float32")
    x, y = model_data(case)
    model, optimizer, loss = target.training_setup(case, weights)
    trainable = list(model.trainable_weights)
    if [id(v) for v in trainable] != [id(v) for v in model.weights]:
        raise UsageError(f"case {case.id!r} has non-trainable weights; training scripts "
                         "replay models whose weights are all trainable")
    batches = list(target.batches(case, x, y))
    arrays: dict[str, np.ndarray] = {}
    for step, (xb, yb) in enumerate(batches):
        arrays[f"x{step}"], arrays[f"y{step}"] = xb, yb
    for i, w in enumerate(weights):
        arrays[f"w{i}"] = data.cast(w, "float32")
    loss_of = _loss_fn(model, trainable, loss)
    ws0 = [v.value for v in trainable]
    programs = _record_losses(session, "loss_rows", loss_of, ws0, batches, {
        len(xb) for xb, _ in batches}, None)
    shards: dict[int, Program] = {}
    if check == "data_parallel":
        from harness.conformance.targets.parallel import weighted_objective

        rows = {len(s) for xb, _ in batches for s in np.array_split(xb, devices)}
        shards = _record_losses(session, "shard_loss_rows", weighted_objective(
            model, loss, trainable), ws0, batches, rows, len(batches[0][0]))
    optimizer.build(trainable)  # the slots exist before the first step, as in the trainer
    slots = optimizer.variables
    state0 = [np.asarray(K.to_numpy(v.value)) for v in slots]
    for i, s in enumerate(state0):
        arrays[f"s{i}"] = s
    first = [K.convert_to_tensor(a) for a in batches[0]]
    _, grads0 = K.value_and_grad(lambda ws: loss_of(ws, *first), ws0)
    update = _record_update(session, optimizer, trainable, slots, ws0, grads0)
    oracle = oracle_trajectory(case, weights, x, y)
    return Training(case, check, backend, device, session, programs, shards, update, arrays,
                    [v.name for v in trainable], [str(v.dtype) for v in slots],
                    [float(v) for v in oracle["losses"]], flatten_weights(oracle["weights"]),
                    lookup("float32", "training", case),
                    _devices(target, devices) if check == "data_parallel" else None, result)


def _devices(target: Any, count: int) -> list[str]:
    """The devices a data_parallel run uses: the first ``count`` the backend sees, or, when
    it sees fewer, those it sees in turn (the script says so)."""
    if count < 2:
        raise UsageError("data_parallel needs 2 devices or more")
    seen = list(target.devices())
    return [seen[i % len(seen)] for i in range(count)]


def _record_update(session: Session, optimizer: Any, trainable: list[Any], slots: list[Any],
                   ws0: list[Any], grads0: list[Any]) -> Program:
    """The optimizer's apply step as a program (ws, state, grads) -> (new ws, new state)."""
    from harness.reference.variables import StatelessScope

    def update(ws: list[Any], state: list[Any], grads: list[Any]) -> Any:
        with StatelessScope(dict(zip(trainable + slots, [*ws, *state], strict=True))) as scope:
            optimizer.apply_gradients(zip(grads, trainable, strict=True))
        return ([scope.values[id(v)] for v in trainable],
                [scope.values[id(v)] for v in slots])

    program, _, error = session.recorder.record(
        "optimizer_update", update,
        [("ws", ws0), ("state", [v.value for v in slots]), ("grads", list(grads0))])
    if error is not None:
        raise UsageError(f"the reference optimizer raised while recorded: {error}")
    return program


def reproduction(case: ModelCase, check: str, backend: str, result: dict[str, Any] | None,
                 device: str, devices: int) -> str:
    """The script reproducing ``check`` (training or data_parallel) of ``case``."""
    from harness.conformance.repro_training_script import render

    return render(build(case, check, backend, device, result, devices))


def describe(run: Training) -> list[str]:
    """Lines of the header that say what the case trains."""
    case = run.case
    layers = ", ".join(f"{n}({plain_config(c)})" for n, c in case.layers)
    return [f"Model: Sequential of {layers} on x of shape {case.input_shape}, "
            f"{case.target} targets.",
            f"Loss {case.loss} {plain_config(case.loss_config)}; optimizer "
            f"{case.optimizer} {plain_config(case.optimizer_config)}; {case.steps} steps, "
            f"batch size {case.batch_size or case.input_shape[0]}.",
            f"Weights: {', '.join(run.weight_names)}."]


def literal_state(run: Training) -> tuple[str, str]:
    """The oracle's losses and final weights as source text."""
    losses = "[" + ", ".join(repr(v) for v in run.oracle_losses) + "]"
    return losses, literals(run.oracle_weights)


def doc(run: Training) -> str:
    """The script's docstring."""
    not_replayed = ["the reference trainer's Python bookkeeping around these calls "
                    "(train_on_batch, StepRunner): the same calls, in the same order"]
    replayed = [
        "forward pass + loss: the backend calls the reference model made (one program per "
        "batch size)",
        f"gradients: {run.backend}'s own autodiff (the backend's value_and_grad, copied)",
        f"optimizer update: the backend calls of the reference {run.case.optimizer}'s apply "
        "step, recorded once (the step counter is an input)",
    ]
    if run.devices is not None:
        from harness.conformance.targets.parallel import mechanism

        shared = " (recorded where the backend saw fewer devices: shards share them)" if len(
            set(run.devices)) < len(run.devices) else ""
        replayed.append(f"data-parallel arithmetic: every batch split over {len(run.devices)} "
                        f"devices ({', '.join(run.devices)}){shared}, each shard's gradient of "
                        "sum(per-sample loss / batch size) by the framework's autodiff on its "
                        "device, the gradients summed in NumPy, applied once")
        not_replayed.append(
            "the framework's distribution machinery the check ran ("
            f"{mechanism(run.backend) or 'none on this backend'}): the script runs the "
            "shards one after another; if it passes where the check failed, look at that "
            "machinery (or dl-harness's use of it)")
    compared = "losses before each step and final weights vs the oracle"
    if run.devices is not None:
        compared += "; data-parallel final weights vs one device's (what the check compares)"
    command = (f"harness conform --repro {run.case.id} --backend {run.backend} "
               f"--check {run.check}" + (f" --device {run.device}" if run.device != "cpu"
                                         else ""))
    return header(
        f"Standalone reproduction: model case {run.case.id}, check {run.check!r}, backend "
        f"{run.backend} {run.session.version}, float32, device {run.device}.",
        [*describe(run), f"Compared: {compared}."], replayed, not_replayed + run.notes,
        [("training", run.tol.atol, run.tol.rtol)], run.result, command)
