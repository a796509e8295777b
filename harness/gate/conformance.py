"""Conformance part of the gate: the head's run against the base's baseline JSON.

The head's run is the newest conformance run recorded for the head commit; when the store has
none, the newest run of any commit stands in, with a warning. A result is identified by (case,
check, backend, library, dtype, device). When one key has several rows (merged stores, reruns)
the worst outcome counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import UsageError
from harness.gate.model import FAIL, GOOD, WARN, Section
from harness.store import Store, latest_run_for_commit, run_commit

SCHEMA = "harness.conformance/1"
KEY_FIELDS = ("case", "check", "backend", "library", "dtype", "device")
OUTCOMES = ("passed", "failed", "xfailed", "xpassed", "skipped", "error")
FAILING = frozenset({"failed", "error"})
PASSING = frozenset({"passed", "xfailed", "xpassed"})  # what a regression regresses from
_SEVERITY = {"skipped": 0, "xfailed": 1, "passed": 2, "xpassed": 3, "failed": 4, "error": 5}
_MESSAGE_CHARS = 200
COLUMNS = (*KEY_FIELDS, "baseline", "head", "message")

Key = tuple[str, ...]


@dataclass(frozen=True)
class ResultChange:
    """How one result key moved between the baseline and the head."""

    level: str
    kind: str
    key: Key
    baseline: str | None
    head: str
    message: str | None

    def cells(self) -> list[str]:
        message = (self.message or "").strip()
        if len(message) > _MESSAGE_CHARS:
            message = message[:_MESSAGE_CHARS - 1] + "…"
        return [*self.key, self.baseline or "—", self.head, message]


def load_baseline(path: str) -> list[dict[str, Any]]:
    """The results of a ``harness.conformance/1`` file; UsageError when it is not one."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"baseline {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read baseline {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise UsageError(f"baseline {path} is not a {SCHEMA} document")
    results = document.get("results")
    if not isinstance(results, list):
        raise UsageError(f"baseline {path} has no results list")
    for number, row in enumerate(results):
        if not isinstance(row, dict) or any(not isinstance(row.get(k), str) for k in KEY_FIELDS):
            raise UsageError(f"baseline {path}: result {number} lacks {', '.join(KEY_FIELDS)}")
        if row.get("outcome") not in OUTCOMES:
            raise UsageError(f"baseline {path}: result {number} has outcome "
                             f"{row.get('outcome')!r}")
    return results


def pick_run(store: Store, head_sha: str | None) -> tuple[int | None, str | None]:
    """The conformance run to judge: the newest one recorded for ``head_sha`` (any commit's
    newest when ``head_sha`` is None or has none). Returns ``(run id or None, warning or
    None)``; the warning says that no run matched the head and which run stands in."""
    if head_sha is not None:
        run_id = latest_run_for_commit(store, "conformance", head_sha)
        if run_id is not None:
            return run_id, None
    run_id = store.latest_run("conformance")
    if run_id is None or head_sha is None:
        return run_id, None
    tested = run_commit(store, run_id)
    of = f"commit {tested[:12]}" if tested else "an unrecorded commit"
    return run_id, (f"no conformance run is recorded for the head commit {head_sha[:12]}: "
                    f"the latest run, {run_id} (of {of}), stands in")


def head_results(store: Store, head_sha: str | None = None
                 ) -> tuple[int | None, list[dict[str, Any]]]:
    """The head's conformance run (``pick_run``): ``(run id, result rows)``, or ``(None, [])``."""
    run_id, _ = pick_run(store, head_sha)
    return run_id, results_of(store, run_id)


def results_of(store: Store, run_id: int | None) -> list[dict[str, Any]]:
    """The result rows of run ``run_id`` (NaN errors as None); ``[]`` for None."""
    if run_id is None:
        return []
    frame = store.load_conformance(run_id)
    rows = frame.drop(columns=["run_id"]).to_dict(orient="records")
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in rows]


def by_key(results: list[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """Result rows keyed by their identity; the worst outcome wins among duplicates."""
    keyed: dict[Key, dict[str, Any]] = {}
    for row in results:
        key = tuple(str(row[k]) for k in KEY_FIELDS)
        kept = keyed.get(key)
        if kept is None or _SEVERITY.get(row["outcome"], 0) > _SEVERITY.get(kept["outcome"], 0):
            keyed[key] = row
    return keyed


def compare(baseline: list[dict[str, Any]] | None,
            head: list[dict[str, Any]]) -> list[ResultChange]:
    """Classify the head's results against the baseline (None: no baseline, every failure
    counts). Returns the changes worth listing, failing ones first."""
    before = by_key(baseline) if baseline is not None else None
    changes = []
    for key, row in sorted(by_key(head).items()):
        was = before.get(key, {}).get("outcome") if before is not None else None
        change = _classify(before is not None, was, row["outcome"])
        if change is not None:
            level, kind = change
            changes.append(ResultChange(level, kind, key, was, row["outcome"], row.get("message")))
    order = {FAIL: 0, WARN: 1, GOOD: 2}
    return sorted(changes, key=lambda c: (order[c.level], c.kind, c.key))


def _classify(has_baseline: bool, was: str | None, now: str) -> tuple[str, str] | None:
    if now in FAILING:
        if not has_baseline:
            return FAIL, "failure"
        if was in PASSING:
            return FAIL, "regression"
        if was in FAILING:
            return WARN, "still failing"
        return FAIL, "new failure"
    if now == "xpassed":
        return FAIL, "unexpected pass: remove the xfail"
    if now == "passed" and was in FAILING:
        return GOOD, "fixed"
    return None


def conformance_section(store: Store, baseline_path: str | None,
                        head_sha: str | None = None) -> Section:
    """The conformance section: the head's run (``pick_run``) against the baseline file (if
    any); a warning when no run is recorded for ``head_sha`` and the latest stands in."""
    baseline = load_baseline(baseline_path) if baseline_path else None
    section = Section("conformance", "Conformance", COLUMNS)
    run_id, warning = pick_run(store, head_sha)
    head = results_of(store, run_id)
    if warning is not None:
        section.warnings.append(warning)
    if run_id is None:
        section.note = "no conformance results in the store: nothing to compare"
        return section
    section.rows.extend(compare(baseline, head))
    if baseline is None:
        section.note = (f"run {run_id} ({len(head)} results), no baseline: "
                        f"every failure counts")
    else:
        missing = set(by_key(baseline)) - set(by_key(head))
        section.note = (f"run {run_id} ({len(head)} results) against baseline "
                        f"{baseline_path} ({len(baseline)} results)"
                        + (f"; {len(missing)} baseline results not run in head"
                           if missing else ""))
    return section
