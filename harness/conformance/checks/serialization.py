"""The serialization check: config round trip, and save/load in every registered format."""

from __future__ import annotations

import json

from harness.conformance import data
from harness.conformance.checks import CheckResult, Context, register
from harness.conformance.checks.values import built_for
from harness.conformance.compare import Comparison, compare
from harness.conformance.tolerances import Tol


def _canonical(config: dict) -> str:
    config = {k: v for k, v in config.items() if k != "name"}
    return json.dumps(config, sort_keys=True, default=str)


@register("serialization")
def check_serialization(ctx: Context) -> CheckResult:
    """from_config(get_config()) gives the same config and, with the same weights, the same
    outputs bit for bit; saving and loading in each format keeps config, weights and outputs."""
    case = ctx.layer_case
    built = built_for(ctx)
    inputs = data.inputs(case, ctx.dtype)
    mask = data.mask(case)
    before = ctx.target.forward(built, inputs, training=False, mask=mask)
    exact = Tol(0.0, 0.0)
    comparisons: list[Comparison] = []
    clone = ctx.target.from_config(built)
    original = _canonical(ctx.target.config(built))  # the layer's config does not change
    if _canonical(ctx.target.config(clone)) != original:
        comparisons.append(Comparison(False, None, None, "config changed in the round trip: "
                                      f"{ctx.target.config(built)} -> "
                                      f"{ctx.target.config(clone)}"))
    comparisons.append(compare(ctx.target.forward(clone, inputs, mask=mask), before, exact,
                               "from_config"))
    for fmt in ctx.target.formats():
        loaded = ctx.target.save_and_load(built, fmt, ctx.scratch)
        comparisons.append(compare(ctx.target.get_weights(loaded), ctx.target.get_weights(built),
                                   exact, f"{fmt} weights"))
        comparisons.append(compare(ctx.target.forward(loaded, inputs, mask=mask), before, exact,
                                   f"{fmt} outputs"))
        if _canonical(ctx.target.config(loaded)) != original:
            comparisons.append(Comparison(False, None, None, f"{fmt}: config changed"))
    return CheckResult.from_comparisons(comparisons, exact)
