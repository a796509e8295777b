"""Render a recorded ``Reproduction`` as the text of a standalone Python script.

The script has five parts: a header saying what it reproduces; the backend functions it calls,
copied from the reference library (``repro_inline``); the recorded layer computation as plain
functions of (inputs, weights, mask); the data (inputs, weights, constants and the oracle's
expected values, as a base64 npz); and scenario functions that run, compare and print.
"""

from __future__ import annotations

import base64
import io
import json
import textwrap
from typing import Any

import numpy as np

from harness import __version__
from harness.conformance.cases import plain_config

#: names the script defines itself; copied backend code is renamed around them
RESERVED = frozenset({"DATA", "DATA_NPZ", "load_data", "check_values", "check_shapes", "main",
                      "base64", "io", "sys", "annotations"})

#: the comparison rule of dl-harness (``harness/conformance/compare.py``), standalone
HELPERS = '''
def load_data():
    """The embedded arrays: inputs, weights, constants and the oracle's expected values."""
    with np.load(io.BytesIO(base64.b64decode("".join(DATA_NPZ)))) as npz:
        return {name: npz[name] for name in npz.files}


def check_values(label, got, want, atol, rtol):
    """Print each output's error against the float64 oracle; True when every value passes
    |got - want| <= atol + rtol * |want| (NaNs and infinities must match exactly)."""
    if len(got) != len(want):
        print(f"{label}: {len(got)} outputs, expected {len(want)}")
        return False
    ok = True
    for i, (g, w) in enumerate(zip(got, want)):
        g = np.asarray(g, dtype=np.float64)
        name = f"{label}[{i}]"
        if g.shape != w.shape:
            print(f"{name}: shape {g.shape}, expected {w.shape}")
            ok = False
            continue
        if g.size == 0:
            print(f"{name}: empty, as expected")
            continue
        nan_g, nan_w = np.isnan(g), np.isnan(w)
        if not np.array_equal(nan_g, nan_w):
            print(f"{name}: NaN at {int(nan_g.sum())} positions, expected {int(nan_w.sum())} "
                  f"(first differing index {np.argwhere(nan_g != nan_w)[0].tolist()})")
            ok = False
            continue
        inf_w = np.isinf(w)
        if not np.array_equal(g[inf_w], w[inf_w]) or np.isinf(g[~inf_w & ~nan_w]).any():
            print(f"{name}: infinities differ")
            ok = False
            continue
        finite = ~nan_w & ~inf_w
        diff = np.abs(g - w)
        diff[~finite] = 0.0
        scale = np.abs(np.where(finite, w, 0.0))
        bad = (diff > atol + rtol * scale) & finite
        rel = diff / np.maximum(scale, np.finfo(np.float64).tiny)
        big = finite & (scale > atol)
        max_rel = float(rel[big].max()) if big.any() else 0.0
        line = (f"{name}: shape {g.shape}, max abs err {float(diff.max()):.3g}, "
                f"max rel err {max_rel:.3g}, {int(bad.sum())}/{bad.size} outside tolerance")
        if bad.any():
            worst = np.unravel_index(int(np.argmax(np.where(bad, diff, -1.0))), g.shape)
            line += f"; worst at {list(map(int, worst))}: got {g[worst]!r}, expected {w[worst]!r}"
            ok = False
        print(line)
    return ok


def check_shapes(label, got, want_shapes, want_dtype):
    """Print each output's shape (and dtype); True when they are the expected ones."""
    ok = len(got) == len(want_shapes)
    if not ok:
        print(f"{label}: {len(got)} outputs, expected {len(want_shapes)}")
    for i, (g, shape) in enumerate(zip(got, want_shapes)):
        g = np.asarray(g)
        good = tuple(g.shape) == tuple(shape)
        if want_dtype is not None and g.dtype.kind == "f":
            good = good and str(g.dtype) == want_dtype
        print(f"{label}[{i}]: shape {tuple(g.shape)} dtype {g.dtype}; expected shape "
              f"{tuple(shape)}" + (f" dtype {want_dtype}" if want_dtype else ""))
        ok = ok and good
    return ok
'''


