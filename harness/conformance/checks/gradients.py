"""The backward check: the library's own autodiff against float64 central differences of the
oracle, for the float inputs and every trainable weight."""

from __future__ import annotations

from harness.conformance import data, expected
from harness.conformance.checks import CheckResult, Context, register
from harness.conformance.checks.values import built_for, oracle_forward
from harness.conformance.compare import compare


@register("backward")
def check_backward(ctx: Context) -> CheckResult:
    case = ctx.layer_case
    built = built_for(ctx)
    inputs = data.inputs(case, ctx.dtype)
    mask = data.mask(case)
    if case.differentiable_inputs is not None:
        wrt = list(case.differentiable_inputs)
    else:
        wrt = [i for i, spec in enumerate(case.inputs) if spec.kind != "int"]
    outs = oracle_forward(ctx, built, inputs, mask)
    cots = [data.cotangent(f"{case.id}:{k}", o.shape) for k, o in enumerate(outs)]
    weights = ctx.target.get_weights(built)
    got_x, got_w = ctx.target.gradients(built, inputs, cots, wrt, training=case.training,
                                        mask=mask)
    want_x, want_w = expected.gradients(case, weights, inputs, cots, wrt, built.trainable, mask)
    tol = ctx.tol()
    comparisons = [compare(got_x, want_x, tol, "d/dinputs")]
    names = [n for n, t in zip(built.weight_names, built.trainable, strict=True) if t]
    # a count mismatch is reported below, after the pairs that do match
    for name, g, w in zip(names, got_w, want_w, strict=False):
        comparisons.append(compare(g, w, tol, f"d/d{name}"))
    if len(got_w) != len(want_w):
        comparisons.append(compare(got_w, want_w, tol, "weight gradients"))
    return CheckResult.from_comparisons(comparisons, tol)
