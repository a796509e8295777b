"""Standalone reproductions of conformance results (``harness conform --repro CASE_ID``).

A reproduction is a Python script that rebuilds a case's inputs and weights, runs the layer's
computation on one backend's framework alone and prints its difference from the stored oracle
values: what a library maintainer pastes into an upstream bug report. It is made by running the
reference layer once per scenario with every backend op call recorded (``repro_trace``), then
rendering the recorded calls together with the source of exactly the backend functions they use
(``repro_inline``) and the data (``repro_script``). The script imports no ``harness`` code.

Checks reproduced (``BUILDERS``): ``forward``, ``shape``, ``edge_values`` (empty batch, large
inputs, NaN), ``backward`` (the framework's own autodiff of the same recorded computation
against the oracle's central differences), ``dtype``, ``masking``, ``determinism``,
``batch_invariance`` and ``compiled``, on every backend of the reference library: eager ones
(NumPy, TensorFlow, JAX, PyTorch) call the program on tensors, graph ones (PyTensor, Theano)
call it on symbolic inputs and compile the graph (``repro_runners``). Model (training) cases go
to ``repro_models.reproduction`` where that module exists.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.conformance import data
from harness.conformance.cases import Case, ModelCase, get
from harness.conformance.repro_builder import (
    Builder,
    Scenario,
    edge_scenarios,
    forward_scenarios,
    gradient_scenarios,
    requested_layer_case,
    shape_scenarios,
)
from harness.conformance.repro_checks import (
    batch_invariance_scenarios,
    compiled_scenarios,
    determinism_scenarios,
    dtype_scenarios,
    masking_scenarios,
)
from harness.conformance.repro_trace import Recorder
from harness.errors import UsageError

#: the scenario builder of each check a script reproduces
BUILDERS: dict[str, Callable[[Builder], list[Scenario]]] = {
    "forward": forward_scenarios,
    "shape": shape_scenarios,
    "edge_values": edge_scenarios,
    "backward": gradient_scenarios,
    "dtype": dtype_scenarios,
    "masking": masking_scenarios,
    "determinism": determinism_scenarios,
    "batch_invariance": batch_invariance_scenarios,
    "compiled": compiled_scenarios,
}
#: the checks a script can reproduce
SUPPORTED_CHECKS = tuple(BUILDERS)
DTYPES = ("float16", "bfloat16", "float32", "float64")


@dataclass
class Reproduction:
    """Everything the script renderer needs, as plain data."""

    case: Case
    check: str
    backend: str
    dtype: str
    device: str
    version: str
    weight_names: list[str]
    weight_dtypes: list[str]
    scenarios: list[Scenario]
    arrays: dict[str, np.ndarray]
    constants: dict[str, np.ndarray]
    recorder: Recorder
    inliner: Any  # repro_inline.Inliner holding the backend functions the script needs
    result: dict[str, Any] | None = None
    error: str | None = None  # what the layer raised while being recorded
    execution: str = "eager"  # eager | graph (the backend's EXECUTION)


def _case(case_id: str) -> Case | ModelCase:
    try:
        return get(case_id)
    except KeyError:
        raise UsageError(f"unknown conformance case {case_id!r}") from None


def _layer_case(case_id: str) -> Case:
    case = _case(case_id)
    if not isinstance(case, Case):
        raise UsageError(f"case {case_id!r} trains a model; only layer cases have reproductions")
    return case


def _target(backend: str, device: str) -> Any:
    from harness.conformance.targets import DeviceUnavailable, make_target

    try:
        target: Any = make_target("reference", backend, device)
    except DeviceUnavailable as exc:
        raise UsageError(str(exc)) from None
    return target


def build(case_id: str, check: str = "forward", backend: str = "numpy",
          dtype: str = "float32", result: dict[str, Any] | None = None,
          device: str = "cpu") -> Reproduction:
    """Record the scenarios of ``check`` for ``case_id`` on ``backend`` in ``dtype``, on
    ``device`` (the script places its tensors there too).

    Returns a ``Reproduction``; UsageError for an unknown case, a check the case lacks or
    that no script reproduces, an unknown dtype, or a backend not installed here.
    """
    case = requested_layer_case(case_id, check, SUPPORTED_CHECKS)
    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r} (known: {', '.join(DTYPES)})")
    if case.layer == "Dropout" and case.training and check != "shape":
        raise UsageError(f"case {case_id!r} draws a random dropout mask: no fixed oracle values "
                         "to reproduce against")
    with _backend_kept():
        return _record(case, check, backend, dtype, device, result)


@contextlib.contextmanager
def _backend_kept() -> Iterator[None]:
    """Leave the reference library's active backend as it was (recording switches it)."""
    from harness.reference import backend as K

    saved = (K._active, K._active_name)
    try:
        yield
    finally:
        K._active, K._active_name = saved


