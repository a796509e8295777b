"""Render a recorded ``repro_training.Training`` as the text of a standalone script."""

from __future__ import annotations

from typing import Any

from harness.conformance.repro_models import assemble
from harness.conformance.repro_training import Training, doc, literal_state

_TRAIN = '''

def loss_and_grads(ws, x, y):
    """The mean loss of one batch and its gradient w.r.t. every weight, by the framework's
    own autodiff of the recorded forward + loss program for that batch size."""
    program = LOSS_BY_ROWS[len(x)]
    x, y = {convert}(x), {convert}(y)
    return {value_and_grad}(lambda values: program(values, x, y), ws)


def train(devices=None):
    """Every step from the initial weights: (loss before each step, final weights). With
    ``devices``, each step's gradient is ``sharded_grads``'s (no single loss then)."""
    ws = [{convert}(DATA[f"w{{i}}"], dtype="float32") for i in range(len(WEIGHT_NAMES))]
    state = [{convert}(DATA[f"s{{i}}"], dtype=d) for i, d in enumerate(STATE_DTYPES)]
    losses = []
    for step in range(STEPS):
        x, y = DATA[f"x{{step}}"], DATA[f"y{{step}}"]
        if devices is None:
            loss, grads = loss_and_grads(ws, x, y)
            losses.append(float({to_numpy}(loss)))
        else:
            grads = sharded_grads(ws, x, y, devices)
        ws, state = optimizer_update(ws, state, grads)
    return losses, [{to_numpy}(w) for w in ws]
'''

_PARALLEL = '''

def sharded_grads(ws, x, y, devices):
    """The data-parallel check's arithmetic, one device after another: the batch split over
    ``devices`` (np.array_split), each shard's gradient of sum(per-sample loss / batch size)
    computed on its device, the gradients summed (what the all-reduce does)."""
    total = None
    shards = zip(devices, np.array_split(x, len(devices)), np.array_split(y, len(devices)))
    for device, xs, ys in shards:
        {set_device}(device)
        program = SHARD_LOSS_BY_ROWS[len(xs)]
        w = np.full((len(xs),), 1.0 / len(x), dtype=np.float32)
        xt, yt, wt = {convert}(xs), {convert}(ys), {convert}(w)
        _, grads = {value_and_grad}(lambda values: program(values, xt, yt, wt), ws)
        grads = [{to_numpy}(g) for g in grads]
        total = grads if total is None else [a + b for a, b in zip(total, grads)]
    {set_device}(devices[0])
    return [{convert}(g) for g in total]


def usable_devices():
    """DEVICES when this machine has them all; else the shards go round the devices it has
    (the averaging is still reproduced, the placement is not)."""
    seen = list({device_names}())
    if all(d in seen for d in DEVICES):
        return list(DEVICES)
    shared = [seen[i % len(seen)] for i in range(len(DEVICES))]
    print(f"note: the failing run used devices {{DEVICES}}; this machine sees {{seen}}, so the "
          f"{{len(DEVICES)}} shards run on {{shared}}")
    return shared
'''

_MAIN = '''

def main():
    losses, final = train()
    for step, (got, want) in enumerate(zip(losses, ORACLE_LOSSES)):
        print(f"step {{step}}: loss {{got!r}}, oracle {{want!r}}, |diff| {{abs(got - want):.3g}}")
    ok = check_values("losses", [np.array(losses)], [np.array(ORACLE_LOSSES)], atol=ATOL,
                      rtol=RTOL)
    if len(final) != len(ORACLE_WEIGHTS):
        print(f"{{len(final)}} final weights, the oracle has {{len(ORACLE_WEIGHTS)}}")
        ok = False
    for name, got, want in zip(WEIGHT_NAMES, final, ORACLE_WEIGHTS):
        ok = check_values(f"final {{name}}", [got], [want], atol=ATOL, rtol=RTOL) and ok
{parallel}
    print("OK: within tolerance" if ok else "MISMATCH: reproduced the failure")
    return 0 if ok else 1
'''

_PARALLEL_MAIN = '''    devices = usable_devices()
    _, parallel = train(devices)
    for name, got, want in zip(WEIGHT_NAMES, parallel, final):
        ok = check_values(f"data-parallel final {name} vs one device", [got],
                          [np.asarray(want, dtype=np.float64)], atol=ATOL, rtol=RTOL) and ok'''


def _prelude(run: Training) -> str:
    """Ask the framework for N virtual CPUs before it starts (JAX reads XLA_FLAGS, the
    TensorFlow backend HARNESS_DEVICES), as ``harness conform --devices N`` does."""
    if run.devices is None:
        return ""
    n = len(run.devices)
    return (f"# {n} virtual CPU devices, set before the framework is imported\n"
            "os.environ['XLA_FLAGS'] = ' '.join(\n"
            "    [f for f in os.environ.get('XLA_FLAGS', '').split()\n"
            "     if not f.startswith('--xla_force_host_platform_device_count')]\n"
            f"    + ['--xla_force_host_platform_device_count={n}'])\n"
            f"os.environ.setdefault('HARNESS_DEVICES', '{n}')\n")


def _device_setup(run: Training) -> None:
    """Copy the TensorFlow backend's virtual-CPU set-up (it runs when its module loads)."""
    module = run.session.module.__name__
    if run.devices is None or not module.endswith("tensorflow"):
        return
    run.session.inliner.require(f"{module}.devices", "configure_from_environment")


def render(run: Training) -> str:
    """The script's source text."""
    _device_setup(run)
    ops: set[str] = {"convert_to_tensor", "to_numpy", "value_and_grad"}
    every = [*run.losses.values(), *run.shards.values(), run.update]
    for program in every:
        ops |= program.ops()
    if run.devices is not None:
        ops |= {"set_device", "device_names"}
    names: dict[str, Any] = run.session.names(ops)
    fmt = {"convert": names["convert_to_tensor"], "to_numpy": names["to_numpy"],
           "value_and_grad": names["value_and_grad"]}
    programs = [_program(p, names) for p in every]
    losses, weights = literal_state(run)
    table = _table(run.losses)
    constants = "\n".join([
        "\n",
        f"STEPS = {run.case.steps}",
        f"WEIGHT_NAMES = {run.weight_names!r}",
        f"STATE_DTYPES = {run.state_dtypes!r}  # the optimizer's step counter, then its slots",
        f"LOSS_BY_ROWS = {table}",
        f"SHARD_LOSS_BY_ROWS = {_table(run.shards)}",
        f"DEVICES = {run.devices!r}",
        f"ATOL, RTOL = {run.tol.atol!r}, {run.tol.rtol!r}  # the training tolerance",
        "# the oracle's float64 trajectory: the loss before each step, the final weights",
        f"ORACLE_LOSSES = {losses}",
        f"ORACLE_WEIGHTS = {weights}",
    ])
    body = [constants, _TRAIN.format(**fmt)]
    if run.devices is not None:
        body.append(_PARALLEL.format(**fmt, set_device=names["set_device"],
                                     device_names=names["device_names"]))
    body.append(_MAIN.format(parallel=_PARALLEL_MAIN if run.devices is not None else ""))
    arrays = {**run.arrays, **run.session.recorder.constants}
    inlined = run.session.inliner.source()
    return assemble(doc(run), ["import os"] if run.devices is not None else [], inlined,
                    programs, arrays, body, _prelude(run))


def _program(program: Any, names: dict[str, str]) -> str:
    return "\n".join(program.render(names))


def _table(programs: dict[int, Any]) -> str:
    return "{" + ", ".join(f"{rows}: {p.name}" for rows, p in programs.items()) + "}"
