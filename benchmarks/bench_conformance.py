"""Where a backend's conformance wall time goes: backend compute, oracle, harness bookkeeping.

Runs the whole suite in this process (serially, so every second is attributed) with exclusive
timers: time inside a call of the target (every public method of the library adapter, and its
construction, which activates the backend) is *backend compute*; inside the oracle's entry
points, *oracle*; inside the harness's input generation (``data.inputs``, ``weights``,
``mask``, ``cotangent``), bookkeeping even when a target method asks for it (building a layer
draws its sample input and weights). Bookkeeping is everything that is not backend or oracle,
split into the store writes, the check code around the target and the oracle (inputs,
comparisons), and the rest: pytest's session and per-item protocol with the plugin's hooks.
Garbage collection is timed too and shown by the column it interrupted (it stays there).
Goal: bookkeeping <= 10% of wall time.

    python benchmarks/bench_conformance.py [--backend numpy] [--warm] [--floor]

``--warm`` runs the suite twice on one store and reports the second run, whose oracle values
come from the store's cache. ``--floor`` also times the same items with every check's body
empty (each still run, judged and recorded by the plugin): pytest, the plugin and the store
alone, the bookkeeping no change inside a check can remove.
"""

from __future__ import annotations

import argparse
import functools
import gc
import inspect
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.config import Settings
from harness.conformance import checks, data, expected, plugin, results, runner
from harness.conformance.targets import reference
from harness.store import open_store

BUCKETS = ("backend", "oracle", "inputs", "store", "test")
TIMERS = dict.fromkeys(BUCKETS, 0.0)  # wall seconds
CPU = dict.fromkeys(BUCKETS, 0.0)  # CPU seconds of this process
_stack: list[list[Any]] = []  # [bucket, wall and CPU start of its current stretch]


GC: dict[str, float] = {}  # wall seconds of garbage collection, by the column it interrupted
_gc_start: list[float] = [0.0]


def _gc_timer(phase: str, info: dict[str, int]) -> None:
    """gc callback: add each collection's time to the column running when it started (a
    collection frees every generation's garbage, whoever allocated it)."""
    if phase == "start":
        _gc_start[0] = time.perf_counter()
        return
    column = _stack[-1][0] if _stack else "pytest + plugin"
    GC[column] = GC.get(column, 0.0) + time.perf_counter() - _gc_start[0]


def _charge(bucket: str, since: list[Any]) -> tuple[float, float]:
    """Add the time from ``since`` ([bucket, wall, cpu]) to now to ``bucket``; now."""
    wall, cpu = time.perf_counter(), time.process_time()
    TIMERS[bucket] += wall - since[1]
    CPU[bucket] += cpu - since[2]
    return wall, cpu