def _header(rep: Any) -> str:
    case = rep.case
    tol = {s.tol for s in rep.scenarios if s.mode != "shapes"}
    lines = [
        f"Standalone reproduction: {case.id} ({case.layer}), check {rep.check!r}, "
        f"backend {rep.backend} {rep.version}, dtype {rep.dtype}, device {rep.device}.",
        "",
        f"Layer config: {json.dumps(plain_config(case.config), sort_keys=True)}",
        f"Inputs: {[tuple(s.shape) for s in case.inputs]} (batch first); "
        f"weights: {', '.join(rep.weight_names) or 'none'}.",
    ]
    if rep.result:
        lines.append(f"Recorded outcome: {rep.result.get('outcome')}"
                     + (f" - {rep.result['message']}" if rep.result.get("message") else ""))
    if rep.error:
        lines.append(f"While recorded, the layer raised {rep.error}")
    lines += [
        "",
        "The layer's computation is replayed as the backend calls it made, through the",
        f"{rep.backend} backend's own functions copied below; nothing here imports dl-harness.",
        "Expected values come from dl-harness's independent float64 NumPy oracle.",
    ]
    for t in sorted(tol, key=lambda t: (t.atol, t.rtol)):
        lines.append(f"A value passes when |got - expected| <= {t.atol:g} + {t.rtol:g} * "
                     "|expected|.")
    lines += ["", "Exit status: 0 when everything is within tolerance, 1 when not (or when the",
              "backend raises).",
              f"Made by dl-harness {__version__}: harness conform --repro {case.id} "
              f"--backend {rep.backend} --dtype {rep.dtype} --check {rep.check}"
              + (f" --device {rep.device}" if rep.device != "cpu" else "")]
    return '"""' + "\n".join(lines).replace('"""', "'''") + '\n"""'


def _blob(arrays: dict[str, np.ndarray]) -> str:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    text = base64.b64encode(buffer.getvalue()).decode("ascii")
    chunks = textwrap.wrap(text, 88)
    return "DATA_NPZ = [\n" + "".join(f'    "{c}",\n' for c in chunks) + "]\n"


def _tensors(keys: list[str], dtypes: list[str | None], convert: str) -> str:
    return "[" + ", ".join(f"{convert}(DATA[{k!r}], dtype={d!r})"
                           for k, d in zip(keys, dtypes, strict=True)) + "]"


def _scenario(n: int, s: Any, rep: Any, names: dict[str, str], program: str) -> str:
    convert, to_numpy = names["convert_to_tensor"], names["to_numpy"]
    w_keys = [f"w{i}" for i in range(len(rep.weight_names))]
    mask = "None" if s.mask is None else f"{convert}(DATA[{s.mask!r}], dtype='bool')"
    body = [f"def scenario_{n}():",
            f'    """{s.label}{(": " + s.note) if s.note else ""}"""',
            f"    xs = {_tensors(s.inputs, s.input_dtypes, convert)}"]
    if s.mode == "gradients":
        # as dl-harness does: weights go to value_and_grad as NumPy arrays
        body.append(f"    ws = [{', '.join(f'DATA[{k!r}]' for k in w_keys)}]")
    else:
        body.append(f"    ws = {_tensors(w_keys, rep.weight_dtypes, convert)}")
    body.append(f"    mask = {mask}")
    if rep.weight_names:
        body.append(f"    # ws: {', '.join(rep.weight_names)}")
    if s.mode == "values":
        body += [f"    outs = [{to_numpy}(o) for o in {program}(xs, ws, mask)]",
                 f"    return check_values({s.label!r}, outs, "
                 f"[{', '.join(f'DATA[{k!r}]' for k in s.expected)}], "
                 f"atol={s.tol.atol!r}, rtol={s.tol.rtol!r})"]
    elif s.mode == "run":
        body += [f"    {program}(xs, ws, mask)",
                 "    print('no error: the layer ran without raising')",
                 "    return True"]
    elif s.mode == "shapes":
        body += [f"    outs = [{to_numpy}(o) for o in {program}(xs, ws, mask)]",
                 f"    return check_shapes({s.label!r}, outs, {s.expected_shapes!r}, "
                 f"{s.out_dtype!r})"]
    else:
        body += _gradient_body(s, names, program)
    return "\n".join(body)


