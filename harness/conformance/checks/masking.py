"""The masking check: emitted masks, masked outputs, and independence from masked values."""

from __future__ import annotations

import numpy as np

from harness.conformance import data, expected
from harness.conformance.cases import Case
from harness.conformance.checks import CheckResult, Context, register
from harness.conformance.checks.values import built_for, oracle_forward
from harness.conformance.compare import Comparison, compare


def _effective_mask(case: Case, inputs: list[np.ndarray], mask: np.ndarray | None
                    ) -> np.ndarray | None:
    """Which (batch, time) steps are masked out, whoever makes the mask."""
    if mask is not None:
        return mask
    return expected.output_mask(case, inputs, None)


@register("masking")
def check_masking(ctx: Context) -> CheckResult:
    case = ctx.layer_case
    built = built_for(ctx)
    inputs = data.inputs(case, ctx.dtype)
    mask = data.mask(case)
    tol = ctx.tol()
    comparisons: list[Comparison] = []
    # 1. the mask the layer emits equals the oracle's
    got_mask = ctx.target.output_mask(built, inputs, mask)
    want_mask = expected.output_mask(case, inputs, mask)
    if got_mask is None or want_mask is None:
        same_mask = got_mask is None and want_mask is None
    else:
        same_mask = bool(np.array_equal(got_mask, want_mask))
    if not same_mask:
        comparisons.append(Comparison(False, None, None,
                                      f"emitted mask {_show(got_mask)}, oracle {_show(want_mask)}"))
    # 2. masked outputs equal the oracle's
    outs = ctx.target.forward(built, inputs, training=case.training, mask=mask)
    comparisons.append(compare(outs, oracle_forward(ctx, built, inputs, mask), tol, "output"))
    # 3. changing the values of masked-out steps changes nothing (float inputs only)
    steps = _effective_mask(case, inputs, mask)
    if steps is not None and case.inputs[0].kind != "int" and case.layer != "Masking":
        noisy = [x.copy() for x in inputs]
        rng = np.random.default_rng(data.seed_of(case.id, "mask-noise"))
        hidden = ~steps
        noisy[0][hidden] = data.round_to(rng.normal(size=noisy[0][hidden].shape) * 10,
                                         ctx.dtype)
        again = ctx.target.forward(built, noisy, training=case.training, mask=mask)
        comparisons.append(compare(_visible(again, steps), _visible(outs, steps), tol,
                                   "output with masked steps perturbed"))
    return CheckResult.from_comparisons(comparisons, tol)


def _visible(outs: list[np.ndarray], steps: np.ndarray) -> list[np.ndarray]:
    """Outputs at unmasked time steps (sequence outputs) or whole outputs (reductions)."""
    kept = []
    for o in outs:
        if o.ndim >= 2 and o.shape[:2] == steps.shape:
            kept.append(o[steps])
        else:
            kept.append(o)
    return kept


def _show(mask: np.ndarray | None) -> str:
    return "None" if mask is None else np.array2string(mask.astype(int), separator="")
