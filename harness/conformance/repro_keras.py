"""Standalone reproductions of Keras 3 conformance results.

For a failed or errored Keras result, a script that sets ``KERAS_BACKEND``, builds the layer with
``keras.layers.<Name>(**config)``, builds it on the case's inputs, sets the case's weights, runs
the check's steps with Keras alone and prints each step's difference from the oracle values
stored in it (exit 1 while the failure persists). The data comes from the Keras target on that
backend and from the oracle, here; the text from ``repro_keras_script``.

Keras binds its backend at import, so ``write_scripts`` makes each backend's scripts in a
process of its own (``python -m harness.conformance.repro_keras``, one per backend).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.conformance import data, expected
from harness.conformance.cases import Case, get, plain_config
from harness.conformance.tolerances import Tol, lookup
from harness.errors import UsageError

#: the checks a Keras script reproduces
SUPPORTED_CHECKS = ("forward", "shape", "edge_values", "dtype", "backward", "masking")


@dataclass
class KerasReproduction:
    """Everything the script renderer needs, as plain data."""

    case: Case
    check: str
    backend: str
    dtype: str
    device: str
    keras_device: str
    versions: dict[str, str]
    config: dict[str, Any]
    weight_names: list[str] = field(default_factory=list)
    build_inputs: list[str] = field(default_factory=list)  # DATA keys the layer is built on
    steps: list[tuple[str, str]] = field(default_factory=list)  # (label, body source)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    result: dict[str, Any] | None = None


def _list(keys: list[str]) -> str:
    return "[" + ", ".join(repr(k) for k in keys) + "]"


def _data(keys: list[str]) -> str:  # the arrays themselves, in the script
    return "[" + ", ".join(f"DATA[{k!r}]" for k in keys) + "]"


class _Builder:
    """Collects the data and the steps of one script."""

    def __init__(self, rep: KerasReproduction, target: Any):
        self.rep, self.target, self.case = rep, target, rep.case
        self.weights64: dict[str, list[np.ndarray]] = {}
        self.weight_keys: dict[str, list[str]] = {}
        self.built: dict[str, Any] = {}

    def put(self, key: str, array: np.ndarray) -> str:
        self.rep.arrays[key] = np.asarray(array)
        return key

    def inputs(self, prefix: str, arrays: list[np.ndarray], dtype: str) -> list[str]:
        return [self.put(f"{prefix}{i}", data.cast(x, dtype)) for i, x in enumerate(arrays)]

    def mask(self, name: str, mask: np.ndarray | None) -> str | None:
        return None if mask is None else self.put(name, mask)

    def layer(self, dtype: str) -> str:
        """Source of ``built_layer(dtype, weights)``: the case's weights as the Keras target
        sets them; Keras's own initial weights when building raised here too."""
        try:
            built = self.target.build(self.case, dtype)
        except Exception as exc:  # noqa: BLE001 - the script replays the same build
            self.rep.steps.append((f"build the {dtype} layer (raised when dl-harness built it: "
                                   f"{type(exc).__name__})",
                                   f"built_layer({dtype!r}, None)\n"
                                   "print('no error: the layer was built')\nreturn True\n"))
            raise _BuildFailed from exc
        weights = self.target.get_weights(built)
        self.weights64[dtype], self.built[dtype] = weights, built
        if not self.rep.weight_names:
            self.rep.weight_names = list(built.weight_names)
        keys = [self.put(f"w_{dtype}_{i}", data.cast(w, dtype)) for i, w in enumerate(weights)]
        self.weight_keys[dtype] = keys
        return f"built_layer({dtype!r}, {_list(keys)})"

    def oracle(self, dtype: str, inputs: list[np.ndarray], mask: np.ndarray | None,
               prefix: str) -> list[str]:
        outs = expected.forward(self.case, self.weights64[dtype], inputs, None, mask)
        return [self.put(f"{prefix}{i}", o) for i, o in enumerate(outs)]

    def values(self, label: str, prefix: str, inputs: list[np.ndarray], tol: Tol,
               mask: np.ndarray | None) -> None:
        """A step comparing the outputs on ``inputs`` with the oracle's."""
        dtype = self.rep.dtype
        layer = self.layer(dtype)
        xs, m = self.inputs(f"{prefix}_x", inputs, dtype), self.mask(f"{prefix}_mask", mask)
        want = self.oracle(dtype, inputs, mask, f"{prefix}_e")
        self.rep.steps.append((label, f"layer = {layer}\nouts = run(layer, DTYPE, {_list(xs)}, "
                                      f"{m!r})\nreturn check_values({label!r}, outs, "
                                      f"{_data(want)}, atol={tol.atol!r}, rtol={tol.rtol!r})\n"))


class _BuildFailed(Exception):
    """Building the layer raised: the step that replays it is already added."""


