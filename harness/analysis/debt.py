"""SQALE-style technical debt: a remediation cost per finding, a total and an A-E rating.

The rating follows SonarQube's maintainability rating: debt ratio = remediation cost /
development cost, development cost = SLOC x 30 minutes; A <= 5%, B <= 10%, C <= 20%,
D <= 50%, E above. A day of remediation is 8 hours. The per-rule costs are modelled on
SonarQube's Python rules (constant + linear effort above a threshold).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MINUTES_PER_SLOC = 30
MINUTES_PER_DAY = 8 * 60
SEVERITIES = ("blocker", "critical", "major", "minor", "info")
RATINGS = ((0.05, "A"), (0.10, "B"), (0.20, "C"), (0.50, "D"))


@dataclass(frozen=True)
class Rule:
    """One remediation rule: ``minutes`` per finding plus ``per_point`` per unit over
    ``threshold`` of the measured value (when the rule has one)."""

    severity: str
    minutes: int
    threshold: float = 0
    per_point: int = 0

    def cost(self, value: float = 0) -> int:
        """Remediation minutes for one finding with measured ``value``."""
        return self.minutes + int(self.per_point * max(0.0, value - self.threshold))


REMEDIATION: dict[str, Rule] = {
    "cognitive-complexity": Rule("critical", 5, threshold=15, per_point=1),   # like S3776
    "cyclomatic-complexity": Rule("major", 10, threshold=10, per_point=1),    # like S1541
    "todo": Rule("info", 10),                                                 # like S1135
    "fixme": Rule("major", 15),                                               # like S1134
    "god-class": Rule("critical", 120),
    "type-switch": Rule("major", 30),
    "refused-bequest": Rule("major", 30),
    "fat-interface": Rule("major", 45),
    "unstable-dependency": Rule("minor", 30),
    "duplicated-block": Rule("major", 10),                                    # per extra copy
    "import-cycle": Rule("major", 30),                                        # per module
    "low-maintainability": Rule("major", 60, threshold=10),                   # MI below 10
    "unparseable-file": Rule("critical", 30),
}


def rating(ratio: float) -> str:
    """The A-E letter of a debt ratio (0.05 -> A, 0.07 -> B, 0.6 -> E)."""
    for limit, letter in RATINGS:
        if ratio <= limit:
            return letter
    return "E"


def findings(document: dict[str, Any]) -> list[dict]:
    """Every remediation item of a document: ``{"rule", "severity", "path", "line", "symbol",
    "minutes"}``."""
    items: list[dict] = []

    def add(rule: str, path: str | None, line: int | None, value: float = 0,
            symbol: str | None = None) -> None:
        items.append({"rule": rule, "severity": REMEDIATION[rule].severity, "path": path,
                      "line": line, "symbol": symbol, "minutes": REMEDIATION[rule].cost(value)})

    for fn in document.get("functions") or []:
        if fn.get("cognitive") is not None and fn["cognitive"] > 15:
            add("cognitive-complexity", fn["path"], fn["lineno"], fn["cognitive"], fn["qualname"])
        if fn["cc"] > 10:
            add("cyclomatic-complexity", fn["path"], fn["lineno"], fn["cc"], fn["qualname"])
    for todo in document.get("todos") or []:
        add("todo" if todo["marker"] == "TODO" else "fixme", todo["path"], todo["line"])
    for spot in document.get("hotspots") or []:
        if spot["kind"] in REMEDIATION:
            add(spot["kind"], spot["path"], spot.get("line"), symbol=spot.get("symbol"))
    for block in (document.get("duplication") or {}).get("blocks", []):
        for occurrence in block["occurrences"][1:]:
            add("duplicated-block", occurrence["path"], occurrence["start"])
    for cycle in document.get("cycles") or []:
        for module in cycle:
            add("import-cycle", None, None, symbol=module)
    for module in document.get("modules") or []:
        if module.get("mi") is not None and module["mi"] < 10:
            add("low-maintainability", module["path"], None, symbol=module["module"])
    for skipped in document.get("skipped") or []:
        if skipped["reason"].startswith("cannot parse"):
            add("unparseable-file", skipped["path"], None)
    return items


def remediation(document: dict[str, Any]) -> dict:
    """The debt of an analysis document.

    Returns ``{"minutes", "days", "rating", "ratio", "development_minutes",
    "by_severity": {severity: minutes}, "by_rule": {rule: minutes}, "items": findings}``.
    """
    items = findings(document)
    minutes = sum(item["minutes"] for item in items)
    development = int(document["summary"]["sloc"]) * MINUTES_PER_SLOC
    ratio = minutes / development if development else 0.0
    by_rule: dict[str, int] = {}
    for item in items:
        by_rule[item["rule"]] = by_rule.get(item["rule"], 0) + item["minutes"]
    return {
        "minutes": minutes,
        "days": round(minutes / MINUTES_PER_DAY, 2),
        "rating": rating(ratio),
        "ratio": round(ratio, 6),
        "development_minutes": development,
        "by_severity": {severity: sum(i["minutes"] for i in items if i["severity"] == severity)
                        for severity in SEVERITIES},
        "by_rule": dict(sorted(by_rule.items())),
        "items": items,
    }
