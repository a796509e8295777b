"""``harness.sarif``: analysis findings and conformance failures as SARIF 2.1.0.

One run, tool driver ``dl-harness``. Rules: one per SOLID hotspot kind, one per TODO marker,
complexity over threshold (cyclomatic, cognitive), conformance failures. Locations are
repository-relative URIs under the ``SRCROOT`` base; a conformance result has no source file,
so it carries a logical location (``backend/layer.case::check[dtype,device]``) instead.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness import __version__
from harness.report.collect import ReportData

SARIF_FILE = "harness.sarif"
SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
#: thresholds above which a function is reported (those of the debt model: S1541, S3776)
CC_THRESHOLD = 10
COGNITIVE_THRESHOLD = 15

# rule id -> (name, short description, default level)
_HOTSPOT_RULES = {
    "god-class": ("GodClass", "A class that does too much (SRP)", "warning"),
    "type-switch": ("TypeSwitch", "A branch chain over types or kinds (OCP)", "warning"),
    "refused-bequest": ("RefusedBequest", "An override that refuses or narrows its base (LSP)",
                        "warning"),
    "fat-interface": ("FatInterface", "An interface its users mostly ignore (ISP)", "warning"),
    "unstable-dependency": ("UnstableDependency",
                            "A dependency on a less stable module (DIP/SDP)", "warning"),
}
_TODO_LEVELS = {"TODO": "note", "FIXME": "warning", "XXX": "warning", "HACK": "warning"}
_OTHER_RULES = {
    "cyclomatic-complexity": ("CyclomaticComplexity",
                              f"Cyclomatic complexity above {CC_THRESHOLD}", "warning"),
    "cognitive-complexity": ("CognitiveComplexity",
                             f"Cognitive complexity above {COGNITIVE_THRESHOLD}", "warning"),
    "conformance-failed": ("ConformanceFailed", "Output differs from the oracle", "error"),
    "conformance-error": ("ConformanceError", "The case crashed on the backend", "error"),
    "conformance-xpassed": ("ConformanceUnexpectedPass",
                            "A known failure now passes: update the xfails", "warning"),
}


def _rule_table(hotspot_kinds: set[str]) -> dict[str, tuple[str, str, str]]:
    table = dict(_HOTSPOT_RULES)
    for kind in sorted(hotspot_kinds - set(table)):  # kinds added by newer analysers
        table[kind] = (kind.title().replace("-", ""), f"SOLID hotspot {kind}", "warning")
    for marker, level in _TODO_LEVELS.items():
        table[f"todo-{marker.lower()}"] = (f"{marker.title()}Marker",
                                           f"A {marker} marker in a comment", level)
    table.update(_OTHER_RULES)
    return table


def _rules(table: dict[str, tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [{"id": rule_id, "name": name, "shortDescription": {"text": text},
             "defaultConfiguration": {"level": level}}
            for rule_id, (name, text, level) in table.items()]


def _location(path: str, line: int | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": path, "uriBaseId": "SRCROOT"}}
    if line:
        physical["region"] = {"startLine": int(line)}
    return {"physicalLocation": physical}


def _result(rule_id: str, level: str, text: str, location: dict[str, Any],
            key: str) -> dict[str, Any]:
    # A fingerprint that survives line moves lets code scanning follow a finding across runs.
    digest = hashlib.sha256(f"{rule_id}\0{key}".encode()).hexdigest()[:32]
    return {"ruleId": rule_id, "level": level, "message": {"text": text},
            "locations": [location], "partialFingerprints": {"harnessFinding/v1": digest}}


def _todo_text(todo: dict[str, Any]) -> str:
    blame = [f"by {todo['author']}"] if todo.get("author") else []
    if todo.get("age_days") is not None:
        blame.append(f"{todo['age_days']} days old")
    return f"{todo['text']} ({', '.join(blame)})" if blame else str(todo["text"])


def analysis_results(document: dict[str, Any] | None,
                     table: dict[str, tuple[str, str, str]]) -> list[dict[str, Any]]:
    """SARIF results of an analysis document: hotspots, TODO markers, complex functions."""
    if document is None:
        return []
    results = []
    for spot in document.get("hotspots") or []:
        evidence = json.dumps(spot.get("evidence") or {}, sort_keys=True, default=str)
        text = f"{spot['kind']} in {spot.get('symbol') or spot['path']} " \
               f"(score {float(spot.get('score') or 0):g}): {evidence}"
        results.append(_result(spot["kind"], table[spot["kind"]][2], text,
                               _location(spot["path"], spot.get("line")),
                               f"{spot['path']}\0{spot.get('symbol')}"))
    for todo in document.get("todos") or []:
        rule_id = f"todo-{str(todo['marker']).lower()}"
        if rule_id not in table:
            continue
        results.append(_result(rule_id, table[rule_id][2], _todo_text(todo),
                               _location(todo["path"], todo["line"]),
                               f"{todo['path']}\0{todo['text']}"))
    for fn in document.get("functions") or []:
        for rule_id, value, limit in (("cyclomatic-complexity", fn.get("cc"), CC_THRESHOLD),
                                      ("cognitive-complexity", fn.get("cognitive"),
                                       COGNITIVE_THRESHOLD)):
            if value is not None and value > limit:
                text = f"{fn['qualname']} has {rule_id.replace('-', ' ')} {value} " \
                       f"(threshold {limit})"
                results.append(_result(rule_id, table[rule_id][2], text,
                                       _location(fn["path"], fn.get("lineno")),
                                       f"{fn['path']}\0{fn['qualname']}"))
    return results


def conformance_results(document: dict[str, Any] | None,
                        table: dict[str, tuple[str, str, str]]) -> list[dict[str, Any]]:
    """SARIF results of the failed, errored and unexpectedly passing conformance results."""
    results = []
    for r in (document or {}).get("results", []):
        if r["outcome"] not in ("failed", "error", "xpassed"):
            continue
        rule_id = f"conformance-{r['outcome']}"
        name = f"{r['backend']}/{r['layer']}.{r['case']}::{r['check']}[{r['dtype']},{r['device']}]"
        text = f"{r['outcome']}: {name}" + (f": {r['message']}" if r.get("message") else "")
        location = {"logicalLocations": [{"fullyQualifiedName": name, "kind": "function"}]}
        results.append(_result(rule_id, table[rule_id][2], text, location, name))
    return results


def sarif_log(data: ReportData) -> dict[str, Any]:
    """The SARIF 2.1.0 log of the report data."""
    hotspot_kinds = {s["kind"] for s in (data.analysis or {}).get("hotspots") or []}
    table = _rule_table(hotspot_kinds)
    results = analysis_results(data.analysis, table) + conformance_results(data.conformance,
                                                                           table)
    index = {rule_id: i for i, rule_id in enumerate(table)}
    for result in results:
        result["ruleIndex"] = index[result["ruleId"]]
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "dl-harness", "version": __version__,
                            "rules": _rules(table)}},
        "results": results,
        "columnKind": "unicodeCodePoints",
    }
    if data.analysis is not None and Path(data.analysis["repo"]).is_absolute():
        root = Path(data.analysis["repo"]).as_uri().rstrip("/") + "/"
        run["originalUriBaseIds"] = {"SRCROOT": {"uri": root}}
        run["versionControlProvenance"] = [{"repositoryUri": root,
                                            "revisionId": data.analysis["rev"]}]
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def write(data: ReportData, out: Path) -> list[Path]:
    """Write ``harness.sarif`` into ``out``; return its path."""
    path = out / SARIF_FILE
    path.write_text(json.dumps(sarif_log(data), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return [path]
