"""What the conformance suite's pytest items are, and which of their checks a run selects.

One pytest item runs one case on one backend in one dtype: every check of the case, one after
another, each recorded as its own result (``case::check::backend::dtype``). pytest's own cost
per item (its run protocol, reports, hooks) is paid once per case instead of once per check.

``-k`` keeps its meaning at check level: ``-k "Dense and forward"`` runs the ``forward`` check
of the Dense cases and no other check of them, as if every check were its own item named
``test_case[<case>::<check>::<backend>::<dtype>]``. A case item none of whose checks is
selected is deselected, so ``-k`` that matches nothing still gives pytest's "no tests ran".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.conformance import suite_files
from harness.conformance.cases import Case, ModelCase

ITEM_FIXTURE = "harness_item"


@dataclass(frozen=True)
class Item:
    """One result of the suite: a case, a check, a backend, a dtype."""

    case: Case | ModelCase
    check: str
    backend: str
    dtype: str

    @property
    def id(self) -> str:
        return f"{self.case.id}::{self.check}::{self.backend}::{self.dtype}"


@dataclass
class CaseItem:
    """What one pytest item runs: the selected checks of a case on a backend in a dtype, and
    the reason of the known-failure rule that covers each check (None: no rule)."""

    case: Case | ModelCase
    checks: list[str]
    backend: str
    dtype: str
    xfails: dict[str, str | None] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.case.id}::{self.backend}::{self.dtype}"

    def item(self, check: str) -> Item:
        """The result-level item of one of the checks."""
        return Item(self.case, check, self.backend, self.dtype)

    def check_name(self, check: str, function: str = "test_case") -> str:
        """The pytest name one check would have as its own item (what ``-k`` matches)."""
        return f"{function}[{self.item(check).id}]"


def case_items(backends: Iterable[str], dtypes: list[str], devices: int) -> list[CaseItem]:
    """Every (case, backend, dtype) of the catalogue with all its checks, in catalogue order.

    Model cases train in float32 whatever the dtypes asked; with ``devices >= 2`` they also
    get the ``data_parallel`` check.
    """
    from harness.conformance.cases import catalogue

    items = []
    for backend in backends:
        for case in catalogue():
            case_dtypes = ["float32"] if isinstance(case, ModelCase) else dtypes
            for dtype in case_dtypes:
                checks = list(case.checks)
                if isinstance(case, ModelCase) and devices >= 2:
                    checks.append("data_parallel")
                items.append(CaseItem(case, checks, backend, dtype))
    return items


def spec_of(item: Any) -> CaseItem | None:
    """The ``CaseItem`` a pytest item runs, or None for any other test."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    spec = callspec.params.get(ITEM_FIXTURE)
    return spec if isinstance(spec, CaseItem) else None


def mark_xfails(items: list[pytest.Item], library: str, device: str) -> None:
    """Fill each case item's ``xfails`` from ``suites/xfails/<backend>.toml``."""
    rules: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        spec = spec_of(item)
        if spec is None:
            continue
        if spec.backend not in rules:
            rules[spec.backend] = suite_files.load_xfails(spec.backend)
        spec.xfails = {check: suite_files.match_xfail(
            rules[spec.backend], case=spec.case.id, check=check, dtype=spec.dtype,
            library=library, device=device) for check in spec.checks}


def keyword_expression(expression: str) -> Any:
    """``expression`` compiled as pytest compiles ``-k``; a malformed one is pytest's usage
    error, with pytest's message."""
    from _pytest.mark.expression import Expression

    try:
        return Expression.compile(expression)
    except Exception as exc:  # SyntaxError (pytest 9), ParseError (earlier)
        where = f"at column {exc.offset}: {exc.msg}" if isinstance(exc, SyntaxError) else exc
        raise pytest.UsageError(f"Wrong expression passed to '-k': {expression}: {where}") \
            from None


def select_checks(items: list[pytest.Item], expression: str) -> list[pytest.Item]:
    """Apply ``expression`` (a ``-k`` expression) to ``items`` check by check: narrow each case
    item's checks to those it selects, matching each check as pytest would match it as its own
    item, and judge every other item as pytest itself does. Returns the items to deselect: case
    items left with no check, and the other items the expression does not select."""
    from _pytest.mark import KeywordMatcher

    compiled = keyword_expression(expression)
    dropped = []
    for item in items:
        matcher = KeywordMatcher.from_item(item)
        spec = spec_of(item)
        if spec is None:
            if not compiled.evaluate(matcher):
                dropped.append(item)
            continue
        names = set(matcher._names) - {item.name}
        function = item.name.split("[", 1)[0]
        spec.checks = [check for check in spec.checks if compiled.evaluate(
            KeywordMatcher(frozenset(names | {spec.check_name(check, function)})))]
        if not spec.checks:
            dropped.append(item)
    return dropped
