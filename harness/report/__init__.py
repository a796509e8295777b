"""``harness report``: compile the store(s) into HTML, Markdown, JSON, JUnit and SARIF.

Reports read only the store. Each format is one module that turns the collected data
(``collect.ReportData``) into files of the output folder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from harness.config import Settings
from harness.errors import UsageError
from harness.report.collect import ReportData, collect

#: every format, in the order the files are written
FORMATS = ("html", "md", "json", "junit", "sarif")


def _writers() -> dict[str, Callable[[ReportData, Path], list[Path]]]:
    from harness.report import html, json_report, junit, markdown, sarif

    return {"html": html.write, "md": markdown.write, "json": json_report.write,
            "junit": junit.write, "sarif": sarif.write}


def parse_formats(formats: Iterable[str] | None) -> list[str]:
    """The requested formats in FORMATS order (all of them for None); UsageError if unknown."""
    if formats is None:
        return list(FORMATS)
    wanted = [f.strip().lower() for f in formats if f.strip()]
    unknown = [f for f in wanted if f not in FORMATS]
    if unknown:
        raise UsageError(f"unknown report format {unknown[0]!r} (known: {', '.join(FORMATS)})")
    if not wanted:
        raise UsageError(f"no report format given (known: {', '.join(FORMATS)})")
    return [f for f in FORMATS if f in wanted]


def build_reports(stores: Iterable[str | Path], out: str | Path,
                  formats: Iterable[str] | None = None) -> list[Path]:
    """Read ``stores`` and write the ``formats`` (default: all) into folder ``out``.

    Returns the paths written. Raises UsageError for an unknown format, a missing store or
    an output folder that cannot be written.
    """
    chosen = parse_formats(formats)
    data = collect([str(s) for s in stores])
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {folder}: {exc.strerror}") from None
    writers = _writers()
    written: list[Path] = []
    for name in chosen:
        try:
            written += writers[name](data, folder)
        except OSError as exc:
            raise UsageError(f"cannot write the {name} report in {folder}: {exc}") from None
    if data.conformance is not None:
        # a standalone script per failed/errored result, where this environment can make one
        from harness.conformance.repro import write_reproductions

        written += write_reproductions(data.conformance["results"], folder / "repro")
    return written


def report_command(args: argparse.Namespace, settings: Settings) -> int:
    """``harness report``: write the reports, print what was written; exit status 0."""
    stores = args.store or [settings.store]
    out = args.out or settings.out
    paths = build_reports(stores, out, args.format)
    for path in paths:
        print(path)
    if "json" in parse_formats(args.format) and not any(p.name == "analysis.json"
                                                        for p in paths):
        print("no analysis in the store: analysis.json not written", file=sys.stderr)
    return 0