def _forward(b: _Builder, tol: Tol) -> None:
    b.values("forward", "f", data.inputs(b.case, b.rep.dtype), tol, data.mask(b.case))


def _shape(b: _Builder, tol: Tol) -> None:
    case, dtype = b.case, b.rep.dtype
    inputs, mask = data.inputs(case, dtype), data.mask(case)
    layer = b.layer(dtype)
    training = False if case.layer == "Dropout" else None
    want = [o.shape for o in expected.forward(case, b.weights64[dtype], inputs, training, mask)]
    xs, m = b.inputs("s_x", inputs, dtype), b.mask("s_mask", mask)
    declared = [(None, *x.shape[1:]) for x in inputs]
    out_dtype = "float32" if dtype == "bfloat16" else dtype
    b.rep.steps.append(("shape", f"layer = {layer}\nouts = run(layer, DTYPE, {_list(xs)}, {m!r})"
                                 f"\nok = check_shapes('shape', outs, {want!r}, {out_dtype!r})\n"
                                 f"return check_declared(layer, {declared!r}, outs) and ok\n"))


def _edge_values(b: _Builder, tol: Tol) -> None:
    case, dtype = b.case, b.rep.dtype
    mask = data.mask(case)
    layer = b.layer(dtype)
    want = [(0, *o.shape[1:]) for o in expected.forward(case, b.weights64[dtype],
                                                        data.inputs(case, dtype), None, mask)]
    xs = b.inputs("empty_x", data.inputs(case, dtype, batch=0), dtype)
    m = b.mask("empty_mask", None if mask is None else mask[:0])
    b.rep.steps.append(("empty batch", f"layer = {layer}\nouts = run(layer, DTYPE, {_list(xs)}, "
                                       f"{m!r})\nreturn check_shapes('empty batch', outs, "
                                       f"{want!r}, None)\n"))
    floats = [i for i, spec in enumerate(case.inputs) if spec.kind != "int"]
    if not floats:
        return
    scale = 1e4 if dtype in ("float32", "float64") else 1e2
    big = data.inputs(case, dtype)
    for i in floats:
        big[i] = data.round_to(big[i] * scale, dtype)
    b.values(f"inputs x{scale:g}", "big", big, Tol(tol.atol * scale, tol.rtol), mask)
    nan_in = data.inputs(case, dtype)
    nan_in[floats[0]][(0,) * nan_in[floats[0]].ndim] = np.nan
    b.values("NaN input", "nan", nan_in, tol, mask)


def _dtype(b: _Builder, tol: Tol) -> None:
    case, mask = b.case, data.mask(b.case)
    m = b.mask("mask", mask)
    x64 = data.inputs(case, "float64")
    t64 = lookup("float64", "forward", case)
    with _replayed_on_failure():
        layer = b.layer("float64")
        want = b.oracle("float64", x64, mask, "e64_")
        xs = b.inputs("x64_", x64, "float64")
        b.rep.steps.append(("float64 against the oracle",
                            f"outs = run({layer}, 'float64', {_list(xs)}, {m!r})\n"
                            f"ok = check_values('float64', outs, {_data(want)}, "
                            f"atol={t64.atol!r}, rtol={t64.rtol!r})\n"
                            "return check_dtypes('float64', outs, 'float64') and ok\n"))
    low = ["float16"] + (["bfloat16"] if b.target.supports("bfloat16") else [])
    for dtype in low:
        with _replayed_on_failure():
            layer = b.layer(dtype)
            weights = _list(b.weight_keys[dtype])  # the same weights in a float32 layer
            xs = b.inputs(f"x{dtype}_", data.inputs(case, dtype), dtype)
            t = lookup(dtype, "forward", case)
            np_dtype = "float32" if dtype == "bfloat16" else dtype
            b.rep.steps.append((f"{dtype} against float32 with the same weights and inputs",
                                f"low = run({layer}, {dtype!r}, {_list(xs)}, {m!r})\n"
                                f"ref = run(built_layer('float32', {weights}), 'float32', "
                                f"{_list(xs)}, {m!r})\n"
                                f"ok = check_values('{dtype} vs float32', low, "
                                f"[o.astype(np.float64) for o in ref], atol={t.atol!r}, "
                                f"rtol={t.rtol!r})\n"
                                f"return check_dtypes({dtype!r}, low, {np_dtype!r}) and ok\n"))


def _replayed_on_failure() -> contextlib.suppress:
    """Go on to the next part when building raised (its replay step is already added)."""
    return contextlib.suppress(_BuildFailed)