def timed(bucket: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` so its time lands in ``bucket``, less the time of nested timed calls of
    another bucket (a nested call of the same bucket just continues it)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _stack and _stack[-1][0] == bucket:
            return fn(*args, **kwargs)
        if _stack:  # pause the enclosing bucket
            wall, cpu = _charge(_stack[-1][0], _stack[-1])
        else:
            wall, cpu = time.perf_counter(), time.process_time()
        _stack.append([bucket, wall, cpu])
        try:
            return fn(*args, **kwargs)
        finally:
            wall, cpu = _charge(bucket, _stack.pop())
            if _stack:  # the enclosing bucket goes on from here
                _stack[-1][1:] = [wall, cpu]

    return wrapper


def instrument() -> None:
    """Put the timers around the target, the oracle, input generation, the store and the
    test body."""
    cls = reference.ReferenceTarget
    for name, member in list(vars(cls).items()):
        if (name == "__init__" or not name.startswith("_")) and inspect.isfunction(member):
            setattr(cls, name, timed("backend", member))
    for name in ("forward", "gradients", "output_mask", "trajectory"):
        setattr(expected, name, timed("oracle", getattr(expected, name)))
    for name in ("inputs", "weights", "mask", "cotangent"):
        setattr(data, name, timed("inputs", getattr(data, name)))
    plugin.Recorder.record = timed("store", plugin.Recorder.record)  # type: ignore[method-assign]
    checks.run = timed("test", checks.run)
    checks.Context.close = timed("test", checks.Context.close)  # type: ignore[method-assign]


def _empty_check(ctx: checks.Context) -> checks.CheckResult:
    """A check with an empty body: the plugin still runs and records it as passed."""
    return checks.CheckResult("passed")


def run_suite(backend: str, store: Path, empty_body: bool = False) -> tuple[float, float]:
    """Run the suite once into a new run of ``store``; (wall, CPU) seconds of the session."""
    os.environ.pop(plugin.RUN_ENV, None)  # the plugin set them for the previous run
    os.environ.pop(plugin.STORE_ENV, None)
    # the command line `harness conform --backend B -n 0` runs
    args = runner.pytest_args([backend], Settings(store=str(store)), None, "0", "none")
    for key in BUCKETS:
        TIMERS[key] = CPU[key] = 0.0
    GC.clear()
    expected._cache.clear()  # measure the store's cache, not this process's memory
    data.clear_cache()  # and generate this run's inputs
    plugins: list[Any] = [] if _autoloaded() else [plugin]
    run = checks.run
    if empty_body:
        checks.run = _empty_check
    start, cpu = time.perf_counter(), time.process_time()
    try:
        rc = pytest.main(args, plugins=plugins)
    finally:
        checks.run = run
    if rc not in (0, 1):
        raise SystemExit(f"pytest could not run the suite (exit {int(rc)})")
    return time.perf_counter() - start, time.process_time() - cpu


def outcomes(store: Path) -> str:
    """The outcome counts of the store's latest run, e.g. ``passed=775 skipped=109``."""
    with open_store(store) as opened:
        run = opened.latest_run("conformance")
        frame = opened.load_conformance(run)
    counts = results.summarise(frame.to_dict(orient="records"))
    return " ".join(f"{k}={v}" for k, v in counts.items() if v)


def _autoloaded() -> bool:
    import importlib.metadata

    return any(ep.value == "harness.conformance.plugin"
               for ep in importlib.metadata.entry_points(group="pytest11"))


def split(timers: dict[str, float], total: float) -> list[tuple[str, float]]:
    """(column, seconds) of one run whose whole took ``total`` seconds by the same clock."""
    bookkeeping = total - timers["backend"] - timers["oracle"]
    # the test bucket holds the check code only: the target, oracle and input generation
    # nested in it were paused out of it
    rest = bookkeeping - timers["inputs"] - timers["store"] - timers["test"]
    return [("backend compute", timers["backend"]), ("oracle", timers["oracle"]),
            ("harness bookkeeping", bookkeeping), ("  input generation", timers["inputs"]),
            ("  check code", timers["test"]), ("  store writes", timers["store"]),
            ("  pytest + plugin", rest)]


def report(backend: str, label: str, wall: float, cpu: float) -> None:
    """Print the split of one run, by wall clock and by CPU time."""
    print(f"conformance on {backend} ({label}), serial: wall {wall:.2f} s, CPU {cpu:.2f} s")
    print(f"  {'':20} {'wall':>16}  {'CPU':>16}")
    for (name, seconds), (_, cpu_seconds) in zip(split(TIMERS, wall), split(CPU, cpu),
                                                 strict=True):
        print(f"  {name:20} {seconds:7.2f} s {seconds / wall:6.1%}  "
              f"{cpu_seconds:7.2f} s {cpu_seconds / cpu:6.1%}")
    share = split(TIMERS, wall)[2][1] / wall
    verdict = "meets" if share <= 0.10 else "misses"
    print(f"bookkeeping / wall = {share:.1%} ({verdict} the <= 10% goal); by CPU time "
          f"{split(CPU, cpu)[2][1] / cpu:.1%}")
    print(f"garbage collection {sum(GC.values()):.2f} s wall, within the columns: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(GC.items(), key=lambda kv: -kv[1])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--warm", action="store_true", help="report a second, cached run")
    parser.add_argument("--floor", action="store_true",
                        help="also time the items with an empty test body")
    options = parser.parse_args()
    instrument()
    gc.callbacks.append(_gc_timer)
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.db"
        wall, cpu = run_suite(options.backend, store)
        label = "cold oracle cache"
        if options.warm:
            wall, cpu = run_suite(options.backend, store)
            label = "warm oracle cache"
        report(options.backend, label, wall, cpu)
        print(f"outcomes: {outcomes(store)}")
        if options.floor:
            floor_wall, floor_cpu = run_suite(options.backend, Path(tmp) / "floor.db",
                                              empty_body=True)
            print(f"empty test bodies (pytest + plugin + store): wall {floor_wall:.2f} s, "
                  f"CPU {floor_cpu:.2f} s")


if __name__ == "__main__":
    main()
