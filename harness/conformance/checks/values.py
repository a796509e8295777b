"""Forward-value checks: shape, forward, dtype, determinism, batch_invariance, edge_values."""

from __future__ import annotations

import math

import numpy as np

from harness.conformance import data, expected
from harness.conformance.checks import CheckResult, Context, register
from harness.conformance.compare import Comparison, compare
from harness.conformance.targets import Built
from harness.conformance.tolerances import Tol


def built_for(ctx: Context, dtype: str | None = None) -> Built:
    """The case's layer built by the target in ``dtype`` (cached for the check)."""
    dtype = dtype or ctx.dtype
    key = f"built:{dtype}"
    if key not in ctx.cache:
        ctx.cache[key] = ctx.target.build(ctx.layer_case, dtype)
    return ctx.cache[key]


def oracle_forward(ctx: Context, built: Built, inputs: list[np.ndarray],
                   mask: np.ndarray | None = None, training: bool | None = None
                   ) -> list[np.ndarray]:
    return expected.forward(ctx.layer_case, ctx.target.get_weights(built), inputs, training, mask)


@register("shape")
def check_shape(ctx: Context) -> CheckResult:
    case = ctx.layer_case
    built = built_for(ctx)
    inputs = data.inputs(case, ctx.dtype)
    outs = ctx.target.forward(built, inputs, training=case.training, mask=data.mask(case))
    # dropout in training is random: its shape is the inference shape
    training = False if case.layer == "Dropout" else None
    want = [o.shape for o in oracle_forward(ctx, built, inputs, data.mask(case), training)]
    got = [o.shape for o in outs]
    declared = ctx.target.output_shape(built, [(None, *x.shape[1:]) for x in inputs])
    problems = []
    if got != want:
        problems.append(f"output shapes {got}, oracle {want}")
    none_batch = [(None, *s[1:]) for s in got]
    if [tuple(d) for d in declared] != none_batch:
        problems.append(f"compute_output_shape says {declared}, actual {none_batch}")
    for o in outs:
        if o.dtype.kind == "f" and str(o.dtype) != _numpy_dtype_name(ctx.dtype):
            problems.append(f"output dtype {o.dtype}, expected {ctx.dtype}")
    return CheckResult("failed" if problems else "passed", message="; ".join(problems) or None)


def _numpy_dtype_name(dtype: str) -> str:
    return "float32" if dtype == "bfloat16" else dtype


@register("forward")
def check_forward(ctx: Context) -> CheckResult:
    case = ctx.layer_case
    if case.layer == "Dropout" and case.training:
        return _dropout_training(ctx)
    built = built_for(ctx)
    inputs = data.inputs(case, ctx.dtype)
    mask = data.mask(case)
    outs = ctx.target.forward(built, inputs, training=case.training, mask=mask)
    tol = ctx.tol()
    return CheckResult.from_comparisons(
        [compare(outs, oracle_forward(ctx, built, inputs, mask), tol)], tol)


def _dropout_training(ctx: Context) -> CheckResult:
    """Dropout draws its own mask: every output is 0 or x/(1-rate), and the share of zeros
    lies within 5 binomial standard deviations of the rate."""
    built = built_for(ctx)
    rate = float(ctx.layer_case.config["rate"])
    (x,) = data.inputs(ctx.layer_case, ctx.dtype)
    (out,) = ctx.target.forward(built, [x], training=True)
    scaled = x / (1.0 - rate)
    tol = ctx.tol()
    kept = np.isclose(out, scaled, atol=tol.atol, rtol=tol.rtol) & (out != 0)
    dropped = out == 0
    if not np.all(kept | dropped):
        bad = int((~(kept | dropped)).sum())
        return CheckResult("failed", atol=tol.atol, rtol=tol.rtol,
                           message=f"{bad} outputs are neither 0 nor x/(1-rate)")
    share, n = float(dropped.mean()), dropped.size
    sigma = math.sqrt(rate * (1 - rate) / n)
    if abs(share - rate) > 5 * sigma:
        return CheckResult("failed", message=f"dropped share {share:.3f}, rate {rate}")
    return CheckResult("passed", max_abs_err=abs(share - rate), atol=tol.atol, rtol=tol.rtol)


@register("dtype")
def check_dtype(ctx: Context) -> CheckResult:
    """float64 against the oracle at float64 tolerance; float16 against the library's own
    float32 result at float16 tolerance."""
    case = ctx.layer_case
    mask = data.mask(case)
    comparisons: list[Comparison] = []
    b64 = built_for(ctx, "float64")
    x64 = data.inputs(case, "float64")
    out64 = ctx.target.forward(b64, x64, training=case.training, mask=mask)
    tol64 = ctx.tol("forward", "float64")
    comparisons.append(compare(out64, oracle_forward(ctx, b64, x64, mask), tol64, "float64"))
    if any(o.dtype != np.float64 for o in out64):
        comparisons.append(Comparison(False, None, None, "float64 layer returned "
                                      f"{[str(o.dtype) for o in out64]}"))
    b16 = built_for(ctx, "float16")
    b32 = built_for(ctx, "float32")
    ctx.target.set_weights(b32, ctx.target.get_weights(b16))  # same (float16-exact) weights
    x16 = data.inputs(case, "float16")
    out16 = ctx.target.forward(b16, x16, training=case.training, mask=mask)
    out32 = ctx.target.forward(b32, x16, training=case.training, mask=mask)
    tol16 = ctx.tol("forward", "float16")
    comparisons.append(compare(out16, out32, tol16, "float16 vs float32"))
    if any(o.dtype != np.float16 for o in out16):
        comparisons.append(Comparison(False, None, None, "float16 layer returned "
                                      f"{[str(o.dtype) for o in out16]}"))
    supports = getattr(ctx.target, "supports", lambda dtype: False)
    if supports("bfloat16"):  # where the backend has it (not NumPy)
        bf = built_for(ctx, "bfloat16")
        ctx.target.set_weights(b32, ctx.target.get_weights(bf))
        xbf = data.inputs(case, "bfloat16")
        outbf = ctx.target.forward(bf, xbf, training=case.training, mask=mask)
        out32 = ctx.target.forward(b32, xbf, training=case.training, mask=mask)
        comparisons.append(compare(outbf, out32, ctx.tol("forward", "bfloat16"),
                                   "bfloat16 vs float32"))
    return CheckResult.from_comparisons(comparisons, tol16)


