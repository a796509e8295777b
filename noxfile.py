"""nox sessions: tests, conformance per backend, analyse, report, gate, lint, bench.

Each conformance session writes its own store under .harness/stores/; `harness report`
merges them into one matrix.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"
MODERN_BACKENDS = ["numpy", "tensorflow", "jax", "torch", "pytensor"]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The harness's own tests (unit + end-to-end on generated git repositories)."""
    session.install("-e", ".[dev]")
    session.run("pytest", "-n", "auto", *session.posargs)


@nox.session(python=PYTHON)
@nox.parametrize("backend", MODERN_BACKENDS)
def conformance(session: nox.Session, backend: str) -> None:
    """The conformance suite of the reference library on one backend."""
    extra = "" if backend == "numpy" else f"[{backend}]"
    session.install("-e", f".{extra}")
    session.run("harness", "conform", "--backend", backend,
                "--store", f".harness/stores/{backend}.db",
                "--json", f"reports/conformance-{backend}.json", *session.posargs)


@nox.session(python=PYTHON, name="conformance_theano")
def conformance_theano(session: nox.Session) -> None:
    """Theano 1.0.5 in its own environment (numpy<1.24, scipy<1.16); its store merges in."""
    pins = ["numpy==1.23.5", "scipy<1.16", "pandas<2.3"]  # what Theano 1.0.5 runs on
    constraints = Path(session.create_tmp()) / "theano-constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    session.install(*pins, "theano==1.0.5")
    session.install("-c", str(constraints), "-e", ".")
    session.run("python", "-c", "import numpy; assert numpy.__version__ == '1.23.5'")
    # One process: Theano's compile directory has one lock, so with several workers a check's
    # time (and its hang timeout) included the other workers' C compilations (a trivial
    # shape check once waited 120 s behind a conv compile and was recorded as hung).
    session.run("harness", "conform", "--backend", "theano", "--jobs", "0",
                "--store", ".harness/stores/theano.db",
                "--json", "reports/conformance-theano.json", *session.posargs,
                env={"THEANO_FLAGS": f"blas.ldflags=,base_compiledir={session.create_tmp()}"})


@nox.session(python=PYTHON)
def analyse(session: nox.Session) -> None:
    """Mine this repository (or the path given after --)."""
    session.install("-e", ".")
    session.run("harness", "analyse", *(session.posargs or ["."]),
                "--json", "reports/analysis.json")


@nox.session(python=PYTHON)
def report(session: nox.Session) -> None:
    """Compile reports/ from the main store and every per-backend store, merged."""
    session.install("-e", ".")
    stores = [".harness/harness.db", *sorted(glob.glob(".harness/stores/*.db"))]
    args = [arg for store in stores if os.path.exists(store)
            for arg in ("--store", store)]
    session.run("harness", "report", "--out", "reports", *args, *session.posargs)


@nox.session(python=PYTHON)
def gate(session: nox.Session) -> None:
    """Decide the current branch against origin/main (or the base given after --)."""
    session.install("-e", ".")
    base = session.posargs[0] if session.posargs else "origin/main"
    session.run("harness", "gate", "--base", base)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff, import-linter (dependency direction) and mypy on harness/."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", "harness", "tests", "suites", "benchmarks")
    session.run("lint-imports")
    session.run("mypy", "harness")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks, reported as ratios against a baseline run side by side."""
    session.install("-e", ".[dev]")
    for script in ("bench_analyse.py", "bench_history.py"):
        session.run("python", f"benchmarks/{script}", *session.posargs)
