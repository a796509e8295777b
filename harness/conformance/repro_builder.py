"""Scenarios of a reproduction: recorded runs of the layer and what their outputs are judged by.

A ``Builder`` holds one built layer (one dtype) on the backend being reproduced; it records
the layer's op calls on given inputs (``repro_trace``) and stores the data the script embeds
(inputs, weights, the oracle's expected values). The scenario builders here cover the checks
``forward``, ``shape``, ``edge_values`` and ``backward``; ``repro_checks`` covers the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.conformance import data, expected
from harness.conformance.cases import Case, get
from harness.conformance.repro_trace import Program, Recorder
from harness.conformance.targets import Built
from harness.conformance.tolerances import Tol, lookup
from harness.errors import UsageError


@dataclass
class Scenario:
    """One part of the script: runs of recorded programs and what they are compared with.

    ``mode`` says how the script judges the runs: ``values`` (against oracle arrays),
    ``shapes``, ``gradients`` (the framework's autodiff against the oracle's), ``run`` (only
    replays: a crash is the finding), ``mask`` (the emitted mask, then the outputs),
    ``repeat`` (the program twice, bit for bit), ``slices`` (each sample alone against its
    row of the batch) and ``compiled`` (each compile variant against the eager run).
    """

    label: str
    mode: str
    program: Program
    inputs: list[str]  # DATA keys
    input_dtypes: list[str | None]  # None: integer inputs keep their dtype
    mask: str | None
    weights: list[str] = field(default_factory=list)  # DATA keys of the weights it runs with
    weight_dtypes: list[str] = field(default_factory=list)
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
    # mask: the program computing the emitted mask; slices: the program on one sample
    second: Program | None = None
    expected_mask: str | None = None  # DATA key; None: the oracle emits no mask
    # compiled: variant name -> options of the backend's compile
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


class Builder:
    """Records the scenarios of one check on one built layer and collects their data."""

    def __init__(self, case: Case, target: Any, built: Built, dtype: str, recorder: Recorder,
                 arrays: dict[str, np.ndarray], prefix: str = ""):
        self.case, self.target, self.built, self.dtype = case, target, built, dtype
        self.recorder, self.arrays, self.prefix = recorder, arrays, prefix
        self.weights64 = target.get_weights(built)
        self.var_dtypes = [str(v.dtype) for v in built.layer.weights]
        self.weight_keys = [self.put(f"w{i}", data.cast(w, d)) for i, (w, d) in
                            enumerate(zip(self.weights64, self.var_dtypes, strict=True))]
        self.error: BaseException | None = None

    def sibling(self, dtype: str) -> Builder:
        """A builder for the same case in ``dtype`` (its own layer and weights, keys prefixed
        with the dtype), recording into the same script."""
        built = self.target.build(self.case, dtype)
        return Builder(self.case, self.target, built, dtype, self.recorder, self.arrays,
                       f"{dtype}_")

    def put(self, key: str, array: np.ndarray) -> str:
        """Store ``array`` for the script under ``key`` (prefixed); the key."""
        key = self.prefix + key
        self.arrays[key] = np.asarray(array)
        return key

    def tol(self, check: str) -> Tol:
        return lookup(self.dtype, check, self.case)

    def scenario(self, label: str, mode: str, program: Program, keys: list[str],
                 dtypes: list[str | None], mask_key: str | None, **fields: Any) -> Scenario:
        """A scenario running this builder's layer (its weights and their dtypes)."""
        return Scenario(label, mode, program, keys, dtypes, mask_key, list(self.weight_keys),
                        list(self.var_dtypes), **fields)

    def record(self, n: int, inputs: list[np.ndarray], mask: np.ndarray | None,
               what: str = "forward", store: bool = True
               ) -> tuple[Program, list[str], list[str | None], str | None]:
        """Record the layer's ``forward`` (or ``compute_mask``) on ``inputs``;
        (program, input keys, input dtypes, mask key). ``store=False`` keeps the inputs out
        of the script's data (the script slices them from other data)."""
        K, layer, case = self.target.K, self.built.layer, self.case
        cast = [data.cast(x, self.dtype) for x in inputs]
        dtypes = [None if x.dtype.kind in "iub" else self.dtype for x in cast]
        xs = [K.convert_to_tensor(x, dtype=d) for x, d in zip(cast, dtypes, strict=True)]
        ws = [K.convert_to_tensor(data.cast(w, d), dtype=d)
              for w, d in zip(self.weights64, self.var_dtypes, strict=True)]
        mask_t = None if mask is None else K.convert_to_tensor(mask, dtype="bool")

        def forward(xs: list[Any], ws: list[Any], mask: Any) -> list[Any]:
            from harness.reference.variables import StatelessScope

            arg = xs if case.multi_input else xs[0]
            with StatelessScope(dict(zip(layer.weights, ws, strict=True))):
                if what == "compute_mask":
                    out = layer.compute_mask(arg, mask)
                    return [out[0] if isinstance(out, (list, tuple)) else out]
                kwargs: dict[str, Any] = {"training": case.training}
                if mask is not None:
                    kwargs["mask"] = mask
                out = layer(arg, **kwargs)
            return list(out) if isinstance(out, (list, tuple)) else [out]

        name = f"layer_{'mask' if what == 'compute_mask' else 'forward'}_{self.prefix}{n}"
        program, _, error = self.recorder.record(name, forward,
                                                 [("xs", xs), ("ws", ws), ("mask", mask_t)])
        self.error = self.error or error
        if not store:
            return program, [], dtypes, None
        keys = [self.put(f"s{n}_x{i}", x) for i, x in enumerate(cast)]
        mask_key = None if mask is None else self.put(f"s{n}_mask", mask)
        return program, keys, dtypes, mask_key

    def oracle(self, inputs: list[np.ndarray], mask: np.ndarray | None) -> list[np.ndarray]:
        """The oracle's outputs for ``inputs`` with this layer's weights."""
        return expected.forward(self.case, self.weights64, inputs, None, mask)

    def values(self, n: int, label: str, inputs: list[np.ndarray], mask: np.ndarray | None,
               tol: Tol) -> Scenario:
        """The layer on ``inputs`` against the oracle's values, within ``tol``."""
        program, keys, dtypes, mask_key = self.record(n, inputs, mask)
        want = [self.put(f"s{n}_e{i}", e) for i, e in enumerate(self.oracle(inputs, mask))]
        return self.scenario(label, "values", program, keys, dtypes, mask_key, expected=want,
                             tol=tol)

    def shapes(self, n: int, label: str, inputs: list[np.ndarray], mask: np.ndarray | None,
               shapes: list[tuple[int, ...]], out_dtype: str | None) -> Scenario:
        """The layer on ``inputs``: output shapes (and float dtype) as expected."""
        program, keys, dtypes, mask_key = self.record(n, inputs, mask)
        return self.scenario(label, "shapes", program, keys, dtypes, mask_key,
                             expected_shapes=shapes, out_dtype=out_dtype)


