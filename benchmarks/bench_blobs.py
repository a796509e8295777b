"""Per-blob cost of the engine's blob analysers (issue 6: trends analyse each blob once).

    python benchmarks/bench_blobs.py [--bundle ../shared/repos/pytest-xdist.bundle]
                                     [--limit 400] [--repeat 3] [--radon-raw]
                                     [--analysers todos,complexity,...] [--check]

Clones the bundle into a temporary folder, reads its distinct ``.py`` blobs (every object of
``git rev-list --all --objects``, in that order, the first ``--limit``), then times, per blob,
decoding, ``ast.parse`` and each registered blob analyser as ``analyse_blob`` runs them (one
after another on the same text and tree), and ``analyse_blob`` itself end to end. Prints
milliseconds per parsed blob, wall clock and CPU (this process), the best of ``--repeat``
rounds per stage. ``--radon-raw`` also times ``radon.raw.analyze`` and one standard
``tokenize`` pass alone, the two costs the shared token scan replaces.

``--check`` times nothing: it compares, on every blob read (``--limit 0``: all of them), the
figures against their independent sources: raw counts against ``radon.raw.analyze`` (or its
exception), comments and code lines against ``tokenize``, per-function CC, total CC and
Halstead against radon's visitors, MI against ``radon.metrics.mi_visit``, duplication
fingerprints and token records against those read through ``tokenize`` (the previous
implementation), and prints each mismatch and a count.

``--payloads FILE`` times nothing either: it digests the ``analyse_blob`` payload of every
blob read (every registered blob analyser, as JSON), writes the digests to FILE when it does
not exist, else compares them with FILE's and prints the blobs whose payloads changed: run it
before and after a change to the analysers to show their results are byte-identical.

"""

from __future__ import annotations

import argparse
import ast
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import time
import tokenize
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.analysis.engine import analyse_blob  # noqa: E402
from harness.analysis.registry import REGISTRY  # noqa: E402
from harness.analysis.sources import decode_source  # noqa: E402


def python_blobs(repo: Path, limit: int | None) -> list[tuple[str, bytes]]:
    """``[(path, bytes)]`` of the first ``limit`` (None: all) distinct ``.py`` blobs."""
    listing = subprocess.run(["git", "-C", str(repo), "rev-list", "--all", "--objects"],
                             check=True, capture_output=True, text=True).stdout
    seen: dict[str, str] = {}
    for line in listing.splitlines():
        sha, _, path = line.partition(" ")
        if path.endswith(".py") and sha not in seen:
            seen[sha] = path
    shas = list(seen)[:limit]
    batch = subprocess.run(["git", "-C", str(repo), "cat-file", "--batch"], check=True,
                           input="".join(f"{sha}\n" for sha in shas).encode(),
                           capture_output=True).stdout
    blobs, offset = [], 0
    for sha in shas:
        header_end = batch.index(b"\n", offset)
        size = int(batch[offset:header_end].split()[2])
        blobs.append((seen[sha], batch[header_end + 1:header_end + 1 + size]))
        offset = header_end + 1 + size + 1
    return blobs


def timed(stage: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    stage()
    return time.perf_counter() - wall, time.process_time() - cpu


def one_round(blobs: list[tuple[str, bytes]], names: list[str],
              radon_raw: bool) -> tuple[dict[str, tuple[float, float]], int]:
    """Total (wall, CPU) seconds per stage over the blobs, and how many blobs parsed."""
    totals: dict[str, list[float]] = {}

    def add(stage: str, cost: tuple[float, float]) -> None:
        entry = totals.setdefault(stage, [0.0, 0.0])
        entry[0] += cost[0]
        entry[1] += cost[1]

    parsed = 0
    for path, data in blobs:
        text = decode_source(data).text
        if text is None:
            continue
        try:
            tree = ast.parse(text, filename=path)
        except (SyntaxError, ValueError, RecursionError):
            continue
        parsed += 1
        add("decode", timed(lambda: decode_source(data)))  # noqa: B023 - called at once
        add("parse", timed(lambda: ast.parse(text, filename=path)))  # noqa: B023
        fresh = text[:-1] + text[-1:] if text else text  # a new str: no memo from above
        for name in names:
            run = REGISTRY[name].run
            add(name, timed(lambda: run(path, fresh, tree)))  # noqa: B023
        add("analyse_blob", timed(lambda: analyse_blob(path, data, names)))  # noqa: B023
        if radon_raw:
            from radon.raw import analyze

            add("radon raw.analyze", timed(lambda: analyze(text)))  # noqa: B023
            add("tokenize pass", timed(
                lambda: list(tokenize.generate_tokens(io.StringIO(text).readline))))  # noqa: B023
    return {stage: (wall, cpu) for stage, (wall, cpu) in totals.items()}, parsed


def outcome(function: Callable[..., object], *args: object) -> object:
    """``function(*args)``, or (exception type, message) where it raises."""
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001 - compared, not handled
        return type(exc), str(exc)


def mismatches(text: str) -> list[str]:
    """Names of the figures of ``text`` that differ from radon's or tokenize's."""
    from radon.metrics import h_visit_ast, mi_visit
    from radon.raw import analyze
    from radon.visitors import ComplexityVisitor

    from harness.analysis.complexity import function_rows, module_metrics
    from harness.analysis.duplication import (  # the tokenize readings: the reference
        _fingerprints_by_tokenize,
        _token_record_by_tokenize,
        fingerprints,
        token_record,
    )
    from harness.analysis.raw_metrics import raw_metrics
    from harness.analysis.tokens import scan

    wrong = []
    if outcome(raw_metrics, text) != outcome(analyze, text):
        wrong.append("raw")
    found = scan(text)
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        tokens = []
    if tokens and found.exact:
        if found.comments != [(t.start[0], t.string) for t in tokens
                              if t.type == tokenize.COMMENT]:
            wrong.append("comments")
        code = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                tokenize.DEDENT, tokenize.ENDMARKER}
        rows = {row for t in tokens if t.type not in code
                for row in range(t.start[0], t.end[0] + 1)}
        if rows != {row for row in range(1, text.count("\n") + 2)
                    if found.code_line_count(row, row)}:
            wrong.append("code lines")
    if fingerprints(text) != _fingerprints_by_tokenize(text, 100):
        wrong.append("fingerprints")
    if token_record(text) != _token_record_by_tokenize(text):
        wrong.append("token record")
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return wrong
    metrics = outcome(module_metrics, text, tree)
    if not isinstance(metrics, dict):
        return wrong if metrics == outcome(mi_visit, text, True) else [*wrong, "error"]
    visitor = ComplexityVisitor.from_ast(tree)
    halstead = {k: float(v) for k, v in h_visit_ast(tree).total._asdict().items()}
    for name, ok in (("functions", metrics["functions"] == function_rows(visitor)),
                     ("total_cc", metrics["total_cc"] == visitor.total_complexity),
                     ("halstead", metrics["halstead"] == halstead),
                     ("mi", metrics["mi"] == mi_visit(text, True))):
        if not ok:
            wrong.append(name)
    return wrong


