"""Render a recorded ``Reproduction`` as the text of a standalone Python script.

The script has six parts: a header saying what it reproduces and how it compares; the backend
functions it calls, copied from the reference library (``repro_inline``); the recorded layer
computations as plain functions of (inputs, weights, mask); the runner that calls them on the
data, eagerly or as a compiled graph (``repro_runners``); the data (inputs, weights, constants
and the oracle's expected values, as a base64 npz); and one function per scenario that runs,
compares and prints, in the way of the check it reproduces (``_MODES``).
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
RESERVED = frozenset({"DATA", "DATA_NPZ", "load_data", "check_values", "check_shapes",
                      "check_mask", "main", "base64", "io", "sys", "os", "annotations",
                      "run_layer", "run_compiled", "layer_gradients", "DEFAULT_MODE",
                      "_FUNCTIONS", "_arrays", "_symbolic", "_graph"})

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


def check_mask(label, got, want):
    """Print whether the emitted mask is the expected one (None: no mask); True when equal."""
    if got is None or want is None:
        print(f"{label}: {'None' if got is None else 'a mask'}, expected "
              f"{'None' if want is None else 'a mask'}")
        return got is None and want is None
    got = np.asarray(got, dtype=bool)
    if got.shape != want.shape:
        print(f"{label}: shape {got.shape}, expected {want.shape}")
        return False
    wrong = got != want
    line = f"{label}: shape {got.shape}, {int(wrong.sum())}/{wrong.size} positions differ"
    if wrong.any():
        line += (f"; got {got.astype(int).tolist()}, expected {want.astype(int).tolist()}")
    print(line)
    return not wrong.any()


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


#: what each check's script compares, for its header
COMPARED = {
    "forward": "Expected values come from dl-harness's independent float64 NumPy oracle.",
    "dtype": "Each dtype's run is compared with the float64 NumPy oracle on the same rounded "
             "inputs and weights, with that dtype's forward tolerance.",
    "masking": "The emitted mask must equal the oracle's exactly; outputs are compared with "
               "the float64 NumPy oracle.",
    "determinism": "The program runs twice on the same data: the runs must be bit-for-bit "
                   "equal.",
    "batch_invariance": "Each sample computed alone must equal its rows of the batched result.",
    "compiled": "The compiled program is compared with the eager run (what the check judges) "
                "and, for information, with the float64 NumPy oracle.",
}


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
    ]
    if rep.execution == "graph":
        lines.append(f"{rep.backend} builds graphs: the calls run on symbolic inputs, and the "
                     f"graph is compiled with {rep.backend}.function and run on the data.")
    lines.append(COMPARED.get(rep.check, COMPARED["forward"]))
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


def _pairs(keys: list[str], dtypes: list[str | None]) -> str:
    return "[" + ", ".join(f"(DATA[{k!r}], {d!r})" for k, d in zip(keys, dtypes, strict=True)) \
        + "]"


def _data(keys: list[str]) -> str:
    return "[" + ", ".join(f"DATA[{k!r}]" for k in keys) + "]"


def _tolerance(s: Any) -> str:
    return f"atol={s.tol.atol!r}, rtol={s.tol.rtol!r}"


def _scenario(n: int, s: Any, rep: Any, program: str, second: str | None) -> str:
    body = [f"def scenario_{n}():",
            f'    """{s.label}{(": " + s.note) if s.note else ""}"""',
            f"    xs = {_pairs(s.inputs, s.input_dtypes)}",
            f"    ws = {_pairs(s.weights, s.weight_dtypes)}",
            f"    mask = {'None' if s.mask is None else f'DATA[{s.mask!r}]'}"]
    if rep.weight_names and s.weights:
        body.append(f"    # ws: {', '.join(rep.weight_names)}")
    body += _MODES[s.mode](s, program, second)
    return "\n".join(body)


def _values(s: Any, program: str, second: str | None) -> list[str]:
    return [f"    outs = run_layer({program}, xs, ws, mask)",
            f"    return check_values({s.label!r}, outs, {_data(s.expected)}, {_tolerance(s)})"]


def _run(s: Any, program: str, second: str | None) -> list[str]:
    return [f"    run_layer({program}, xs, ws, mask)",
            "    print('no error: the layer ran without raising')",
            "    return True"]


def _shapes(s: Any, program: str, second: str | None) -> list[str]:
    return [f"    outs = run_layer({program}, xs, ws, mask)",
            f"    return check_shapes({s.label!r}, outs, {s.expected_shapes!r}, "
            f"{s.out_dtype!r})"]


def _gradients(s: Any, program: str, second: str | None) -> list[str]:
    n_x = len(s.wrt)
    lines = [f"    cots = {_data(s.cotangents)}",
             f"    grads = layer_gradients({program}, xs, ws, mask, cots, wrt={s.wrt!r}, "
             f"trainable={s.trainable!r})",
             f"    ok = check_values('d/dinputs', grads[:{n_x}], {_data(s.expected[:n_x])}, "
             f"{_tolerance(s)})"]
    for k, (label, key) in enumerate(zip(s.grad_labels[1:], s.expected[n_x:], strict=True)):
        lines.append(f"    ok = check_values({label!r}, [grads[{n_x + k}]], [DATA[{key!r}]], "
                     f"{_tolerance(s)}) and ok")
    return [*lines, "    return ok"]


def _mask(s: Any, program: str, second: str | None) -> list[str]:
    want = "None" if s.expected_mask is None else f"DATA[{s.expected_mask!r}]"
    return ["    # 1. the mask the layer emits (compute_mask) must be the oracle's, exactly",
            f"    (emitted,) = run_layer({second}, xs, ws, mask)",
            f"    ok = check_mask('emitted mask', emitted, {want})",
            "    # 2. the outputs, computed with the mask, against the oracle's",
            f"    outs = run_layer({program}, xs, ws, mask)",
            f"    return check_values('output', outs, {_data(s.expected)}, {_tolerance(s)}) "
            "and ok"]


def _repeat(s: Any, program: str, second: str | None) -> list[str]:
    return ["    # the same program twice on the same data: bit-for-bit equal (tolerance 0)",
            f"    first = run_layer({program}, xs, ws, mask)",
            f"    again = run_layer({program}, xs, ws, mask)",
            "    return check_values('run 1 vs run 0', again, "
            f"[np.asarray(o, dtype=np.float64) for o in first], {_tolerance(s)})"]


def _slices(s: Any, program: str, second: str | None) -> list[str]:
    return [f"    whole = run_layer({program}, xs, ws, mask)",
            "    ok = True",
            "    for b in range(xs[0][0].shape[0]):",
            "        # sample b alone (a batch of one) against its rows of the whole batch",
            "        alone = run_layer(" + str(second) + ", [(a[b:b + 1], d) for a, d in xs], ws,",
            "                          None if mask is None else mask[b:b + 1])",
            "        rows = [np.asarray(o[b:b + 1], dtype=np.float64) for o in whole]",
            f"        ok = check_values(f'sample {{b}}', alone, rows, {_tolerance(s)}) and ok",
            "    return ok"]


def _compiled(s: Any, program: str, second: str | None) -> list[str]:
    want = _data(s.expected)
    return [f"    eager = run_layer({program}, xs, ws, mask)",
            f"    check_values('eager vs oracle (for information)', eager, {want}, "
            f"{_tolerance(s)})",
            "    ok = True",
            "    # the compile variants the check uses: name -> options of compile",
            f"    for name, options in {s.variants!r}.items():",
            f"        got = run_compiled({program}, xs, ws, mask, options)",
            "        # what the compiled check judges: compiled against eager",
            "        ok = check_values(f'compiled ({name}) vs eager', got, "
            "[np.asarray(e, dtype=np.float64) for e in eager],",
            f"                          {_tolerance(s)}) and ok",
            "        check_values(f'compiled ({name}) vs oracle (for information)', got,",
            f"                     {want}, {_tolerance(s)})",
            "    return ok"]


_MODES = {"values": _values, "run": _run, "shapes": _shapes, "gradients": _gradients,
          "mask": _mask, "repeat": _repeat, "slices": _slices, "compiled": _compiled}


def _programs(rep: Any, names: dict[str, str]) -> tuple[str, list[tuple[str, str | None]]]:
    """The programs' source (an equal computation rendered once, then aliased) and, per
    scenario, the names of its program and its second program."""
    bodies: dict[str, str] = {}  # rendered body -> function name
    texts, aliases, used = [], [], []
    for s in rep.scenarios:
        pair: list[str | None] = []
        for program in (s.program, s.second):
            if program is None:
                pair.append(None)
                continue
            body = "\n".join(program.render(names)[1:])
            if body in bodies and bodies[body] != program.name:
                aliases.append(f"{program.name} = {bodies[body]}  # the same computation")
            elif body not in bodies:
                bodies[body] = program.name
                texts.append("\n".join(program.render(names)))
            pair.append(program.name)
        used.append((str(pair[0]), pair[1]))
    return "\n\n".join(texts) + ("\n\n" + "\n".join(aliases) if aliases else ""), used


def render(rep: Any) -> str:
    """The script's source text for a ``repro.Reproduction``."""
    from harness.conformance.repro_runners import (
        graph_ops_name,
        op_namer,
        prelude,
        runner_ops,
        runner_source,
    )

    module, execution = rep.recorder.module, rep.execution
    parts = {s.mode for s in rep.scenarios} & {"compiled", "gradients"}
    needed = runner_ops(execution, parts) | ({"set_device"} if rep.device != "cpu" else set())
    for s in rep.scenarios:
        needed |= s.program.ops() | (s.second.ops() if s.second is not None else set())
    namer = op_namer(rep.inliner, module)
    names = {op: namer(op) for op in sorted(needed)}
    ops_name = graph_ops_name(rep.inliner, module) if execution == "graph" else None
    programs, used = _programs(rep, names)
    scenarios = [_scenario(n, s, rep, *used[n]) for n, s in enumerate(rep.scenarios)]
    calls = "\n".join(f"    ok = scenario_{n}() and ok" for n in range(len(rep.scenarios)))
    if rep.device != "cpu":  # tensors go where the failing run put them
        calls = f"    {names['set_device']}({rep.device!r})\n" + calls
    parts_text = [
        "#!/usr/bin/env python3",
        _header(rep),
        "from __future__ import annotations\n\nimport base64\nimport io\nimport sys\n"
        + prelude(rep.backend),
        "# ---- the backend's functions, copied from the dl-harness reference library ----",
        rep.inliner.source(),
        "\n# ---- the layer's computation: the backend calls it made, in order (recorded) ----\n",
        programs,
        "\n\n# ---- running the computation on the data ----",
        runner_source(execution, parts, names, rep.backend, ops_name),
        "\n# ---- data: inputs, weights, constants, expected values (base64 npz) ----",
        _blob({**rep.arrays, **rep.constants}),
        HELPERS,
        "\n" + "\n\n\n".join(scenarios),
        "\n\ndef main():\n    ok = True\n" + calls + "\n"
        "    print('OK: within tolerance' if ok else 'MISMATCH: reproduced the failure')\n"
        "    return 0 if ok else 1\n",
        "\nDATA = load_data()\n\nif __name__ == '__main__':\n    sys.exit(main())\n",
    ]
    return "\n".join(parts_text)
