"""``harness run``: the main job on the embedded defaults.

Conformance on every installed backend, analysis of the current repository (fed with coverage
when ``[tool.harness] coverage_command`` says how to run the tests), then every report into
``reports/``. Exit 1 when conformance says no, else 0.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from harness.config import Settings
from harness.errors import UsageError


def _coverage(settings: Settings) -> str | None:
    """Run the project's tests with coverage when configured; the coverage file, or None.

    ``coverage_command`` is a command line (a leading ``python`` means this interpreter) that
    writes ``coverage_file`` (coverage.py data or Cobertura XML).
    """
    if not settings.coverage_command or not settings.coverage_file:
        return None
    command = shlex.split(settings.coverage_command)
    if command and command[0] in ("python", "python3"):
        command[0] = sys.executable
    print(f"run: tests with coverage: {settings.coverage_command}", flush=True)
    try:
        proc = subprocess.run(command)
    except OSError as exc:
        raise UsageError(f"cannot run coverage_command: {exc}") from exc
    data = Path(settings.coverage_file)
    if proc.returncode not in (0, 1) or not data.is_file():  # 1: a test failed, data is fine
        print(f"run: coverage command exited {proc.returncode}; analysing without coverage",
              flush=True)
        return None
    return str(data)


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    from harness.analysis.engine import analyse
    from harness.conformance import matrix
    from harness.conformance.runner import (
        exit_status,
        installed_backends,
        results_document,
        run_suite,
    )
    from harness.report import build_reports
    from harness.store import open_store

    settings = settings.with_options(store=args.store, out=args.out)
    backends = list(settings.backends) or installed_backends()
    if not backends:
        raise UsageError("no backend is installed")
    print(f"run: conformance of the {settings.library} library on {', '.join(backends)}",
          flush=True)
    run_id = run_suite(backends, settings, jobs=None, progress="plain")
    document = results_document(run_id, settings.store)
    matrix.print_matrix(document)
    status = exit_status(document["summary"])

    print(f"run: analysing {settings.analysis_path} at {settings.rev}", flush=True)
    coverage = _coverage(settings)
    with open_store(settings.store) as store:
        result = analyse(settings.analysis_path, settings.rev, coverage=coverage,
                         jobs=settings.jobs, store=store)
    summary = result.document["summary"]
    print(f"run: {summary['files']} files, {summary['sloc']} SLOC, {summary['todos']} TODOs, "
          f"debt rating {result.document['debt']['rating']}", flush=True)

    written = build_reports([settings.store], settings.out, None)
    print(f"run: reports in {settings.out}/ ({', '.join(p.name for p in written)}); "
          f"store {settings.store}")
    return status