def _backward(b: _Builder, tol: Tol) -> None:
    case, dtype = b.case, b.rep.dtype
    if b.rep.backend == "numpy":
        raise UsageError("Keras's numpy backend has no autodiff: no backward reproduction")
    inputs, mask = data.inputs(case, dtype), data.mask(case)
    layer = b.layer(dtype)
    if case.differentiable_inputs is not None:
        wrt = list(case.differentiable_inputs)
    else:
        wrt = [i for i, spec in enumerate(case.inputs) if spec.kind != "int"]
    outs = expected.forward(case, b.weights64[dtype], inputs, None, mask)
    cots = [b.put(f"cot{k}", data.cotangent(f"{case.id}:{k}", o.shape))
            for k, o in enumerate(outs)]
    built = b.built[dtype]
    want_x, want_w = expected.gradients(case, b.weights64[dtype], inputs,
                                        [b.rep.arrays[c] for c in cots], wrt, built.trainable,
                                        mask)
    xs, m = b.inputs("x", inputs, dtype), b.mask("mask", mask)
    gx = [b.put(f"gx{i}", g) for i, g in enumerate(want_x)]
    names = [n for n, t in zip(built.weight_names, built.trainable, strict=True) if t]
    lines = [f"layer = {layer}",
             f"gx, gw = gradients(layer, {_list(xs)}, {m!r}, {_list(cots)}, {wrt!r})",
             f"ok = check_values('d/dinputs', gx, {_data(gx)}, atol={tol.atol!r}, "
             f"rtol={tol.rtol!r})",
             f"if len(gw) != {len(want_w)}:",
             f"    print(f'{{len(gw)}} weight gradients, expected {len(want_w)}')",
             "    ok = False"]
    for i, (name, g) in enumerate(zip(names, want_w, strict=True)):
        key = b.put(f"gw{i}", g)
        lines.append(f"ok = check_values('d/d{name}', gw[{i}:{i + 1}], [DATA[{key!r}]], "
                     f"atol={tol.atol!r}, rtol={tol.rtol!r}) and ok")
    b.rep.steps.append(("backward: the backend's autodiff against the oracle's central "
                        "differences", "\n".join([*lines, "return ok"]) + "\n"))


def _masking(b: _Builder, tol: Tol) -> None:
    case, dtype = b.case, b.rep.dtype
    inputs, mask = data.inputs(case, dtype), data.mask(case)
    layer = b.layer(dtype)
    xs, m = b.inputs("x", inputs, dtype), b.mask("mask", mask)
    emitted = expected.output_mask(case, inputs, mask)
    want_mask = None if emitted is None else b.put("mask_out", emitted)
    want = b.oracle(dtype, inputs, mask, "e")
    lines = [f"layer = {layer}", f"ok = check_mask(layer, {_list(xs)}, {m!r}, {want_mask!r})",
             f"outs = run(layer, DTYPE, {_list(xs)}, {m!r})",
             f"ok = check_values('output', outs, {_data(want)}, atol={tol.atol!r}, "
             f"rtol={tol.rtol!r}) and ok"]
    steps = mask if mask is not None else emitted
    if steps is not None and case.inputs[0].kind != "int" and case.layer != "Masking":
        noisy = [x.copy() for x in inputs]
        rng = np.random.default_rng(data.seed_of(case.id, "mask-noise"))
        noisy[0][~steps] = data.round_to(rng.normal(size=noisy[0][~steps].shape) * 10, dtype)
        nx = b.inputs("noisy", noisy, dtype)
        key = b.put("steps", steps)
        lines += [f"again = run(layer, DTYPE, {_list(nx)}, {m!r})",
                  f"ok = check_values('output with masked steps perturbed', visible(again, "
                  f"DATA[{key!r}]), [o.astype(np.float64) for o in visible(outs, "
                  f"DATA[{key!r}])], atol={tol.atol!r}, rtol={tol.rtol!r}) and ok"]
    b.rep.steps.append(("masking: emitted mask, masked outputs, masked steps ignored",
                        "\n".join([*lines, "return ok"]) + "\n"))


_STEPS = {"forward": _forward, "shape": _shape, "edge_values": _edge_values, "dtype": _dtype,
          "backward": _backward, "masking": _masking}


