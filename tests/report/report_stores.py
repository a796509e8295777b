"""Real stores for the report tests: a git repository analysed by the real engine, and
conformance runs written through the real Store API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from gitrepo import GitRepoBuilder

from harness.analysis.engine import analyse
from harness.store import Store

HOSTILE = "<script>alert(1)</script>"
QUOTES = "\"'&"
ODD_PATH = "pkg/odd<i>&\"'.py"
ODD_AUTHOR = "Bob O'Neil & \"Co\""  # git drops < and > from names, not quotes or &

CORE = f'''\
"""Core."""
from pkg import util


def tangled(a, b, c):  # line 5
    total = 0
    for i in a:
        if i > 0:
            for j in b:
                if j and c:
                    total += 1
                elif j or c:
                    total -= 1
                else:
                    total += 2
        elif i < -10:
            while total > 0:
                total -= 1
                if total == 5 or c:
                    break
    return util.helper(total)  # TODO: fix {HOSTILE} {QUOTES} #42
'''
CORE_TODO_LINE = 21
CORE_TANGLED_LINE = 5

UTIL = '''\
from pkg import core


def helper(x):
    return x if core else 0
'''

SHAPES = '''\
def describe(shape):  # line 1
    if isinstance(shape, int):
        return "int"
    elif isinstance(shape, float):
        return "float"
    elif isinstance(shape, str):
        return "str"
    elif isinstance(shape, list):
        return "list"
    return "other"
'''

TESTS = '''\
import pytest
from keras import backend as K


@pytest.mark.skipif(K.backend() == "theano", reason="theano has no such op")
def test_op():
    assert True
'''


def build_repo(root: Path) -> GitRepoBuilder:
    """A small repository: an import cycle (core <-> util), a complex function, a TODO with
    hostile text, a type switch, a backend-dependent skip, two authors and two releases."""
    repo = GitRepoBuilder(root)
    repo.write("pkg/__init__.py", "")
    repo.write("pkg/core.py", CORE)
    repo.write("pkg/util.py", UTIL)
    repo.commit("core and util", author="Alice", date="2021-01-01T12:00:00+00:00")
    repo.tag("v0.1")
    repo.write("pkg/shapes.py", SHAPES)
    repo.write("tests/test_backend.py", TESTS)
    repo.write(ODD_PATH, "X = 1  # FIXME: odd file\n")
    repo.commit(f"shapes {HOSTILE}", author=ODD_AUTHOR, date="2021-06-01T12:00:00+00:00")
    repo.tag("v0.2", "release 0.2", date="2021-06-02T12:00:00+00:00")
    return repo


@pytest.fixture(scope="session")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """(store path, analysis document) of the repository of ``build_repo``."""
    base = tmp_path_factory.mktemp("analysed")
    build_repo(base / "repo")
    path = base / "analysis.db"
    with Store(path) as store:
        document = analyse(base / "repo", store=store, jobs=1).document
    return path, document


def result(**changes: Any) -> dict[str, Any]:
    """A conformance result row with defaults, as the plugin records it."""
    row = {"case": "dense_relu", "layer": "Dense", "check": "forward", "backend": "numpy",
           "library": "reference", "dtype": "float32", "device": "cpu", "outcome": "passed",
           "max_abs_err": 1e-7, "max_rel_err": 1e-6, "atol": 1e-5, "rtol": 1e-4,
           "duration_s": 0.25, "message": None}
    row.update(changes)
    return row


def write_conformance(path: Path, results: list[dict[str, Any]],
                      backends: dict[str, str], python: str = "3.11.9") -> int:
    """Record one finished conformance run with ``results`` into the store at ``path``."""
    with Store(path) as store:
        run_id = store.start_run("conformance", {"python": python, "platform": "Linux-test",
                                                 "backends": backends})
        store.record_results(run_id, results)
        store.finish_run(run_id)
    return run_id


#: the numpy job: 2 passed, 1 failed (hostile message), 1 xfailed, 1 skipped
NUMPY_RESULTS = [
    result(),
    result(check="backward", outcome="failed", max_abs_err=3e-2,
           message=f"max abs err 3e-2 > atol 1e-5 {HOSTILE} {QUOTES} | pipe\x1b[31m"),
    result(layer="Conv2D", case="conv_same", check="shape"),
    result(layer="Conv2D", case="conv_same", check="forward", outcome="xfailed",
           message="known: padding differs"),
    result(layer="Conv2D", case="conv_same", check="compiled", outcome="skipped",
           message="no compiler", max_abs_err=None, max_rel_err=None, atol=None, rtol=None),
]
#: the torch job: 1 passed, 1 error, 1 xpassed
TORCH_RESULTS = [
    result(backend="torch"),
    result(backend="torch", check="backward", outcome="error", message="RuntimeError: boom"),
    result(backend="torch", layer="Conv2D", case="conv_same", check="forward",
           outcome="xpassed", device="cuda:0", duration_s=1.5),
]


@pytest.fixture
def two_stores(tmp_path: Path, analysed: tuple[Path, dict[str, Any]]) -> tuple[Path, Path]:
    """Store A: the analysis plus the numpy job (an older run first, which must be ignored);
    store B: the torch job."""
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    a.write_bytes(analysed[0].read_bytes())
    write_conformance(a, [result(outcome="failed", message="stale run")], {"numpy": "1.0"})
    write_conformance(a, NUMPY_RESULTS, {"numpy": "2.1.0", "torch": "unavailable: no torch"})
    write_conformance(b, TORCH_RESULTS, {"torch": "2.13.0"}, python="3.12.1")
    return a, b