def forward_scenarios(b: Builder) -> list[Scenario]:
    """The forward check: the case's inputs against the oracle."""
    case = b.case
    return [b.values(0, "forward", data.inputs(case, b.dtype), data.mask(case),
                     b.tol("forward"))]


def shape_scenarios(b: Builder) -> list[Scenario]:
    """The shape check: output shapes as the oracle's, float outputs in the computed dtype."""
    case, dtype = b.case, b.dtype
    inputs, mask = data.inputs(case, dtype), data.mask(case)
    training = False if case.layer == "Dropout" else None
    want = [o.shape for o in expected.forward(case, b.weights64, inputs, training, mask)]
    return [b.shapes(0, "shape", inputs, mask, want,
                     "float32" if dtype == "bfloat16" else dtype)]


def edge_scenarios(b: Builder) -> list[Scenario]:
    """The three parts of the edge_values check: empty batch, large inputs, a NaN."""
    case, dtype = b.case, b.dtype
    inputs, mask, tol = data.inputs(case, dtype), data.mask(case), b.tol("edge_values")
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


def gradient_scenarios(b: Builder) -> list[Scenario]:
    """The backward check: d sum(output * cotangent) by the framework's autodiff."""
    case = b.case
    inputs, mask = data.inputs(case, b.dtype), data.mask(case)
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
    return [b.scenario("backward", "gradients", program, keys, dtypes, mask_key, expected=want,
                       tol=b.tol("backward"), cotangents=cot_keys, wrt=wrt,
                       trainable=trainable, grad_labels=labels)]


def requested_layer_case(case_id: str, check: str, supported: tuple[str, ...] | list[str],
                         scripts: str = "standalone reproduction") -> Case:
    """The layer case ``case_id`` for a script of ``check``; UsageError (one line) for an
    unknown case, a model case, a check the case lacks, or a check outside ``supported``
    (``scripts`` names the kind of script in that message)."""
    try:
        case = get(case_id)
    except KeyError:
        raise UsageError(f"unknown conformance case {case_id!r}") from None
    if not isinstance(case, Case):
        raise UsageError(f"case {case_id!r} trains a model; only layer cases have reproductions")
    if check not in case.checks:
        raise UsageError(f"case {case_id!r} has no {check!r} check "
                         f"(it has: {', '.join(case.checks)})")
    if check not in supported:
        raise UsageError(f"no {scripts} for the {check!r} check "
                         f"(supported: {', '.join(supported)})")
    return case