def build(case_id: str, check: str = "forward", backend: str = "jax", dtype: str = "float32",
          result: dict[str, Any] | None = None, device: str = "cpu") -> KerasReproduction:
    """The data and steps of a script reproducing ``check`` of ``case_id`` with Keras on
    ``backend`` (imported here: this process must not run Keras on another backend).
    UsageError for an unknown case, a check the case lacks or no script reproduces, an
    unknown dtype, or Keras or the backend missing."""
    from harness.conformance.targets import DeviceUnavailable, make_target
    from harness.conformance.targets.keras3_backends import device_name

    try:
        case = get(case_id)
    except KeyError:
        raise UsageError(f"unknown conformance case {case_id!r}") from None
    if not isinstance(case, Case):
        raise UsageError(f"case {case_id!r} trains a model; only layer cases have reproductions")
    if check not in case.checks:
        raise UsageError(f"case {case_id!r} has no {check!r} check "
                         f"(it has: {', '.join(case.checks)})")
    if check not in SUPPORTED_CHECKS:
        raise UsageError(f"no standalone Keras reproduction for the {check!r} check "
                         f"(supported: {', '.join(SUPPORTED_CHECKS)})")
    if dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise UsageError(f"unknown dtype {dtype!r}")
    if case.layer == "Dropout" and case.training and check != "shape":
        raise UsageError(f"case {case_id!r} draws a random dropout mask: no fixed oracle values "
                         "to reproduce against")
    try:
        target = make_target("keras", backend, device)
    except DeviceUnavailable as exc:
        raise UsageError(str(exc)) from None
    rep = KerasReproduction(case, check, backend, dtype, device, device_name(device),
                            target.versions(), plain_config(case.config), result=result)
    builder = _Builder(rep, target)
    rep.build_inputs = builder.inputs("build_x", data.inputs(case, dtype), dtype)
    try:
        _STEPS[check](builder, lookup(dtype, check, case))
    except _BuildFailed:
        pass  # the script's one step replays the build that raised
    return rep


def reproduction(case_id: str, check: str = "forward", backend: str = "jax",
                 dtype: str = "float32", result: dict[str, Any] | None = None,
                 device: str = "cpu") -> str:
    """The source of a standalone Keras script for ``check`` of ``case_id`` on ``backend``;
    it exits 0 when every step is within tolerance, 1 when not (or Keras raises)."""
    from harness.conformance.repro_keras_script import render

    return render(build(case_id, check, backend, dtype, result, device))


def default_backend() -> str:
    """The first of jax, tensorflow, torch importable here (numpy if none is)."""
    for name in ("jax", "tensorflow", "torch"):
        if importlib.util.find_spec(name) is not None:
            return name
    return "numpy"


def repro_command(args: argparse.Namespace) -> int:
    """``harness conform --repro CASE_ID --library keras``: print the script; exit 0."""
    backends = args.backends or [default_backend()]
    dtypes = args.dtypes or ["float32"]
    if len(backends) > 1 or len(dtypes) > 1:
        raise UsageError("--repro takes one --backend and one --dtype")
    print(reproduction(args.repro, args.check or "forward", backends[0], dtypes[0],
                       device=args.device or "cpu"), end="")
    return 0


def write_scripts(results: list[dict[str, Any]], folder: str | Path
                  ) -> tuple[list[Path], list[str]]:
    """Write a script into ``folder`` for each Keras result (failed or errored), with one
    process per backend; the paths written and a README line per result."""
    if importlib.util.find_spec("keras") is None:
        return [], [f"- {_name(r)}: not written: keras is not installed here" for r in results]
    written: list[Path] = []
    notes: list[str] = []
    for backend in sorted({r["backend"] for r in results}):
        mine = [r for r in results if r["backend"] == backend]
        with tempfile.TemporaryDirectory(prefix="harness-repro-keras-") as scratch:
            answer = Path(scratch) / "answer.json"
            request = {"results": mine, "folder": str(folder), "answer": str(answer)}
            proc = subprocess.run([sys.executable, "-m", __name__], input=json.dumps(request),
                                  text=True, capture_output=True,
                                  env={**os.environ, "KERAS_BACKEND": backend})
            if proc.returncode != 0 or not answer.is_file():
                why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                notes += [f"- {_name(r)}: not written: Keras on {backend} failed ({why})"
                          for r in mine]
                continue
            done = json.loads(answer.read_text(encoding="utf-8"))
        written += [Path(p) for p in done["written"]]
        notes += done["notes"]
    return written, notes


def _name(r: dict[str, Any]) -> str:
    from harness.conformance.repro import file_name

    return file_name(r["case"], r["check"], r["backend"], r["dtype"])


def _write_here(results: list[dict[str, Any]], folder: Path) -> tuple[list[str], list[str]]:
    """Write the scripts of ``results`` (one backend: this process's) into ``folder``."""
    written, notes = [], []
    for r in results:
        name = _name(r)
        try:
            text = reproduction(r["case"], r["check"], r["backend"], r["dtype"], result=r,
                                device=r.get("device") or "cpu")
        except UsageError as exc:
            notes.append(f"- {name}: not written: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - the other scripts are still written
            notes.append(f"- {name}: not written: {type(exc).__name__}: {exc}")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
        written.append(str(folder / name))
        notes.append(f"- {name}: `python {name}`")
    return written, notes


def main() -> int:
    """The per-backend process of ``write_scripts``: a JSON request on stdin."""
    request = json.loads(sys.stdin.read())
    written, notes = _write_here(request["results"], Path(request["folder"]))
    Path(request["answer"]).write_text(json.dumps({"written": written, "notes": notes}),
                                       encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
