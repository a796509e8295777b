"""``junit.xml``: the conformance results in the JUnit XML that CI servers read.

One ``testsuite`` per backend, one ``testcase`` per result: classname ``<layer>.<case>``,
name ``<check>[<dtype>,<device>]``. ``failed`` and an unexpected ``xpassed`` are failures,
``error`` an error, ``skipped`` and ``xfailed`` (a known failure) are skipped.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.report.collect import ReportData

JUNIT_FILE = "junit.xml"
# Characters XML 1.0 cannot hold at all (backend messages may carry terminal escapes).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: Any) -> str:
    """``value`` as text XML 1.0 can hold: forbidden control characters become U+FFFD."""
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _seconds(value: Any) -> str:
    return f"{float(value or 0.0):.3f}"


def _outcome_element(case: ET.Element, result: dict[str, Any]) -> str | None:
    """Add the failure/error/skipped child a result needs; return the counter it bumps."""
    outcome, message = result["outcome"], xml_text(result.get("message"))
    if outcome == "failed":
        child, counter = ET.SubElement(case, "failure", type="failed"), "failures"
        child.set("message", message.splitlines()[0] if message else "failed")
        child.text = message
    elif outcome == "xpassed":
        child, counter = ET.SubElement(case, "failure", type="xpassed"), "failures"
        child.set("message", "unexpected pass of a known failure (listed in xfails)")
        child.text = message
    elif outcome == "error":
        child, counter = ET.SubElement(case, "error", type="error"), "errors"
        child.set("message", message.splitlines()[0] if message else "error")
        child.text = message
    elif outcome in ("skipped", "xfailed"):
        child, counter = ET.SubElement(case, "skipped", type=outcome), "skipped"
        child.set("message", (f"known failure: {message}" if outcome == "xfailed" else message)
                  or outcome)
    else:
        return None
    return counter


def _suite(root: ET.Element, backend: str, results: list[dict[str, Any]],
           version: str | None) -> dict[str, float]:
    counts = {"tests": len(results), "failures": 0, "errors": 0, "skipped": 0,
              "time": sum(float(r.get("duration_s") or 0.0) for r in results)}
    suite = ET.SubElement(root, "testsuite", name=xml_text(backend))
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name="backend", value=xml_text(backend))
    if version is not None:
        ET.SubElement(properties, "property", name="version", value=xml_text(version))
    for library in sorted({str(r["library"]) for r in results}):
        ET.SubElement(properties, "property", name="library", value=xml_text(library))
    for result in results:
        case = ET.SubElement(suite, "testcase",
                             classname=xml_text(f"{result['layer']}.{result['case']}"),
                             name=xml_text(f"{result['check']}[{result['dtype']},"
                                           f"{result['device']}]"),
                             time=_seconds(result.get("duration_s")))
        counter = _outcome_element(case, result)
        if counter is not None:
            counts[counter] += 1
    for key in ("tests", "failures", "errors", "skipped"):
        suite.set(key, str(int(counts[key])))
    suite.set("time", _seconds(counts["time"]))
    return counts


def junit_tree(document: dict[str, Any] | None) -> ET.ElementTree:
    """The JUnit XML tree of a conformance document (an empty ``testsuites`` for None)."""
    root = ET.Element("testsuites", name="dl-harness conformance")
    results = document["results"] if document else []
    versions = (document or {}).get("environment", {}).get("backends") or {}
    by_backend: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        by_backend[str(result["backend"])].append(result)
    totals = {"tests": 0.0, "failures": 0.0, "errors": 0.0, "skipped": 0.0, "time": 0.0}
    for backend in sorted(by_backend):
        counts = _suite(root, backend, by_backend[backend], versions.get(backend))
        for key in totals:
            totals[key] += counts[key]
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(int(totals[key])))
    root.set("time", _seconds(totals["time"]))
    ET.indent(root)
    return ET.ElementTree(root)


def write(data: ReportData, out: Path) -> list[Path]:
    """Write ``junit.xml`` into ``out``; return its path."""
    path = out / JUNIT_FILE
    junit_tree(data.conformance).write(path, encoding="utf-8", xml_declaration=True)
    return [path]
