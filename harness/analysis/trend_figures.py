"""The figures trends add up: a few numbers per distinct blob, summed per revision.

A blob's ``BlobFigures`` come from the engine's cached blob results (todos, complexity,
cognitive, classes) of that blob; a revision's ``Totals`` are the sum over its Python files,
kept as running totals when a line of commits is walked change by change. Each figure means
what the same figure means in the ``harness.analysis/1`` document of that revision:

- ``files``: decodable Python files; ``sloc``: radon SLOC of the parseable ones;
- ``functions``, ``cc_sum``, ``max_cc``: the document's function rows and their CC;
- ``todos``: TODO/FIXME/XXX/HACK comments; ``god_classes``: classes with ``god_class`` true;
- ``debt_minutes``: the remediation minutes of the per-file rules of ``debt`` (cyclomatic and
  cognitive complexity, TODO/FIXME, god class, low maintainability, unparseable file).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any, NamedTuple

from harness.analysis import debt as debt_mod

# The engine's blob analysers whose results the figures read, in the engine's order (the
# document's 'skipped' reason of a file is the first analyser's reason in this order).
BLOB_ANALYSERS = ("todos", "complexity", "cognitive", "classes")


class BlobFigures(NamedTuple):
    """The trend figures of one file version."""

    decoded: bool
    sloc: int
    functions: int
    cc_sum: int
    max_cc: int
    todos: int
    god_classes: int
    debt_minutes: int


def blob_figures(payloads: Mapping[str, Mapping[str, Any]]) -> BlobFigures:
    """Figures of one blob from its engine payloads ``{analyser: {"result", "skipped",
    "decoded"}}`` (one per name of BLOB_ANALYSERS). Returns a ``BlobFigures``."""
    ordered = [payloads[name] for name in BLOB_ANALYSERS]
    results = {name: payloads[name]["result"] for name in BLOB_ANALYSERS}
    metrics = results["complexity"]
    functions = metrics["functions"] if metrics else []
    todos = results["todos"] or []
    classes = results["classes"] or []
    cognitive = {row["lineno"]: row["cognitive"] for row in results["cognitive"] or []}
    skipped = next((p["skipped"] for p in ordered if p["skipped"]), None)
    # A one-file document, so that the debt rules are the debt module's own.
    document = {
        "functions": [{"path": "", "qualname": fn["qualname"], "lineno": fn["lineno"],
                       "cc": fn["cc"], "cognitive": cognitive.get(fn["lineno"])}
                      for fn in functions],
        "todos": [{"path": "", "line": t["line"], "marker": t["marker"]} for t in todos],
        "hotspots": [{"kind": "god-class", "path": "", "line": c["lineno"], "symbol": c["name"]}
                     for c in classes if c["god_class"]],
        "modules": [{"path": "", "module": "", "mi": round(metrics["mi"], 4)}] if metrics else [],
        "skipped": [{"path": "", "reason": skipped}] if skipped else [],
    }
    return BlobFigures(
        decoded=any(p["decoded"] for p in ordered),
        sloc=metrics["raw"]["sloc"] if metrics else 0,
        functions=len(functions),
        cc_sum=sum(fn["cc"] for fn in functions),
        max_cc=max((fn["cc"] for fn in functions), default=0),
        todos=len(todos),
        god_classes=sum(1 for c in classes if c["god_class"]),
        debt_minutes=sum(item["minutes"] for item in debt_mod.findings(document)),
    )


class Totals:
    """Running sums of ``BlobFigures`` over the files of a revision (add and remove files)."""

    _SUMMED = ("sloc", "functions", "cc_sum", "todos", "god_classes", "debt_minutes")

    def __init__(self) -> None:
        self.files = 0
        self.sums = dict.fromkeys(self._SUMMED, 0)
        self.max_cc = Counter[int]()  # per-file maximum -> number of files, for removals

    def add(self, figures: BlobFigures, sign: int = 1) -> None:
        """Count one file in (``sign`` 1) or out (``sign`` -1)."""
        self.files += sign * figures.decoded
        for name in self._SUMMED:
            self.sums[name] += sign * getattr(figures, name)
        if figures.functions:
            self.max_cc[figures.max_cc] += sign
            if not self.max_cc[figures.max_cc]:
                del self.max_cc[figures.max_cc]

    def point(self) -> dict[str, Any]:
        """The revision's figures: ``{"files", "sloc", "functions", "cc_sum", "max_cc",
        "todos", "god_classes", "debt_minutes"}``."""
        return {"files": self.files, **self.sums, "max_cc": max(self.max_cc, default=0)}


def duplication_minutes(result: Mapping[str, Any]) -> int:
    """Remediation minutes of the duplicated blocks of a ``duplication`` result."""
    return sum(item["minutes"] for item in debt_mod.findings({"duplication": result}))


def trend_row(point: Mapping[str, Any], commit: str, date: str,
              tag: str | None) -> dict[str, Any]:
    """One row of the ``trends`` section from a stored point (figures plus, when computed,
    ``duplication``: {"percent", "minutes"}): ``{"tag", "date", "commit", "sloc", "files",
    "functions", "mean_cc", "max_cc", "todos", "debt_minutes", "rating", "god_classes",
    "duplication_percent"}``; ``duplication_percent`` is None when not computed."""
    duplication = point.get("duplication")
    minutes = point["debt_minutes"] + (duplication["minutes"] if duplication else 0)
    development = point["sloc"] * debt_mod.MINUTES_PER_SLOC
    return {
        "tag": tag, "date": date, "commit": commit,
        "sloc": point["sloc"], "files": point["files"], "functions": point["functions"],
        "mean_cc": round(point["cc_sum"] / point["functions"], 4) if point["functions"] else 0.0,
        "max_cc": point["max_cc"], "todos": point["todos"], "debt_minutes": minutes,
        "rating": debt_mod.rating(minutes / development if development else 0.0),
        "god_classes": point["god_classes"],
        "duplication_percent": round(duplication["percent"], 4) if duplication else None,
    }
