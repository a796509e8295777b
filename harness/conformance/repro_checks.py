"""Scenarios of the checks ``dtype``, ``masking``, ``determinism``, ``batch_invariance`` and
``compiled``: what each script runs, as its check computes it (``checks/values.py``,
``checks/masking.py``), with the check's tolerance.
"""

from __future__ import annotations

import numpy as np

from harness.conformance import data, expected
from harness.conformance.repro_builder import Builder, Scenario
from harness.conformance.tolerances import Tol, lookup
from harness.errors import UsageError

#: the reduced and extended precisions the dtype check computes in, besides float32
OTHER_DTYPES = ("float64", "float16", "bfloat16")


def dtype_scenarios(b: Builder) -> list[Scenario]:
    """The forward scenario in each dtype the dtype check covers, against the oracle on the
    same (rounded) inputs and weights, with that dtype's forward tolerance. A float32 result
    covers every dtype the backend has; another dtype covers just itself."""
    case, mask = b.case, data.mask(b.case)
    if b.dtype == "float32":
        dtypes = [d for d in OTHER_DTYPES if d != "bfloat16" or b.target.supports(d)]
    else:
        dtypes = [b.dtype]
    out = []
    for dtype in dtypes:
        sub = b if dtype == b.dtype else b.sibling(dtype)
        out.append(sub.values(0, f"forward in {dtype}", data.inputs(case, dtype), mask,
                              lookup(dtype, "forward", case)))
        b.error = b.error or sub.error
    return out


def masking_scenarios(b: Builder) -> list[Scenario]:
    """The emitted mask (exactly the oracle's), the masked outputs (within tolerance) and,
    where the check perturbs them, the outputs with the masked-out steps changed."""
    case = b.case
    inputs, mask, tol = data.inputs(case, b.dtype), data.mask(case), b.tol("masking")
    program, keys, dtypes, mask_key = b.record(0, inputs, mask)
    mask_program = b.record(0, inputs, mask, what="compute_mask", store=False)[0]
    want = [b.put(f"s0_e{i}", e) for i, e in enumerate(b.oracle(inputs, mask))]
    want_mask = expected.output_mask(case, inputs, mask)
    mask_e = None if want_mask is None else b.put("s0_emitted_mask", want_mask)
    out = [b.scenario("emitted mask and outputs", "mask", program, keys, dtypes, mask_key,
                      expected=want, tol=tol, second=mask_program, expected_mask=mask_e)]
    steps = mask if mask is not None else expected.output_mask(case, inputs, None)
    if steps is not None and case.inputs[0].kind != "int" and case.layer != "Masking":
        # as the check: masked-out steps get large random values, which must change nothing
        noisy = [x.copy() for x in inputs]
        rng = np.random.default_rng(data.seed_of(case.id, "mask-noise"))
        hidden = ~steps
        noisy[0][hidden] = data.round_to(rng.normal(size=noisy[0][hidden].shape) * 10, b.dtype)
        out.append(b.values(1, "output with masked steps perturbed", noisy, mask, tol))
    return out


def determinism_scenarios(b: Builder) -> list[Scenario]:
    """The layer's program run twice on the same data: the runs must be bit for bit equal."""
    inputs, mask = data.inputs(b.case, b.dtype), data.mask(b.case)
    program, keys, dtypes, mask_key = b.record(0, inputs, mask)
    return [b.scenario("determinism", "repeat", program, keys, dtypes, mask_key,
                       tol=b.tol("determinism"),
                       note="two runs of the same program must be bit-for-bit equal")]


def batch_invariance_scenarios(b: Builder) -> list[Scenario]:
    """The program on the whole batch and on each sample alone (a batch of one): each
    sample's outputs against its rows of the batched outputs, within the check's tolerance."""
    inputs, mask = data.inputs(b.case, b.dtype), data.mask(b.case)
    program, keys, dtypes, mask_key = b.record(0, inputs, mask)
    one = b.record(1, [x[:1] for x in inputs], None if mask is None else mask[:1],
                   store=False)[0]
    return [b.scenario("batch_invariance", "slices", program, keys, dtypes, mask_key,
                       tol=b.tol("batch_invariance"), second=one,
                       note="each sample alone against its rows of the batched result")]


def compiled_scenarios(b: Builder) -> list[Scenario]:
    """The program run eagerly and under each of the backend's compile variants (the
    options the check uses): compiled against eager within the check's tolerance; each
    against the oracle for information."""
    variants = b.target.compile_variants()
    if not variants:
        raise UsageError(f"the {b.target.backend} backend has no compiler: its compiled check "
                         "is skipped, nothing to reproduce")
    inputs, mask = data.inputs(b.case, b.dtype), data.mask(b.case)
    program, keys, dtypes, mask_key = b.record(0, inputs, mask)
    want = [b.put(f"s0_e{i}", e) for i, e in enumerate(b.oracle(inputs, mask))]
    tol: Tol = b.tol("compiled")
    return [b.scenario("compiled", "compiled", program, keys, dtypes, mask_key, expected=want,
                       tol=tol, variants={k: dict(v) for k, v in variants.items()})]
