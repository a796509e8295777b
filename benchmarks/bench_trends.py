"""Benchmark of metric trends against ``wily build`` on the same repository, side by side.

    python benchmarks/bench_trends.py [--bundle ../shared/repos/pytest-xdist.bundle]
                                      [--wily /work/venvs/wily/bin/wily] [--no-wily]
                                      [--wily-per-rev WALL_MS CPU_MS] [--wily-revisions N]
                                      [--repeat 1] [--check N]

Clones the bundle into a temporary folder, then measures wall-clock and CPU time (this
process and its children, the process pool and git included) of:

- ``wily build`` over the branch's history (every commit, as wily walks it), cold (empty
  cache), then again with nothing new (its warm re-run);
- ``wily build`` over the *tag line*: a second clone whose checkout is a line of commits with
  the trees of the tags, oldest first, so that wily measures exactly the revisions trends
  measure at the tags (wily builds commits, not tags; between two tags it re-analyses the
  files that changed, as it does between commits);
- ``compute_trends`` at every tag (``--trends tags``): cold (empty store), warm (the
  points stored), warm blobs (the blob cache full, no points: the per-revision work alone),
  and after one new commit and tag (incremental: one new blob);
- ``compute_trends`` at every first-parent commit (``--trends all``), cold, warm and warm
  blobs.

Per revision = time / revisions measured: the commits wily built, the distinct commits
trends measured (tags, plus the first-parent line for ``all``). ``--no-wily`` skips the wily
build; ``--wily-per-rev`` then gives its per-revision figures from an earlier run for the
ratios. ``--check N`` compares the duplication of every Nth commit row (and every tag row)
with ``duplication()`` run on that commit's whole tree.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.analysis.duplication import duplication  # noqa: E402
from harness.analysis.git import GitRepo  # noqa: E402
from harness.analysis.sources import decode_source, is_python_path  # noqa: E402
from harness.analysis.trends import compute_trends  # noqa: E402
from harness.store import Store  # noqa: E402

ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "Bench",
       "GIT_AUTHOR_EMAIL": "bench@example.org", "GIT_COMMITTER_NAME": "Bench",
       "GIT_COMMITTER_EMAIL": "bench@example.org"}
T = TypeVar("T")


def cpu_seconds() -> float:
    """User + system time of this process and of its waited-for children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(fn: Callable[[], T]) -> tuple[float, float, T]:
    """(wall seconds, CPU seconds, result) of one call."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    result = fn()
    return time.perf_counter() - wall, cpu_seconds() - cpu, result


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, env=ENV,
                          capture_output=True, text=True).stdout


def wily_build(wily: str, repo: Path, cache: Path, revisions: int) -> int:
    """Run ``wily build`` on ``repo`` with its cache in ``cache``; the revisions it built."""
    proc = subprocess.run([wily, "-p", str(repo), "-c", str(cache), "build",
                           "-n", str(revisions), str(repo)],
                          capture_output=True, text=True, cwd=repo)
    if proc.returncode != 0:
        raise RuntimeError(f"wily build failed: {proc.stderr.strip()[-500:]}")
    found = re.search(r"Found (\d+) revisions", proc.stdout + proc.stderr)
    return int(found.group(1)) if found else 0


def tag_line(repo: Path) -> int:
    """Make ``repo``'s checkout a line of commits whose trees are its tags' trees, oldest tag
    first (what wily must build to give metrics at exactly the tagged revisions, with its
    own incremental analysis between them); returns the commits on the line."""
    tags = git(repo, "for-each-ref", "--sort=creatordate", "--format=%(refname:short)",
               "refs/tags").split()
    parent: list[str] = []
    for tag in tags:
        tree = git(repo, "rev-parse", f"{tag}^{{tree}}").strip()
        parent = ["-p", git(repo, "commit-tree", tree, *parent, "-m", tag).strip()]
    git(repo, "checkout", "-q", "-B", "bench-tag-line", parent[1])
    return len(tags)


def report(label: str, runs: list[tuple[float, float]], revisions: int) -> tuple[float, float]:
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    per = wall / revisions * 1000 if revisions else float("nan")
    cpu_per = cpu / revisions * 1000 if revisions else float("nan")
    print(f"{label:44s} {revisions:5d} rev  {wall:8.2f} s wall {cpu:8.2f} s CPU  "
          f"{per:8.2f} ms/rev wall {cpu_per:8.2f} ms/rev CPU")
    return per, cpu_per


def trends_runs(repo: Path, folder: Path, mode: str, repeat: int):
    """Cold, warm and warm-blob runs of ``compute_trends`` in ``mode``, a fresh store per
    repeat; returns the three lists of (wall, CPU), the revisions and the last rows."""
    cold, warm, blobs, revisions, rows = [], [], [], 0, None
    for i in range(repeat):
        with Store(folder / f"{mode}{i}.db") as store:
            wall, cpu, result = measure(lambda: compute_trends(repo, store=store, mode=mode))
            cold.append((wall, cpu))
            revisions, rows = result.stats.revisions, result
            wall, cpu, _ = measure(lambda: compute_trends(repo, store=store, mode=mode))
            warm.append((wall, cpu))
            store.conn.execute("DELETE FROM trend_points")  # keep the blob cache only
            wall, cpu, _ = measure(lambda: compute_trends(repo, store=store, mode=mode))
            blobs.append((wall, cpu))
    return cold, warm, blobs, revisions, rows


def check_duplication(repo: Path, rows: list[dict]) -> int:
    """Rows whose duplication differs from ``duplication()`` of the commit's whole tree."""
    git_repo, bad = GitRepo(repo), 0
    for row in rows:
        files = [e for e in git_repo.ls_tree(row["commit"])
                 if is_python_path(e.path) and e.mode in ("100644", "100755")]
        data = dict(git_repo.read_blobs({e.sha for e in files}))
        texts = {e.path: decode_source(data[e.sha]).text for e in files}
        result = duplication({path: text for path, text in texts.items() if text is not None})
        bad += row["duplication_percent"] != round(result["percent"], 4)
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default=str(Path(__file__).resolve().parents[2]
                                                 / "shared/repos/pytest-xdist.bundle"))
    parser.add_argument("--wily", default="/work/venvs/wily/bin/wily")
    parser.add_argument("--no-wily", action="store_true", help="skip the wily side")
    parser.add_argument("--wily-revisions", type=int, default=100_000,
                        help="wily build -n (default: the whole history)")
    parser.add_argument("--wily-per-rev", type=float, nargs=2, metavar=("WALL_MS", "CPU_MS"),
                        help="wily's per-revision figures from an earlier run (with --no-wily)")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--check", type=int, default=0, metavar="N",
                        help="check the duplication of every Nth commit row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-trends-") as name:
        folder = Path(name)
        repo = folder / "repo"
        subprocess.run(["git", "clone", "-q", args.bundle, str(repo)], check=True)
        print(f"repository: {args.bundle}: {git(repo, 'rev-list', '--count', 'HEAD').strip()} "
              f"commits, {len(git(repo, 'tag').split())} tags; median of {args.repeat}")
        results = {}
        if not args.no_wily:
            if not Path(args.wily).exists():
                print(f"wily not found at {args.wily}: run python3 -m venv /work/venvs/wily "
                      "&& /work/venvs/wily/bin/pip install wily")
                return 2
            cache = folder / "wily-cache"
            wall, cpu, built = measure(lambda: wily_build(args.wily, repo, cache,
                                                          args.wily_revisions))
            results["wily"] = report("wily build (cold, every commit)", [(wall, cpu)],
                                     built)
            wall2, cpu2, _ = measure(lambda: wily_build(args.wily, repo, cache,
                                                        args.wily_revisions))
            print(f"{'wily build again (nothing new)':44s} {'':9s}  {wall2:8.2f} s wall "
                  f"{cpu2:8.2f} s CPU")
            line = folder / "repo-tag-line"
            subprocess.run(["git", "clone", "-q", args.bundle, str(line)], check=True)
            tag_line(line)
            wall, cpu, built = measure(lambda: wily_build(args.wily, line, folder / "wc-tags",
                                                          args.wily_revisions))
            results["wily tags"] = report("wily build (cold, the tag snapshots only)",
                                          [(wall, cpu)], built)
        elif args.wily_per_rev:
            results["wily"] = tuple(args.wily_per_rev)
            print(f"{'wily build (earlier run, per revision)':44s} {'':9s}  {'':28s}"
                  f"{args.wily_per_rev[0]:8.2f} ms/rev wall {args.wily_per_rev[1]:8.2f} "
                  "ms/rev CPU")
        for mode in ("tags", "all"):
            cold, warm, blobs, revisions, result = trends_runs(repo, folder, mode, args.repeat)
            results[f"{mode} cold"] = report(f"trends --trends {mode} (cold, empty store)",
                                             cold, revisions)
            results[f"{mode} warm"] = report(f"trends --trends {mode} (warm, points stored)",
                                             warm, revisions)
            results[f"{mode} blobs"] = report(f"trends --trends {mode} (warm blobs, no points)",
                                              blobs, revisions)
            if args.check and mode == "all":
                rows = result.commits[::args.check] + result.tags
                print(f"duplication checked on {len(rows)} rows against the whole tree: "
                      f"{check_duplication(repo, rows)} differ")
        with Store(folder / "tags0.db") as store:
            (repo / "bench_new.py").write_text("def new():\n    return 1\n")
            git(repo, "add", "bench_new.py")
            git(repo, "commit", "-q", "-m", "bench: one new commit")
            git(repo, "tag", "bench-new-tag")
            wall, cpu, result = measure(lambda: compute_trends(repo, store=store))
            print(f"{'trends --trends tags after one new tag':44s} "
                  f"{result.stats.points_computed:5d} new  {wall:8.2f} s wall "
                  f"{cpu:8.2f} s CPU  ({result.stats.blobs_computed} blob analysed)")
        if "wily" in results:
            wily_wall, wily_cpu = results["wily"]
            for key in ("tags cold", "tags warm", "tags blobs", "all cold", "all warm",
                        "all blobs"):
                wall, cpu = results[key]
                print(f"speed-up per revision vs wily, {key:10s}: {wily_wall / wall:8.1f}x wall "
                      f"{wily_cpu / cpu:8.1f}x CPU")
        if "wily tags" in results:  # the same revisions on both sides
            wily_wall, wily_cpu = results["wily tags"]
            for key in ("tags cold", "tags warm", "tags blobs"):
                wall, cpu = results[key]
                print(f"speed-up per tag vs wily on the tag line, {key:10s}: "
                      f"{wily_wall / wall:8.1f}x wall {wily_cpu / cpu:8.1f}x CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