def check(blobs: list[tuple[str, bytes]]) -> int:
    """Print the blobs whose figures differ from radon's or tokenize's; return how many."""
    bad = checked = 0
    for path, data in blobs:
        text = decode_source(data).text
        if text is None:
            continue
        checked += 1
        wrong = mismatches(text)
        if wrong:
            bad += 1
            print(f"  {path}: {', '.join(wrong)}")
    print(f"{checked} blobs checked against radon and tokenize, {bad} with a mismatch")
    return bad


def payload_digests(blobs: list[tuple[str, bytes]], names: list[str]) -> dict[str, str]:
    """``{"index:path": sha1 of the JSON of analyse_blob(path, data, names)}`` per blob."""
    return {f"{index}:{path}": hashlib.sha1(
                json.dumps(analyse_blob(path, data, names)).encode()).hexdigest()
            for index, (path, data) in enumerate(blobs)}


def compare_payloads(blobs: list[tuple[str, bytes]], names: list[str], file: Path) -> int:
    """Write the payload digests to ``file``, or compare with those it holds; the number of
    blobs whose payloads differ (0 when writing)."""
    found = payload_digests(blobs, names)
    if not file.exists():
        file.write_text(json.dumps(found, indent=0) + "\n")
        print(f"{len(found)} payload digests written to {file}")
        return 0
    before = json.loads(file.read_text())
    changed = sorted(set(before) ^ set(found)) + [key for key in before
                                                   if key in found and before[key] != found[key]]
    for key in changed:
        print(f"  changed: {key}")
    print(f"{len(found)} blobs' payloads compared with {file}: {len(changed)} differ")
    return len(changed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(Path(__file__).resolve().parents[2]
                                                / "shared/repos/pytest-xdist.bundle"))
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--radon-raw", action="store_true",
                        help="also time radon.raw.analyze and a standard tokenize pass")
    parser.add_argument("--analysers", help="comma-separated blob analysers to time "
                        "(default: every registered blob analyser)")
    parser.add_argument("--check", action="store_true",
                        help="compare every figure with radon and tokenize instead of timing")
    parser.add_argument("--payloads", metavar="FILE",
                        help="write (first run) or compare (later runs) payload digests")
    args = parser.parse_args(argv)
    names = [name for name, analyser in REGISTRY.items() if analyser.scope == "blob"]
    if args.analysers:
        names = [name for name in names if name in args.analysers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        subprocess.run(["git", "clone", "-q", args.bundle, str(repo)], check=True)
        blobs = python_blobs(repo, args.limit or None)
    if args.check:
        sys.exit(1 if check(blobs) else 0)
    if args.payloads:
        sys.exit(1 if compare_payloads(blobs, names, Path(args.payloads)) else 0)
    best: dict[str, tuple[float, float]] = {}
    parsed = 0
    for _ in range(args.repeat):
        totals, parsed = one_round(blobs, names, args.radon_raw)
        for stage, (wall, cpu) in totals.items():
            old = best.get(stage)
            best[stage] = (min(wall, old[0]), min(cpu, old[1])) if old else (wall, cpu)
    print(f"{len(blobs)} blobs read, {parsed} parsed; ms per parsed blob, best of "
          f"{args.repeat} (wall / CPU)")
    analysers = 0.0, 0.0
    for stage, (wall, cpu) in best.items():
        print(f"  {stage:<20} {wall / parsed * 1000:7.2f}  {cpu / parsed * 1000:7.2f}")
        if stage in ("parse", *names):
            analysers = analysers[0] + wall, analysers[1] + cpu
    print(f"  {'parse + analysers':<20} {analysers[0] / parsed * 1000:7.2f}  "
          f"{analysers[1] / parsed * 1000:7.2f}")


if __name__ == "__main__":
    main()
