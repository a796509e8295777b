"""Standalone reproductions of conformance results (``harness conform --repro CASE_ID``).

A reproduction is a Python script that rebuilds a case's inputs and weights, runs the layer's
computation on one backend's framework alone and prints its difference from the stored oracle
values: what a library maintainer pastes into an upstream bug report. It is made by running the
reference layer once per scenario with every backend op call recorded (``repro_trace``), then
rendering the recorded calls together with the source of exactly the backend functions they use
(``repro_inline``) and the data (``repro_script``). The script imports no ``harness`` code.

Checks reproduced: ``forward``, ``shape``, ``edge_values`` (forward-based: empty batch, large
inputs, NaN) and ``backward`` (the framework's own autodiff of the same recorded computation
against the oracle's central differences), on the eager backends (NumPy, TensorFlow, JAX,
PyTorch) of the reference library.
"""

from __future__ import annotations

import argparse
import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.conformance import data, expected
from harness.conformance.cases import Case, get
from harness.conformance.repro_trace import Program, Recorder
from harness.conformance.targets import Built
from harness.conformance.tolerances import Tol, lookup
from harness.errors import UsageError

#: the checks a script can reproduce
SUPPORTED_CHECKS = ("forward", "shape", "edge_values", "backward")
DTYPES = ("float16", "bfloat16", "float32", "float64")


@dataclass
class Scenario:
    """One run of the layer in the script and what its outputs are judged against."""

    label: str
    mode: str  # values | shapes | gradients | run (only replays: a crash is the finding)
    program: Program
    inputs: list[str]  # DATA keys
    input_dtypes: list[str | None]  # None: integer inputs keep their dtype
    mask: str | None
    expected: list[str] = field(default_factory=list)  # DATA keys (values or gradients)
    expected_shapes: list[tuple[int, ...]] = field(default_factory=list)
    out_dtype: str | None = None
    tol: Tol = Tol(0.0, 0.0)
    note: str = ""
    # gradients only
    cotangents: list[str] = field(default_factory=list)
    wrt: list[int] = field(default_factory=list)
    trainable: list[int] = field(default_factory=list)
    grad_labels: list[str] = field(default_factory=list)


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


def _case(case_id: str) -> Case:
    try:
        case = get(case_id)
    except KeyError:
        raise UsageError(f"unknown conformance case {case_id!r}") from None
    if not isinstance(case, Case):
        raise UsageError(f"case {case_id!r} trains a model; only layer cases have reproductions")
    return case


def _target(backend: str, device: str) -> Any:
    from harness.conformance.targets import DeviceUnavailable, make_target

    try:
        target: Any = make_target("reference", backend, device)
    except DeviceUnavailable as exc:
        raise UsageError(str(exc)) from None
    if getattr(target.K.active(), "EXECUTION", "eager") != "eager":
        raise UsageError(f"backend {backend!r} builds graphs; reproductions need an eager "
                         "backend (numpy, tensorflow, jax, torch)")
    return target