@register("determinism")
def check_determinism(ctx: Context) -> CheckResult:
    """Two fresh builds with the same weights, each called twice: bit-for-bit equal."""
    case = ctx.layer_case
    inputs = data.inputs(case, ctx.dtype)
    mask = data.mask(case)
    runs = []
    for _ in range(2):
        built = ctx.target.build(case, ctx.dtype)
        runs.append(ctx.target.forward(built, inputs, training=case.training, mask=mask))
        runs.append(ctx.target.forward(built, inputs, training=case.training, mask=mask)
                    if not (case.training and case.layer == "Dropout") else runs[-1])
    first = runs[0]
    for i, other in enumerate(runs[1:], start=1):
        for a, b in zip(first, other, strict=False):
            if not _same_bits(a, b) and not np.array_equal(a, b, equal_nan=True):
                diff = float(np.nanmax(np.abs(a.astype(np.float64) - b)))
                return CheckResult("failed", max_abs_err=diff, atol=0.0, rtol=0.0,
                                   message=f"run {i} differs from run 0 by up to {diff:g}")
    return CheckResult("passed", max_abs_err=0.0, atol=0.0, rtol=0.0)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two numeric arrays hold the same bytes (then they are equal, NaNs included);
    False says nothing (0.0 and -0.0 are equal in other bytes)."""
    return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
            and a.dtype.kind in "fiub" and a.shape == b.shape and a.tobytes() == b.tobytes())


@register("batch_invariance")
def check_batch_invariance(ctx: Context) -> CheckResult:
    """Each sample computed alone equals its row of the batched result."""
    case = ctx.layer_case
    built = built_for(ctx)
    inputs = data.inputs(case, ctx.dtype)
    mask = data.mask(case)
    whole = ctx.target.forward(built, inputs, training=case.training, mask=mask)
    tol = ctx.tol()
    comparisons = []
    for b in range(inputs[0].shape[0]):
        alone = ctx.target.forward(built, [x[b:b + 1] for x in inputs], training=case.training,
                                   mask=None if mask is None else mask[b:b + 1])
        comparisons.append(compare(alone, [o[b:b + 1] for o in whole], tol, f"sample {b}"))
    return CheckResult.from_comparisons(comparisons, tol)


@register("edge_values")
def check_edge_values(ctx: Context) -> CheckResult:
    """Empty batch, large magnitudes (±1e4, ±1e2 in half precision) and NaN propagation."""
    case = ctx.layer_case
    built = built_for(ctx)
    mask = data.mask(case)
    tol = ctx.tol()
    comparisons: list[Comparison] = []
    # 1. an empty batch gives an empty batch of the right shape
    empty = data.inputs(case, ctx.dtype, batch=0)
    outs = ctx.target.forward(built, empty, training=case.training,
                              mask=None if mask is None else mask[:0])
    want = [(0, *o.shape[1:]) for o in oracle_forward(ctx, built, data.inputs(case, ctx.dtype),
                                                      mask)]
    if [o.shape for o in outs] != want:
        comparisons.append(Comparison(False, None, None, f"empty batch gave shapes "
                                      f"{[o.shape for o in outs]}, expected {want}"))
    floats = [i for i, spec in enumerate(case.inputs) if spec.kind != "int"]
    if floats:
        # 2. large magnitudes: same answer as the oracle on the same (rounded) inputs
        scale = 1e4 if ctx.dtype in ("float32", "float64") else 1e2
        big = data.inputs(case, ctx.dtype)
        for i in floats:
            big[i] = data.round_to(big[i] * scale, ctx.dtype)
        got = ctx.target.forward(built, big, training=case.training, mask=mask)
        comparisons.append(compare(got, oracle_forward(ctx, built, big, mask),
                                   Tol(tol.atol * scale, tol.rtol), f"inputs x{scale:g}"))
        # 3. NaN in sample 0 stays in sample 0
        nan_in = data.inputs(case, ctx.dtype)
        nan_in[floats[0]][(0,) + (0,) * (nan_in[floats[0]].ndim - 1)] = np.nan
        got = ctx.target.forward(built, nan_in, training=case.training, mask=mask)
        comparisons.append(compare(got, oracle_forward(ctx, built, nan_in, mask), tol,
                                   "NaN input"))
    return CheckResult.from_comparisons(comparisons, tol)


@register("compiled")
def check_compiled(ctx: Context) -> CheckResult:
    """The backend's compiled forward (each of its compile variants, e.g. XLA) equals eager."""
    case = ctx.layer_case
    target = ctx.target
    variants = target.compile_variants()
    if not variants:
        return CheckResult.skip(f"the {target.backend} backend has no compiler")
    built = built_for(ctx)
    inputs = data.inputs(case, ctx.dtype)
    mask = data.mask(case)
    eager = target.forward(built, inputs, training=case.training, mask=mask)
    tol = ctx.tol()
    comparisons = [
        compare(target.compiled_forward(built, inputs, case.training, mask, **options), eager,
                tol, f"compiled ({name})")
        for name, options in variants.items()
    ]
    return CheckResult.from_comparisons(comparisons, tol)