def _record(case: Case, check: str, backend: str, dtype: str, device: str,
            result: dict[str, Any] | None) -> Reproduction:
    from harness.conformance.repro_inline import Inliner
    from harness.conformance.repro_runners import execution_of, op_namer
    from harness.conformance.repro_script import RESERVED

    target = _target(backend, device)
    if not target.supports(dtype):
        raise UsageError(f"backend {backend!r} does not compute in {dtype}")
    module = target.K.active()
    inliner = Inliner(RESERVED)
    inliner.adopt_import("numpy", "np")  # the script's own code uses np
    recorder = Recorder(module, op_namer(inliner, module)("convert_to_tensor"))
    version = target.versions().get(backend, "unknown")
    execution = execution_of(module)
    try:
        built = target.build(case, dtype)
    except Exception:  # noqa: BLE001 - the layer fails when first called: replay that call
        scenario, arrays, error = _build_crash(case, target, dtype, recorder)
        return Reproduction(case, check, backend, dtype, device, version, [], [], [scenario],
                            arrays, recorder.constants, recorder, inliner, result, error,
                            execution)
    builder = Builder(case, target, built, dtype, recorder, {})
    scenarios = BUILDERS[check](builder)
    return Reproduction(case, check, backend, dtype, device, version,
                        list(built.weight_names), builder.var_dtypes, scenarios,
                        builder.arrays, recorder.constants, recorder, inliner, result,
                        _describe(builder.error), execution)


def _describe(error: BaseException | None) -> str | None:
    return None if error is None else f"{type(error).__name__}: {error}"


def _build_crash(case: Case, target: Any, dtype: str, recorder: Recorder
                 ) -> tuple[Scenario, dict[str, np.ndarray], str | None]:
    """The layer raised while being built: record its first call (weight creation included,
    the initial weights as constants), which the script replays to the same crash."""
    K = target.K
    layer = target._layer(case, dtype)
    cast = [data.cast(x, dtype) for x in data.inputs(case, dtype)]
    dtypes = [None if x.dtype.kind in "iub" else dtype for x in cast]
    xs = [K.convert_to_tensor(x, dtype=d) for x, d in zip(cast, dtypes, strict=True)]

    def first_call(xs: list[Any], ws: list[Any], mask: Any) -> list[Any]:
        out = layer(xs if case.multi_input else xs[0])
        return list(out) if isinstance(out, (list, tuple)) else [out]

    program, _, error = recorder.record("layer_first_call", first_call,
                                        [("xs", xs), ("ws", []), ("mask", None)])
    keys = [f"s0_x{i}" for i in range(len(cast))]
    scenario = Scenario("first call (builds the weights)", "run", program, keys, dtypes, None,
                        note="the reference layer raised here when dl-harness built it")
    return scenario, dict(zip(keys, cast, strict=True)), _describe(error)


def reproduction(case_id: str, check: str = "forward", backend: str = "numpy",
                 dtype: str = "float32", result: dict[str, Any] | None = None,
                 device: str = "cpu") -> str:
    """The source of a standalone script reproducing ``check`` of ``case_id`` on ``backend``.

    ``result`` (a row of a ``harness.conformance/1`` document) adds its outcome and message to
    the script's header. The script exits 0 when every value is within the tolerance it
    embeds, 1 when one is not (or the backend raises). UsageError as for ``build``.
    """
    from harness.conformance.repro_script import render

    # model cases, and save/load/predict of layer cases: repro_models writes those scripts
    if isinstance(_case(case_id), ModelCase) or check in ("serialization", "portability"):
        return _training_script(case_id, check, backend, dtype, device, result)
    return render(build(case_id, check, backend, dtype, result, device))


