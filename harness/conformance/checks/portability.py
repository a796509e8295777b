"""The portability check: a model saved on backend A, in every format, loads on backend B and
predicts what it predicted on A. One result per (case, B) covers every installed A ≠ B."""

from __future__ import annotations

from harness.conformance import data
from harness.conformance.checks import CheckResult, Context, register
from harness.conformance.compare import Comparison, compare
from harness.conformance.targets import installed_backends, make_target


@register("portability")
def check_portability(ctx: Context) -> CheckResult:
    case = ctx.layer_case
    here = ctx.target
    sources = [b for b in installed_backends() if b != here.backend]
    if not sources:
        return CheckResult.skip(f"no backend besides {here.backend} is installed")
    inputs = data.inputs(case, ctx.dtype)
    mask = data.mask(case)
    tol = ctx.tol("forward")
    comparisons: list[Comparison] = []
    try:
        for source in sources:
            there = make_target(here.library, source, here.device)  # switches the backend
            if not there.supports(ctx.dtype):
                continue
            built = there.build(case, ctx.dtype)
            # everything read from the source side is read while its backend is active
            expected = there.forward(built, inputs, mask=mask)
            weights = there.get_weights(built)
            saved = {fmt: there.save(built, fmt, ctx.scratch) for fmt in there.formats()}
            for fmt, path in saved.items():
                loaded = here.load(path, built)  # load() switches back to this item's backend
                comparisons.append(compare(here.get_weights(loaded), weights, tol,
                                           f"{source}->{here.backend} {fmt} weights"))
                comparisons.append(compare(here.forward(loaded, inputs, mask=mask),
                                           expected, tol,
                                           f"{source}->{here.backend} {fmt} outputs"))
    finally:
        make_target(here.library, here.backend, here.device)  # leave the item's backend on
    if not comparisons:
        return CheckResult.skip(f"no other backend computes in {ctx.dtype}")
    result = CheckResult.from_comparisons(comparisons, tol)
    if result.outcome == "passed":
        result.message = f"loaded models saved on {', '.join(sources)}"
    return result
