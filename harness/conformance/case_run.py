"""The body of one conformance item: every selected check of a case, each its own result.

Each check's outcome is decided here, as pytest would have decided it for an item of its own:
a ``failed`` check result or an assertion is ``failed``, any other exception is ``error``, a
skip is ``skipped``; a check covered by a known-failure rule is ``xfailed`` when it fails or
errs and ``xpassed`` when it passes. Each result is recorded the moment it is known, so a
process that dies in the third check keeps the first two; with a time limit, a check that
hangs is recorded as ``error`` and its process ends (the other cases go on in a new one).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from harness.conformance import checks
from harness.conformance.items import CaseItem, Item

#: record(item, outcome, duration_s, check result or None, message or None)
Record = Callable[[Item, str, float, Any, "str | None"], None]

HUNG_EXIT = 70  # the exit code of a process ended by the time limit
HUNG = "hung: "  # how the message of a check ended by the time limit begins


def run_case(spec: CaseItem, target: Any, record: Record, devices: int = 0,
             limit: float = 0.0) -> tuple[Counter[str], list[str]]:
    """Run and record every check of ``spec`` on ``target``; the count of each outcome and a
    line for each check that failed or erred.

    ``limit`` > 0: seconds one check may run before it is recorded as hung and the process
    ends with exit code ``HUNG_EXIT``.
    """
    counts: Counter[str] = Counter()
    failures: list[str] = []
    for check in spec.checks:
        item = spec.item(check)
        start = time.perf_counter()
        timer = _watchdog(item, record, limit) if limit > 0 else None
        try:
            outcome, result, message = _run_check(spec, check, target, devices)
        finally:
            if timer is not None:
                timer.cancel()
        duration = time.perf_counter() - start
        reason = spec.xfails.get(check)
        if reason is not None and outcome in ("passed", "failed", "error"):
            known = outcome in ("failed", "error")
            outcome = "xfailed" if known else "xpassed"
            message = f"xfail: {reason}" + (f"; {message}" if message and known else "")
        record(item, outcome, duration, result, message)
        counts[outcome] += 1
        if outcome in ("failed", "error"):
            failures.append(f"{check}: {outcome}: {message}")
    return counts, failures


def _run_check(spec: CaseItem, check: str, target: Any,
               devices: int) -> tuple[str, Any, str | None]:
    """(outcome, check result or None, message) of one check."""
    ctx = checks.Context(spec.case, check, target, spec.dtype)
    ctx.cache["devices"] = devices
    try:
        result = checks.run(ctx)
    except pytest.xfail.Exception as exc:  # an imperative xfail, as pytest would report it
        return "xfailed", None, f"xfail: {exc}"
    except (AssertionError, pytest.fail.Exception) as exc:
        return "failed", None, _describe(exc)
    except pytest.skip.Exception as exc:
        return "skipped", None, str(exc.msg) if getattr(exc, "msg", None) else str(exc)
    except Exception as exc:  # the library under test crashed in this check only
        return "error", None, _describe(exc)
    finally:
        ctx.close()
    if result.outcome == "failed":
        return "failed", result, result.message or "mismatch"
    if result.outcome == "skipped":
        return "skipped", result, result.message or "not applicable"
    return result.outcome, result, result.message


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _watchdog(item: Item, record: Record, limit: float) -> threading.Timer:
    def expire() -> None:
        try:
            record(item, "error", limit, None, f"{HUNG}no result after {limit:g} s")
        finally:
            os._exit(HUNG_EXIT)

    timer = threading.Timer(limit, expire)
    timer.daemon = True
    timer.start()
    return timer


def verdict(counts: Counter[str], failures: list[str]) -> None:
    """End the pytest item as its checks went: failed if any check failed or erred, skipped
    if every check was skipped, passed otherwise."""
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
    if counts and set(counts) == {"skipped"}:
        pytest.skip("every check of the case was skipped")
