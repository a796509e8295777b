"""The readable matrix ``harness conform`` prints: layers × checks with pass counts."""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

from harness.conformance.cases import ALL_CHECKS
from harness.conformance.results import BAD_OUTCOMES as BAD


def cells(results: list[dict[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str],
                                                                             dict[str, int]]]:
    """(layers, checks present, counts per (layer, check) per outcome)."""
    counts: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in results:
        counts[(r["layer"], r["check"])][r["outcome"]] += 1
    layers = sorted({r["layer"] for r in results})
    present = {r["check"] for r in results}
    checks = [c for c in ALL_CHECKS if c in present] + sorted(present - set(ALL_CHECKS))
    return layers, checks, counts


def cell_text(outcomes: dict[str, int] | None) -> str:
    """``5/5``, ``3/5 ✗`` (something failed), ``skip`` (nothing applied), ``-`` (not run);
    xfails count as expected, skips are left out of the count."""
    if not outcomes:
        return "-"
    total = sum(outcomes.values()) - outcomes.get("skipped", 0)
    if total == 0:
        return "skip"
    good = outcomes.get("passed", 0) + outcomes.get("xfailed", 0)
    mark = " ✗" if any(outcomes.get(k) for k in BAD) else ""
    return f"{good}/{total}{mark}"


def render_plain(document: dict[str, Any]) -> str:
    layers, checks, counts = cells(document["results"])
    header = ["layer", *checks]
    rows = [[layer, *[cell_text(counts.get((layer, c))) for c in checks]] for layer in layers]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True))
             for row in [header, *rows]]
    return "\n".join(lines)


def failures(document: dict[str, Any], limit: int = 30) -> list[str]:
    bad = [r for r in document["results"] if r["outcome"] in BAD]
    lines = [f"{r['outcome'].upper():8} {r['case']}::{r['check']} [{r['backend']}/{r['dtype']}]"
             f" {r['message'] or ''}"[:300] for r in bad[:limit]]
    if len(bad) > limit:
        lines.append(f"... and {len(bad) - limit} more")
    return lines


def summary_line(document: dict[str, Any]) -> str:
    s = document["summary"]
    return ", ".join(f"{s[k]} {k}" for k in s if s[k]) or "no results"


def print_matrix(document: dict[str, Any]) -> None:
    """Print the matrix (rich table on a terminal, plain text otherwise) and the failures."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        layers, checks, counts = cells(document["results"])
        table = Table(title="conformance", show_lines=False)
        table.add_column("layer")
        for c in checks:
            table.add_column(c, justify="center")
        for layer in layers:
            texts = [cell_text(counts.get((layer, c))) for c in checks]
            styled = [f"[red]{t}[/red]" if "✗" in t else t for t in texts]
            table.add_row(layer, *styled)
        Console().print(table)
    else:
        print(render_plain(document))
    for line in failures(document):
        print(line)
    print(summary_line(document))
