"""Command line: argument parsing only; the work happens in the modules it calls."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from harness import __version__
from harness.config import ConfigError, Settings, load_settings
from harness.errors import UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (CONTRACT.md)
        raise UsageError(message)


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description=__doc__)
    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    conform = sub.add_parser("conform", help="run the conformance suites and record results")
    conform.add_argument("--backend", action="append", dest="backends", metavar="B")
    conform.add_argument("--library", choices=("reference", "keras"))
    conform.add_argument("--dtype", action="append", dest="dtypes", metavar="D")
    conform.add_argument("--device", metavar="D")
    conform.add_argument("--devices", type=int, metavar="N",
                         help="devices for the data-parallel check (virtual CPUs where needed)")
    conform.add_argument("--select", metavar="EXPR",
                         help="pytest -k expression over case::check ids")
    conform.add_argument("--json", metavar="FILE")
    conform.add_argument("--store", metavar="DB")
    conform.add_argument("--jobs", "-n", metavar="N", help="pytest-xdist workers (auto, 0, N)")
    conform.add_argument("--repro", metavar="CASE_ID",
                         help="print a standalone script reproducing CASE_ID's check "
                              "(one --backend, default numpy; one --dtype, default float32)")
    conform.add_argument("--check", metavar="C",
                         help="the check --repro reproduces (default forward)")

    analyse = sub.add_parser("analyse", aliases=["analyze"], help="mine a git repository")
    analyse.add_argument("path", nargs="?", default=None)
    analyse.add_argument("--rev")
    analyse.add_argument("--history", action=argparse.BooleanOptionalAction, default=True)
    analyse.add_argument("--trends", choices=("none", "tags", "all"), default=None,
                         help="metric trends at every release tag (default with --history) "
                              "or at every first-parent commit too")
    analyse.add_argument("--pulls-export", metavar="FILE",
                         help="GitHub API pull request export (JSON) to enrich the history")
    analyse.add_argument("--coverage", metavar="FILE")
    analyse.add_argument("--analysers", type=_csv, metavar="A,B")
    analyse.add_argument("--jobs", type=int, metavar="N")
    analyse.add_argument("--json", metavar="FILE")
    analyse.add_argument("--store", metavar="DB")

    report = sub.add_parser("report", help="compile reports from the store")
    report.add_argument("--out", metavar="DIR")
    report.add_argument("--store", metavar="DB", action="append",
                        help="store to read (repeat to merge stores from several jobs)")
    report.add_argument("--format", type=_csv, default=None, metavar="html,md,json,junit,sarif")

    gate = sub.add_parser("gate", help="decide a pull request")
    gate.add_argument("path", nargs="?", default=".")
    gate.add_argument("--base", required=True, metavar="REF")
    gate.add_argument("--head", default="HEAD", metavar="REF")
    gate.add_argument("--baseline", metavar="FILE")
    gate.add_argument("--store", metavar="DB")

    run = sub.add_parser("run", help="the main job: conform, analyse ., report")
    run.add_argument("--store", metavar="DB")
    run.add_argument("--out", metavar="DIR")
    return parser


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    # Imported here so that `harness analyse` never pays for the conformance stack.
    if args.command == "conform" and args.repro:
        from harness.conformance.repro import repro_command

        return repro_command(args)
    if args.command == "conform" and args.check:
        raise UsageError("--check goes with --repro CASE_ID")
    if args.command == "conform":
        from harness.conformance.runner import conform_command

        return conform_command(args, settings)
    if args.command in ("analyse", "analyze"):
        from harness.analysis.engine import analyse_command

        return analyse_command(args, settings)
    if args.command == "report":
        from harness.report import report_command

        return report_command(args, settings)
    if args.command == "gate":
        from harness.gate import gate_command

        return gate_command(args, settings)
    if args.command == "run":
        from harness.main_job import run_command

        return run_command(args, settings)
    raise UsageError(f"unknown command {args.command!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harness`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        settings = load_settings(".")
        return _dispatch(args, settings)
    except (UsageError, ConfigError) as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
