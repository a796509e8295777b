"""Where a backend's conformance wall time goes: backend compute, oracle, harness bookkeeping.

Runs the whole suite in this process (serially, so every second is attributed), with timers
around the target's methods (the library and backend: building, forward, gradients, saving,
training, compiling) and around the oracle's entry points. Bookkeeping is the rest: pytest,
collection, input generation, comparisons, the store. Goal: bookkeeping <= 10% of wall time.

    python benchmarks/bench_conformance.py [--backend numpy] [--warm]

``--warm`` runs the suite twice on one store and reports the second run, whose oracle values
come from the store's cache.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.conformance import expected, plugin, suite_files
from harness.conformance.targets import reference

TIMERS = {"backend": 0.0, "oracle": 0.0}
_depth = {"backend": 0, "oracle": 0}


def timed(bucket: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap ``fn`` so its time (outermost calls only) lands in ``bucket``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _depth[bucket]:
            return fn(*args, **kwargs)
        _depth[bucket] += 1
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMERS[bucket] += time.perf_counter() - start
            _depth[bucket] -= 1

    return wrapper


def instrument() -> None:
    for name in ("build", "forward", "compiled_forward", "gradients", "from_config", "save",
                 "load", "train", "train_data_parallel", "output_mask", "get_weights",
                 "set_weights"):
        setattr(reference.ReferenceTarget, name,
                timed("backend", getattr(reference.ReferenceTarget, name)))
    for name in ("forward", "gradients", "output_mask"):
        setattr(expected, name, timed("oracle", getattr(expected, name)))


def run_suite(backend: str, store: Path) -> float:
    args = [str(suite_files.suites_dir()), "-c", str(suite_files.suites_dir() / "pytest.ini"),
            "-p", "no:cacheprovider", "-p", "no:terminal", "--backend", backend,
            "--harness-store", str(store)]
    for key in TIMERS:
        TIMERS[key] = 0.0
    expected._cache.clear()  # measure the store's cache, not this process's memory
    start = time.perf_counter()
    rc = pytest.main(args, plugins=[] if _autoloaded() else [plugin])
    if rc not in (0, 1):
        raise SystemExit(f"pytest could not run the suite (exit {int(rc)})")
    return time.perf_counter() - start


def _autoloaded() -> bool:
    import importlib.metadata

    return any(ep.value == "harness.conformance.plugin"
               for ep in importlib.metadata.entry_points(group="pytest11"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--warm", action="store_true", help="report a second, cached run")
    options = parser.parse_args()
    instrument()
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "bench.db"
        wall = run_suite(options.backend, store)
        label = "cold oracle cache"
        if options.warm:
            wall = run_suite(options.backend, store)
            label = "warm oracle cache"
    backend, oracle = TIMERS["backend"], TIMERS["oracle"]
    bookkeeping = wall - backend - oracle
    print(f"conformance on {options.backend} ({label}), serial: wall {wall:.2f} s")
    for name, seconds in (("backend compute", backend), ("oracle", oracle),
                          ("harness bookkeeping", bookkeeping)):
        print(f"  {name:20} {seconds:7.2f} s  {seconds / wall:6.1%}")
    verdict = "meets" if bookkeeping / wall <= 0.10 else "misses"
    print(f"bookkeeping / wall = {bookkeeping / wall:.1%} ({verdict} the <= 10% goal)")


if __name__ == "__main__":
    main()