def _gradient_body(s: Any, names: dict[str, str], program: str) -> list[str]:
    convert, to_numpy = names["convert_to_tensor"], names["to_numpy"]
    n_x = len(s.wrt)
    lines = [
        f"    cots = [{', '.join(f'{convert}(DATA[{k!r}])' for k in s.cotangents)}]",
        f"    wrt, trainable = {s.wrt!r}, {s.trainable!r}",
        "",
        "    def objective(values):",
        "        # sum(output * cotangent) as a function of the chosen inputs and weights",
        "        x_now, w_now = list(xs), list(ws)",
        "        for k, i in enumerate(wrt):",
        "            x_now[i] = values[k]",
        "        for k, i in enumerate(trainable):",
        "            w_now[i] = values[len(wrt) + k]",
        "        total = None",
        f"        for o, c in zip({program}(x_now, w_now, mask), cots):",
        f"            term = {names['sum']}({names['multiply']}(o, c))",
        f"            total = term if total is None else {names['add']}(total, term)",
        "        return total",
        "",
        "    start = [xs[i] for i in wrt] + [ws[i] for i in trainable]",
        f"    _, grads = {names['value_and_grad']}(objective, start)",
        f"    grads = [{to_numpy}(g) for g in grads]",
        f"    ok = check_values('d/dinputs', grads[:{n_x}], "
        f"[{', '.join(f'DATA[{k!r}]' for k in s.expected[:n_x])}], "
        f"atol={s.tol.atol!r}, rtol={s.tol.rtol!r})",
    ]
    for k, (label, key) in enumerate(zip(s.grad_labels[1:], s.expected[n_x:], strict=True)):
        lines.append(f"    ok = check_values({label!r}, [grads[{n_x + k}]], [DATA[{key!r}]], "
                     f"atol={s.tol.atol!r}, rtol={s.tol.rtol!r}) and ok")
    lines.append("    return ok")
    return lines


def render(rep: Any) -> str:
    """The script's source text for a ``repro.Reproduction``."""
    inliner, module = rep.inliner, rep.recorder.module
    needed = {"convert_to_tensor", "to_numpy"} | ({"set_device"} if rep.device != "cpu" else set())
    for s in rep.scenarios:
        needed |= s.program.ops()
        if s.mode == "gradients":
            needed |= {"value_and_grad", "sum", "multiply", "add"}
    names = {op: inliner.function(getattr(module, op), module.__name__) for op in sorted(needed)}
    programs: dict[str, str] = {}  # rendered body -> function name, so repeats are shared
    program_text, aliases = [], []
    for s in rep.scenarios:
        body = "\n".join(s.program.render(names)[1:])
        if body in programs:
            aliases.append(f"{s.program.name} = {programs[body]}  # the same computation")
        else:
            programs[body] = s.program.name
            program_text.append("\n".join(s.program.render(names)))
    scenarios = [_scenario(n, s, rep, names, s.program.name) for n, s in enumerate(rep.scenarios)]
    calls = "\n".join(f"    ok = scenario_{n}() and ok" for n in range(len(rep.scenarios)))
    if rep.device != "cpu":  # tensors go where the failing run put them
        calls = f"    {names['set_device']}({rep.device!r})\n" + calls
    parts = [
        "#!/usr/bin/env python3",
        _header(rep),
        "from __future__ import annotations\n\nimport base64\nimport io\nimport sys\n",
        "# ---- the backend's functions, copied from the dl-harness reference library ----",
        inliner.source(),
        "\n# ---- the layer's computation: the backend calls it made, in order (recorded) ----\n",
        "\n\n".join(program_text) + ("\n\n" + "\n".join(aliases) if aliases else ""),
        "\n\n# ---- data: inputs, weights, constants, expected values (base64 npz) ----",
        _blob({**rep.arrays, **rep.constants}),
        HELPERS,
        "\n" + "\n\n\n".join(scenarios),
        "\n\ndef main():\n    ok = True\n" + calls + "\n"
        "    print('OK: within tolerance' if ok else 'MISMATCH: reproduced the failure')\n"
        "    return 0 if ok else 1\n",
        "\nDATA = load_data()\n\nif __name__ == '__main__':\n    sys.exit(main())\n",
    ]
    return "\n".join(parts)
