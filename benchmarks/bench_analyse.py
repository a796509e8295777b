"""Benchmark of one-revision analysis against git's own time for the same data.

    python benchmarks/bench_analyse.py [--modules 80] [--functions 10] [--jobs 0]
                                       [--repo PATH --rev REV] [--repeat 3]

Generates a synthetic repository (``--modules`` modules of ``--functions`` functions each,
classes, branches, imports between modules and TODOs; the defaults give about 80 modules and
20k SLOC), or uses ``--repo``, then times, each the median of ``--repeat`` runs:

- git floor: ``git ls-tree -r`` + ``git cat-file --batch`` of every Python blob + ``git blame
  --porcelain`` of every file with a TODO: the git work an analysis cannot avoid;
- cold: ``analyse()`` into an empty store, serial (``--jobs 1``) and with the process pool;
- warm: ``analyse()`` again on the same store: everything served from the cache.

History mining is left out (``bench_history.py`` measures it). Prints times and ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.analysis.engine import analyse  # noqa: E402
from harness.store import Store  # noqa: E402


def _function(m: int, f: int) -> str:
    branches = "\n".join(
        f"        if value % {k + 2} == {k}:\n            total += {k}\n"
        f"        elif value > {k * 10} and flag:\n            total -= 1"
        for k in range(f % 4 + 1)
    )
    todo = f"  # TODO: simplify #{m * 100 + f}" if f % 7 == 0 else ""
    return (
        f"def function_{f}(values, flag=False):{todo}\n"
        f'    """Sum some values of module {m}, function {f}."""\n'
        f"    total = 0\n    for value in values:\n{branches}\n"
        f"    try:\n        total = int(total)\n    except ValueError:\n        total = 0\n"
        f"    return total\n"
    )


def _class(m: int, c: int) -> str:
    methods = "\n".join(
        f"    def method_{k}(self, x):\n        if x > {k}:\n            self.count += x\n"
        f"        return self.count + {k}\n"
        for k in range(6)
    )
    return f"class Thing{m}_{c}:\n    def __init__(self):\n        self.count = 0\n\n{methods}\n"


def make_repository(root: Path, modules: int, functions: int) -> Path:
    """A git repository of ``modules`` modules in 4 subpackages; returns its path."""
    root.mkdir(parents=True)
    for m in range(modules):
        package = root / "proj" / f"sub{m % 4}"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
        imports = f"from proj.sub{(m + 1) % 4} import mod{(m + 1) % modules}\n\n\n"
        body = "\n\n".join(_function(m, f) for f in range(functions))
        body += "\n\n" + "\n\n".join(_class(m, c) for c in range(3))
        (package / f"mod{m}.py").write_text(imports + body)
    (root / "proj" / "__init__.py").write_text("")
    env = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "b@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "b@example.com",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "synthetic"]):
        subprocess.run(["git", *args], cwd=root, check=True, env=env)
    return root


def git_floor(repo: Path, rev: str) -> None:
    """The git work of one analysis: list the tree, read the blobs, blame TODO files."""
    listing = subprocess.run(["git", "ls-tree", "-r", rev], cwd=repo, check=True,
                             capture_output=True, text=True).stdout
    blobs = [(line.split()[2], line.split("\t", 1)[1]) for line in listing.splitlines()
             if line.endswith(".py")]
    out = subprocess.run(["git", "cat-file", "--batch"], cwd=repo, check=True,
                         capture_output=True, input="".join(f"{s}\n" for s, _ in blobs).encode()
                         ).stdout
    offset = 0
    for _, path in blobs:
        header_end = out.index(b"\n", offset)
        size = int(out[offset:header_end].split()[2])
        content = out[header_end + 1:header_end + 1 + size]
        offset = header_end + 2 + size
        if b"TODO" in content:
            subprocess.run(["git", "blame", "--porcelain", rev, "--", path], cwd=repo,
                           check=True, capture_output=True)


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` calls of ``action``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=80)
    parser.add_argument("--functions", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--repo")
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo = Path(args.repo) if args.repo else make_repository(
            work / "repo", args.modules, args.functions)
        counter = iter(range(10**6))

        def cold(jobs: int) -> Callable[[], object]:
            def run() -> object:
                with Store(work / f"cold{next(counter)}.db") as store:
                    return analyse(repo, args.rev, history=False, jobs=jobs, store=store)
            return run

        warm_store = Store(work / "warm.db")
        first = analyse(repo, args.rev, history=False, jobs=args.jobs, store=warm_store)
        summary = first.document["summary"]
        floor = timed(lambda: git_floor(repo, args.rev), args.repeat)
        serial = timed(cold(1), args.repeat)
        pooled = timed(cold(args.jobs), args.repeat)
        warm = timed(lambda: analyse(repo, args.rev, history=False, jobs=args.jobs,
                                     store=warm_store), args.repeat)
        warm_store.close()
    print(f"repository: {summary['files']} files, {summary['sloc']} SLOC, "
          f"{summary['functions']} functions, {summary['todos']} TODOs; "
          f"{os.cpu_count()} CPUs, jobs={args.jobs or os.cpu_count()}")
    print(f"git floor        {floor:7.3f} s")
    print(f"cold, serial     {serial:7.3f} s  = {serial / floor:6.1f} x git floor")
    print(f"cold, pool       {pooled:7.3f} s  = {pooled / floor:6.1f} x git floor "
          f"({serial / pooled:.2f} x faster than serial)")
    print(f"warm (cached)    {warm:7.3f} s  = {warm / floor:6.1f} x git floor "
          f"(warm - floor = {warm - floor:+.3f} s)")


if __name__ == "__main__":
    main()