def _training_script(case_id: str, check: str, backend: str, dtype: str, device: str,
                     result: dict[str, Any] | None) -> str:
    """A model case's script, from ``repro_models.reproduction`` (the training track's entry
    point) where that module exists; else the UsageError for model cases."""
    import importlib
    import importlib.util

    name = "harness.conformance.repro_models"
    entry = None
    if importlib.util.find_spec(name) is not None:
        entry = getattr(importlib.import_module(name), "reproduction", None)
    if entry is None:
        _layer_case(case_id)  # raises the UsageError for model cases
    assert entry is not None
    text: str = entry(case_id, check, backend, dtype, result, device)
    return text


def file_name(case: str, check: str, backend: str, dtype: str) -> str:
    """``<case>--<check>--<backend>--<dtype>.py``, with unsafe characters replaced."""
    stem = "--".join(re.sub(r"[^A-Za-z0-9_.-]", "_", p) for p in (case, check, backend, dtype))
    return f"{stem}.py"


def write_reproductions(results: Iterable[dict[str, Any]], folder: str | Path) -> list[Path]:
    """Write a script into ``folder`` for every failed or errored reference-library result.

    ``folder/README.md`` lists every such result: its script, or why this environment cannot
    make one (backend not installed here, a check without scripts). Nothing is written when
    no script can be made. Returns the paths written.
    """
    wanted = [r for r in results if r.get("outcome") in ("failed", "error")]
    if not wanted:
        return []
    out = Path(folder)
    written: list[Path] = []
    notes: list[str] = []
    keras_results = [r for r in wanted if r.get("library") == "keras"]
    if keras_results:  # Keras scripts are made by one process per Keras backend
        from harness.conformance.repro_keras import write_scripts

        keras_written, notes = write_scripts(keras_results, out)
        written += keras_written
    for r in wanted:
        name = file_name(r["case"], r["check"], r["backend"], r["dtype"])
        if r.get("library") == "keras":
            continue
        if r.get("library", "reference") != "reference":
            notes.append(f"- {name}: library {r['library']!r} has no standalone reproduction")
            continue
        try:
            text = reproduction(r["case"], r["check"], r["backend"], r["dtype"], result=r,
                                device=r.get("device") or "cpu")
        except UsageError as exc:
            notes.append(f"- {name}: not written: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - a report is still written without it
            notes.append(f"- {name}: not written: recording failed ({type(exc).__name__}: "
                         f"{exc})")
            continue
        out.mkdir(parents=True, exist_ok=True)
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
        notes.append(f"- {name}: `python {name}`")
    if not written:
        return []  # nothing this environment can reproduce: no folder
    readme = out / "README.md"
    readme.write_text("# Reproductions of failed and errored conformance results\n\n"
                      "Each script runs the backend's framework alone (no harness import) and "
                      "exits 1 while the failure persists.\n\n" + "\n".join(notes) + "\n",
                      encoding="utf-8")
    return [*written, readme]


def repro_command(args: argparse.Namespace) -> int:
    """``harness conform --repro CASE_ID``: print the script; exit status 0."""
    if getattr(args, "library", None) == "keras":
        from harness.conformance import repro_keras

        return repro_keras.repro_command(args)
    backends = args.backends or ["numpy"]
    dtypes = args.dtypes or ["float32"]
    if len(backends) > 1 or len(dtypes) > 1:
        raise UsageError("--repro takes one --backend and one --dtype")
    if getattr(args, "library", None) not in (None, "reference"):
        raise UsageError("--repro reproduces the reference library only")
    # without --check: a model case reproduces its training, a layer case its forward
    check = args.check or ("training" if isinstance(_case(args.repro), ModelCase) else "forward")
    print(reproduction(args.repro, check, backends[0], dtypes[0],
                       device=args.device or "cpu"), end="")
    return 0
