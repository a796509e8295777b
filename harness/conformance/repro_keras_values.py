"""Keras reproduction steps of the value checks: ``forward``, ``shape``, ``edge_values``,
``dtype``, ``backward`` and ``masking``, each as its check computes it (``checks/values.py``,
``checks/gradients.py``, ``checks/masking.py``) against the oracle's values.
"""

from __future__ import annotations

import numpy as np

from harness.conformance import data, expected
from harness.conformance.repro_keras_builder import (
    Builder,
    replayed_on_failure,
    src_data,
    src_list,
)
from harness.conformance.tolerances import Tol, lookup
from harness.errors import UsageError


def _forward(b: Builder, tol: Tol) -> None:
    b.values("forward", "f", data.inputs(b.case, b.rep.dtype), tol, data.mask(b.case))


def _shape(b: Builder, tol: Tol) -> None:
    case, dtype = b.case, b.rep.dtype
    inputs, mask = data.inputs(case, dtype), data.mask(case)
    layer = b.layer(dtype)
    training = False if case.layer == "Dropout" else None
    want = [o.shape for o in expected.forward(case, b.weights64[dtype], inputs, training, mask)]
    xs, m = b.inputs("s_x", inputs, dtype), b.mask("s_mask", mask)
    declared = [(None, *x.shape[1:]) for x in inputs]
    out_dtype = "float32" if dtype == "bfloat16" else dtype
    b.rep.steps.append(("shape", f"layer = {layer}\nouts = run(layer, DTYPE, {src_list(xs)}, {m!r})"
                                 f"\nok = check_shapes('shape', outs, {want!r}, {out_dtype!r})\n"
                                 f"return check_declared(layer, {declared!r}, outs) and ok\n"))


def _edge_values(b: Builder, tol: Tol) -> None:
    case, dtype = b.case, b.rep.dtype
    mask = data.mask(case)
    layer = b.layer(dtype)
    want = [(0, *o.shape[1:]) for o in expected.forward(case, b.weights64[dtype],
                                                        data.inputs(case, dtype), None, mask)]
    xs = b.inputs("empty_x", data.inputs(case, dtype, batch=0), dtype)
    m = b.mask("empty_mask", None if mask is None else mask[:0])
    b.rep.steps.append(("empty batch", f"layer = {layer}\nouts = run(layer, DTYPE, {src_list(xs)}, "
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


def _dtype(b: Builder, tol: Tol) -> None:
    case, mask = b.case, data.mask(b.case)
    m = b.mask("mask", mask)
    x64 = data.inputs(case, "float64")
    t64 = lookup("float64", "forward", case)
    with replayed_on_failure():
        layer = b.layer("float64")
        want = b.oracle("float64", x64, mask, "e64_")
        xs = b.inputs("x64_", x64, "float64")
        b.rep.steps.append(("float64 against the oracle",
                            f"outs = run({layer}, 'float64', {src_list(xs)}, {m!r})\n"
                            f"ok = check_values('float64', outs, {src_data(want)}, "
                            f"atol={t64.atol!r}, rtol={t64.rtol!r})\n"
                            "return check_dtypes('float64', outs, 'float64') and ok\n"))
    low = ["float16"] + (["bfloat16"] if b.target.supports("bfloat16") else [])
    for dtype in low:
        with replayed_on_failure():
            layer = b.layer(dtype)
            weights = src_list(b.weight_keys[dtype])  # the same weights in a float32 layer
            xs = b.inputs(f"x{dtype}_", data.inputs(case, dtype), dtype)
            t = lookup(dtype, "forward", case)
            np_dtype = "float32" if dtype == "bfloat16" else dtype
            b.rep.steps.append((f"{dtype} against float32 with the same weights and inputs",
                                f"low = run({layer}, {dtype!r}, {src_list(xs)}, {m!r})\n"
                                f"ref = run(built_layer('float32', {weights}), 'float32', "
                                f"{src_list(xs)}, {m!r})\n"
                                f"ok = check_values('{dtype} vs float32', low, "
                                f"[o.astype(np.float64) for o in ref], atol={t.atol!r}, "
                                f"rtol={t.rtol!r})\n"
                                f"return check_dtypes({dtype!r}, low, {np_dtype!r}) and ok\n"))


def _backward(b: Builder, tol: Tol) -> None:
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
             f"gx, gw = gradients(layer, {src_list(xs)}, {m!r}, {src_list(cots)}, {wrt!r})",
             f"ok = check_values('d/dinputs', gx, {src_data(gx)}, atol={tol.atol!r}, "
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


def _masking(b: Builder, tol: Tol) -> None:
    case, dtype = b.case, b.rep.dtype
    inputs, mask, layer, xs, m = b.layer_call(dtype)
    emitted = expected.output_mask(case, inputs, mask)
    want_mask = None if emitted is None else b.put("mask_out", emitted)
    want = b.oracle(dtype, inputs, mask, "e")
    lines = [f"layer = {layer}", f"ok = check_mask(layer, {src_list(xs)}, {m!r}, {want_mask!r})",
             f"outs = run(layer, DTYPE, {src_list(xs)}, {m!r})",
             f"ok = check_values('output', outs, {src_data(want)}, atol={tol.atol!r}, "
             f"rtol={tol.rtol!r}) and ok"]
    steps = mask if mask is not None else emitted
    if steps is not None and case.inputs[0].kind != "int" and case.layer != "Masking":
        noisy = [x.copy() for x in inputs]
        rng = np.random.default_rng(data.seed_of(case.id, "mask-noise"))
        noisy[0][~steps] = data.round_to(rng.normal(size=noisy[0][~steps].shape) * 10, dtype)
        nx = b.inputs("noisy", noisy, dtype)
        key = b.put("steps", steps)
        lines += [f"again = run(layer, DTYPE, {src_list(nx)}, {m!r})",
                  f"ok = check_values('output with masked steps perturbed', visible(again, "
                  f"DATA[{key!r}]), [o.astype(np.float64) for o in visible(outs, "
                  f"DATA[{key!r}])], atol={tol.atol!r}, rtol={tol.rtol!r}) and ok"]
    b.rep.steps.append(("masking: emitted mask, masked outputs, masked steps ignored",
                        "\n".join([*lines, "return ok"]) + "\n"))


STEPS = {"forward": _forward, "shape": _shape, "edge_values": _edge_values, "dtype": _dtype,
         "backward": _backward, "masking": _masking}