class _Builder:
    """Records the scenarios of one check and collects their data."""

    def __init__(self, case: Case, target: Any, built: Built, dtype: str, recorder: Recorder):
        self.case, self.target, self.built, self.dtype = case, target, built, dtype
        self.recorder = recorder
        self.arrays: dict[str, np.ndarray] = {}
        self.weights64 = target.get_weights(built)
        self.var_dtypes = [v.dtype for v in built.layer.weights]
        self.error: BaseException | None = None

    def put(self, key: str, array: np.ndarray) -> str:
        self.arrays[key] = np.asarray(array)
        return key

    def record(self, n: int, inputs: list[np.ndarray], mask: np.ndarray | None
               ) -> tuple[Program, list[str], list[str | None], str | None]:
        """Record the layer on ``inputs``; (program, input keys, input dtypes, mask key)."""
        K, layer, case = self.target.K, self.built.layer, self.case
        cast = [data.cast(x, self.dtype) for x in inputs]
        dtypes = [None if x.dtype.kind in "iub" else self.dtype for x in cast]
        xs = [K.convert_to_tensor(x, dtype=d) for x, d in zip(cast, dtypes, strict=True)]
        ws = [K.convert_to_tensor(data.cast(w, d), dtype=d)
              for w, d in zip(self.weights64, self.var_dtypes, strict=True)]
        mask_t = None if mask is None else K.convert_to_tensor(mask, dtype="bool")

        def forward(xs: list[Any], ws: list[Any], mask: Any) -> list[Any]:
            from harness.reference.variables import StatelessScope

            kwargs: dict[str, Any] = {"training": case.training}
            if mask is not None:
                kwargs["mask"] = mask
            with StatelessScope(dict(zip(layer.weights, ws, strict=True))):
                out = layer(xs if case.multi_input else xs[0], **kwargs)
            return list(out) if isinstance(out, (list, tuple)) else [out]

        program, _, error = self.recorder.record(f"layer_forward_{n}", forward,
                                                 [("xs", xs), ("ws", ws), ("mask", mask_t)])
        self.error = self.error or error
        keys = [self.put(f"s{n}_x{i}", x) for i, x in enumerate(cast)]
        mask_key = None if mask is None else self.put(f"s{n}_mask", mask)
        return program, keys, dtypes, mask_key

    def oracle(self, inputs: list[np.ndarray], mask: np.ndarray | None) -> list[np.ndarray]:
        return expected.forward(self.case, self.weights64, inputs, None, mask)

    def values(self, n: int, label: str, inputs: list[np.ndarray], mask: np.ndarray | None,
               tol: Tol) -> Scenario:
        program, keys, dtypes, mask_key = self.record(n, inputs, mask)
        want = [self.put(f"s{n}_e{i}", e) for i, e in enumerate(self.oracle(inputs, mask))]
        return Scenario(label, "values", program, keys, dtypes, mask_key, want, tol=tol)

    def shapes(self, n: int, label: str, inputs: list[np.ndarray], mask: np.ndarray | None,
               shapes: list[tuple[int, ...]], out_dtype: str | None) -> Scenario:
        program, keys, dtypes, mask_key = self.record(n, inputs, mask)
        return Scenario(label, "shapes", program, keys, dtypes, mask_key,
                        expected_shapes=shapes, out_dtype=out_dtype)


def _scenarios(b: _Builder, check: str) -> list[Scenario]:
    case, dtype = b.case, b.dtype
    inputs, mask = data.inputs(case, dtype), data.mask(case)
    tol = lookup(dtype, check, case)
    if check == "forward":
        return [b.values(0, "forward", inputs, mask, tol)]
    if check == "shape":
        training = False if case.layer == "Dropout" else None
        want = [o.shape for o in expected.forward(case, b.weights64, inputs, training, mask)]
        return [b.shapes(0, "shape", inputs, mask, want, "float32" if dtype == "bfloat16"
                         else dtype)]
    if check == "edge_values":
        return _edge_scenarios(b, inputs, mask, tol)
    return [_gradient_scenario(b, inputs, mask, tol)]


def _edge_scenarios(b: _Builder, inputs: list[np.ndarray], mask: np.ndarray | None,
                    tol: Tol) -> list[Scenario]:
    """The three parts of the edge_values check: empty batch, large inputs, a NaN."""
    case, dtype = b.case, b.dtype
    empty = data.inputs(case, dtype, batch=0)
    want = [(0, *o.shape[1:]) for o in b.oracle(inputs, mask)]
    out = [b.shapes(0, "empty batch", empty, None if mask is None else mask[:0], want, None)]
    floats = [i for i, spec in enumerate(case.inputs) if spec.kind != "int"]
    if floats:
        scale = 1e4 if dtype in ("float32", "float64") else 1e2
        big = data.inputs(case, dtype)
        for i in floats:
            big[i] = data.round_to(big[i] * scale, dtype)
        out.append(b.values(1, f"inputs x{scale:g}", big, mask, Tol(tol.atol * scale, tol.rtol)))
        nan_in = data.inputs(case, dtype)
        nan_in[floats[0]][(0,) * nan_in[floats[0]].ndim] = np.nan
        out.append(b.values(2, "NaN input", nan_in, mask, tol))
    return out


