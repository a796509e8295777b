"""Benchmark of history mining against its floor, ``git log --numstat --no-merges``.

    python benchmarks/bench_history.py [--bundle ../shared/repos/pytest-xdist.bundle]
                                       [--synthetic N] [--repeat 5]

Clones the bundle (or generates a synthetic repository of N commits with ``git fast-import``)
into a temporary folder, then times, each as the median of ``--repeat`` runs:

- floor: ``git log --numstat --no-merges`` over the whole history, output discarded;
- cold: ``mine()`` into an empty store;
- warm: ``mine()`` again on the same store, nothing new;
- incremental: ``mine()`` after one new commit.

It prints the times, the ratios to the floor, and the peak memory of this process.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.analysis.history import mine  # noqa: E402
from harness.store import Store  # noqa: E402

ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "Bench",
       "GIT_AUTHOR_EMAIL": "bench@example.org", "GIT_COMMITTER_NAME": "Bench",
       "GIT_COMMITTER_EMAIL": "bench@example.org"}


def git(repo: Path, *args: str, stdin: bytes | None = None) -> None:
    subprocess.run(["git", "-C", str(repo), *args], input=stdin, check=True, env=ENV,
                   stdout=subprocess.DEVNULL)


def synthetic(repo: Path, commits: int, files: int = 2000, seed: int = 6) -> None:
    """A repository of ``commits`` commits by 200 authors editing ``files`` files, with a
    tag every 500 commits, written in one ``git fast-import`` stream."""
    rng = random.Random(seed)
    git(repo, "init", "-q", "-b", "main")
    contents = {f"pkg{i % 40}/mod{i}.py": [f"x{i} = 0\n"] for i in range(files)}
    paths = sorted(contents)
    proc = subprocess.Popen(["git", "-C", str(repo), "fast-import", "--quiet"],
                            stdin=subprocess.PIPE, env=ENV)
    assert proc.stdin is not None
    for n in range(commits):
        who = rng.randrange(200)
        stamp = 1_500_000_000 + n * 600
        touched = rng.sample(paths, rng.choice((1, 1, 2, 3, 5))) if n else contents
        out = [f"commit refs/heads/main\nmark :{n + 1}\n"
               f"author Dev {who} <dev{who}@example.org> {stamp} +0000\n"
               f"committer Dev {who} <dev{who}@example.org> {stamp} +0000\n"
               f"data <<EOM\nchange {n}\nEOM\n"]
        if n:
            out.append(f"from :{n}\n")
        for path in touched:
            lines = contents[path]
            lines.append(f"y{n} = {rng.random()}\n")
            if len(lines) > 60:
                del lines[rng.randrange(len(lines))]
            body = "".join(lines)
            out.append(f"M 100644 inline {path}\ndata {len(body)}\n{body}\n")
        if n and n % 500 == 0:
            out.append(f"reset refs/tags/v{n // 500}.0\nfrom :{n + 1}\n\n")
        proc.stdin.write("".join(out).encode())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("git fast-import failed")
    git(repo, "reset", "-q", "--hard", "main")


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def floor(repo: Path) -> None:
    subprocess.run(["git", "-C", str(repo), "log", "--numstat", "--no-merges"], check=True,
                   stdout=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(Path(__file__).resolve().parents[2]
                                                 / "shared/repos/pytest-xdist.bundle"))
    parser.add_argument("--synthetic", type=int, metavar="N", help="generate N commits instead")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-history-") as folder:
        repo = Path(folder, "repo")
        if args.synthetic:
            repo.mkdir()
            synthetic(repo, args.synthetic)
            source = f"synthetic, {args.synthetic} commits"
        else:
            subprocess.run(["git", "clone", "-q", args.bundle, str(repo)], check=True)
            source = args.bundle
        floor(repo)  # warm the page cache for every measurement alike
        base = statistics.median(timed(lambda: floor(repo)) for _ in range(args.repeat))
        cold, warm, incremental = [], [], []
        for i in range(args.repeat):
            with Store(Path(folder, f"store{i}.db")) as store:
                cold.append(timed(lambda: mine(repo, store=store)))
                warm.append(timed(lambda: mine(repo, store=store)))
                Path(repo, "bench.txt").write_text(f"{i}\n")
                git(repo, "add", "bench.txt")
                git(repo, "commit", "-q", "-m", f"bench {i}")
                incremental.append(timed(lambda: mine(repo, store=store)))
        commits = mine(repo)["history"]["commits"]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"repository: {source} ({commits} commits); median of {args.repeat} runs")
    print(f"{'git log --numstat --no-merges':32s} {base:8.3f} s")
    for label, runs in (("cold (empty store)", cold), ("warm (nothing new)", warm),
                        ("incremental (one new commit)", incremental)):
        value = statistics.median(runs)
        print(f"{label:32s} {value:8.3f} s   {value / base:6.2f}x git log")
    print(f"peak memory of this process      {peak_mib:8.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
