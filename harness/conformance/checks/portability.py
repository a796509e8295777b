"""The portability check: a model saved on backend A, in every format, loads on backend B and
predicts what it predicted on A. One result per (case, B) covers every installed A ≠ B.

A library that binds one backend per process (Keras 3) has A save in another process
(``SavesInOtherProcesses``); its loaded predictions are also compared with the oracle.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from harness.conformance import data, expected
from harness.conformance.cases import Case
from harness.conformance.checks import CheckResult, Context, register
from harness.conformance.checks.values import built_for
from harness.conformance.compare import Comparison, compare
from harness.conformance.targets import installed_backends, make_target
from harness.conformance.tolerances import Tol


@runtime_checkable
class SavesInOtherProcesses(Protocol):
    """A target whose other backends save models in their own processes. ``saved_on`` gives
    an object with ``paths`` (format -> file), ``outputs`` and ``weights`` (the source's) and
    ``errors`` (format -> what failed), or None when the source lacks the dtype."""

    def portability_sources(self) -> list[str]: ...
    def saved_on(self, source: str, case: Case, dtype: str) -> Any: ...


@register("portability")
def check_portability(ctx: Context) -> CheckResult:
    if isinstance(ctx.target, SavesInOtherProcesses):
        return _saved_in_other_processes(ctx, ctx.target)
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
    return _verdict(comparisons, tol, sources, ctx.dtype)


def _saved_in_other_processes(ctx: Context, here: SavesInOtherProcesses) -> CheckResult:
    """Load, on this item's backend, what every other backend saved in its own process;
    compare weights and predictions with the source's and predictions with the oracle."""
    case = ctx.layer_case
    backend = ctx.target.backend
    sources = here.portability_sources()
    if not sources:
        return CheckResult.skip(f"no backend besides {backend} is installed")
    like = built_for(ctx)
    inputs, mask = data.inputs(case, ctx.dtype), data.mask(case)
    tol = ctx.tol("forward")
    comparisons: list[Comparison] = []
    used: list[str] = []
    for source in sources:
        saved = here.saved_on(source, case, ctx.dtype)
        if saved is None:
            continue
        used.append(source)
        pair = f"{source}->{backend}"
        comparisons += [Comparison(False, None, None, f"{source} could not save {fmt}: {why}")
                        for fmt, why in saved.errors.items()]
        if not saved.paths:
            continue
        oracle = expected.forward(case, saved.weights, inputs, False, mask)
        for fmt, path in saved.paths.items():
            try:
                loaded = ctx.target.load(path, like)
                got = ctx.target.forward(loaded, inputs, mask=mask)
                weights = ctx.target.get_weights(loaded)
            except Exception as exc:  # noqa: BLE001 - one pair failing leaves the others
                comparisons.append(Comparison(False, None, None, f"{pair} {fmt}: loading "
                                              f"raised {type(exc).__name__}: {exc}"[:500]))
                continue
            comparisons += [compare(weights, saved.weights, tol, f"{pair} {fmt} weights"),
                            compare(got, saved.outputs, tol, f"{pair} {fmt} outputs"),
                            compare(got, oracle, tol, f"{pair} {fmt} outputs vs oracle")]
    return _verdict(comparisons, tol, used, ctx.dtype)


def _verdict(comparisons: list[Comparison], tol: Tol, sources: list[str],
             dtype: str) -> CheckResult:
    """The check's result from every pair's comparisons; a skip when no pair was compared."""
    if not comparisons:
        return CheckResult.skip(f"no other backend computes in {dtype}")
    result = CheckResult.from_comparisons(comparisons, tol)
    if result.outcome == "passed":
        result.message = f"loaded models saved on {', '.join(sources)}"
    return result