def _gradient_scenario(b: _Builder, inputs: list[np.ndarray], mask: np.ndarray | None,
                       tol: Tol) -> Scenario:
    """The backward check: d sum(output * cotangent) by the framework's autodiff."""
    case = b.case
    if case.differentiable_inputs is not None:
        wrt = list(case.differentiable_inputs)
    else:
        wrt = [i for i, spec in enumerate(case.inputs) if spec.kind != "int"]
    outs = b.oracle(inputs, mask)
    cots = [data.cotangent(f"{case.id}:{k}", o.shape) for k, o in enumerate(outs)]
    program, keys, dtypes, mask_key = b.record(0, inputs, mask)
    want_x, want_w = expected.gradients(case, b.weights64, inputs, cots, wrt, b.built.trainable,
                                        mask)
    trainable = [i for i, t in enumerate(b.built.trainable) if t]
    labels = ["d/dinputs"] + [f"d/d{b.built.weight_names[i]}" for i in trainable]
    want = [b.put(f"g_x{i}", g) for i, g in enumerate(want_x)]
    want += [b.put(f"g_w{i}", g) for i, g in enumerate(want_w)]
    cot_keys = [b.put(f"cot{k}", data.cast(c, b.dtype)) for k, c in enumerate(cots)]
    return Scenario("backward", "gradients", program, keys, dtypes, mask_key, want, tol=tol,
                    cotangents=cot_keys, wrt=wrt, trainable=trainable, grad_labels=labels)


def build(case_id: str, check: str = "forward", backend: str = "numpy",
          dtype: str = "float32", result: dict[str, Any] | None = None,
          device: str = "cpu") -> Reproduction:
    """Record the scenarios of ``check`` for ``case_id`` on ``backend`` in ``dtype``, on
    ``device`` (the script places its tensors there too).

    Returns a ``Reproduction``; UsageError for an unknown case, a check the case lacks or
    that no script reproduces, an unknown dtype, or a backend not installed here.
    """
    case = _case(case_id)
    if check not in case.checks:
        raise UsageError(f"case {case_id!r} has no {check!r} check "
                         f"(it has: {', '.join(case.checks)})")
    if check not in SUPPORTED_CHECKS:
        raise UsageError(f"no standalone reproduction for the {check!r} check "
                         f"(supported: {', '.join(SUPPORTED_CHECKS)})")
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
    from harness.conformance.repro_script import RESERVED

    target = _target(backend, device)
    if not target.supports(dtype):
        raise UsageError(f"backend {backend!r} does not compute in {dtype}")
    module = target.K.active()
    inliner = Inliner(RESERVED)
    inliner.adopt_import("numpy", "np")  # the script's own code uses np
    convert = inliner.function(module.convert_to_tensor, module.__name__)
    recorder = Recorder(module, convert)
    version = target.versions().get(backend, "unknown")
    try:
        built = target.build(case, dtype)
    except Exception:  # noqa: BLE001 - the layer fails when first called: replay that call
        scenario, arrays, error = _build_crash(case, target, dtype, recorder)
        return Reproduction(case, check, backend, dtype, device, version, [], [], [scenario],
                            arrays,
                            recorder.constants, recorder, inliner, result, error)
    builder = _Builder(case, target, built, dtype, recorder)
    scenarios = _scenarios(builder, check)
    for i, (w, d) in enumerate(zip(builder.weights64, builder.var_dtypes, strict=True)):
        builder.put(f"w{i}", data.cast(w, d))
    return Reproduction(case, check, backend, dtype, device, version,
                        list(built.weight_names),
                        builder.var_dtypes, scenarios, builder.arrays, recorder.constants,
                        recorder, inliner, result, _describe(builder.error))


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

    return render(build(case_id, check, backend, dtype, result, device))


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
    for r in wanted:
        name = file_name(r["case"], r["check"], r["backend"], r["dtype"])
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
    backends = args.backends or ["numpy"]
    dtypes = args.dtypes or ["float32"]
    if len(backends) > 1 or len(dtypes) > 1:
        raise UsageError("--repro takes one --backend and one --dtype")
    if getattr(args, "library", None) not in (None, "reference"):
        raise UsageError("--repro reproduces the reference library only")
    print(reproduction(args.repro, args.check or "forward", backends[0], dtypes[0],
                       device=args.device or "cpu"), end="")
    return 0
