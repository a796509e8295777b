"""The engine end to end on a generated repository: CONTRACT keys, exact figures, the cache."""

from __future__ import annotations

import hashlib
import io
import json

import coverage as coverage_py
import pytest
from gitrepo import GitRepoBuilder
from radon.raw import analyze

from harness.analysis.engine import analyse
from harness.analysis.registry import REGISTRY, _harness_sources, select
from harness.cli import main
from harness.errors import UsageError
from harness.store import Store, load_analysis, load_analysis_frame

CORE = '''\
"""Core."""


def work(items):
    total = 0
    for item in items:  # TODO: vectorise #12
        if item > 0:
            total += item
    return total


MESSAGE = "TODO: not a todo, a string"
'''
LATER = '''

def later():  # TODO(carol): tidy
    return MESSAGE
'''
SHAPES = "class Square:\n    def area(self):\n        return self.side ** 2\n"
LATIN = "# -*- coding: latin-1 -*-\n# HACK caf\xe9 workaround\nNAME = 'caf\xe9'\n"

CONTRACT_KEYS = {
    "": {"schema", "repo", "rev", "analysed_at", "summary", "todos", "functions", "classes",
         "modules", "hotspots", "history", "churn", "coverage", "debt", "skipped"},
    "summary": {"files", "sloc", "todos", "functions", "mean_cc", "mean_mi"},
    "todos": {"path", "line", "marker", "text", "author", "author_date", "age_days", "issue"},
    "functions": {"path", "qualname", "lineno", "endline", "cc", "cognitive"},
    "classes": {"path", "name", "lineno", "loc", "methods", "wmc", "lcom4", "god_class"},
    "modules": {"path", "module", "sloc", "mi", "ca", "ce", "instability"},
    "debt": {"minutes", "days", "rating", "by_severity"},
    "history": {"commits", "merges", "authors", "first_commit", "releases", "integrators"},
    "churn": {"path", "commits", "added", "deleted", "authors"},
    "skipped": {"path", "reason"},
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """Five commits by three authors: a branch with Python 2, latin-1, binary and broken
    files merged into main, a tag on the merge, one commit after it."""
    r = GitRepoBuilder(tmp_path_factory.mktemp("analysed") / "repo")
    r.write("pkg/__init__.py", "")
    r.write("pkg/core.py", CORE)
    r.write("README.md", "# TODO in markdown is not Python\n")
    r.commit("core", author="Alice", date="2020-01-01T12:00:00+00:00")
    r.git("checkout", "-q", "-b", "feature")
    r.write("pkg/legacy.py", '# FIXME GH-7 port to python 3\nprint "hello"\n')
    r.write("pkg/latin.py", LATIN.encode("latin-1"))
    r.write("pkg/blob.py", b"\x00\x01binary")
    r.write("pkg/broken.py", "# XXX before the error\ndef f(:\n    pass\n")
    r.write("data.bin", b"\x00\xff" * 10)
    r.commit("legacy files", author="Bob", date="2020-03-01T08:00:00+01:00")
    r.git("checkout", "-q", "main")
    r.write("pkg/shapes.py", SHAPES)
    r.commit("shapes", author="Carol", date="2020-02-01T00:00:00+00:00")
    r.merge("feature", author="Alice", date="2020-04-01T00:00:00+00:00")
    r.tag("v1.0", message="first release", date="2020-04-01T00:00:00+00:00")
    r.write("pkg/core.py", CORE + LATER)
    r.commit("later", author="Carol", date="2020-05-01T00:00:00+00:00")
    return r


@pytest.fixture(scope="module")
def result(repo, tmp_path_factory):
    """``harness analyse`` through the command line, with history."""
    out = tmp_path_factory.mktemp("out")
    code = main([
        "analyse", str(repo.root), "--json", str(out / "a.json"), "--store", str(out / "h.db"),
        "--jobs", "1",
    ])
    assert code == 0
    return json.loads((out / "a.json").read_text())


def test_every_contract_key_is_present(result):
    assert CONTRACT_KEYS[""] <= set(result)
    for section, keys in CONTRACT_KEYS.items():
        if not section:
            continue
        value = result[section]
        rows = value if isinstance(value, list) else [value]
        assert rows, section
        for row in rows:
            assert keys <= set(row), (section, keys - set(row))
    assert result["schema"] == "harness.analysis/1"
    assert result["coverage"] is None  # no --coverage given


def test_rev_is_the_full_head_sha_and_paths_are_relative(repo, result):
    assert result["rev"] == repo.head()
    paths = [row["path"] for key in ("todos", "functions", "modules", "skipped")
             for row in result[key]]
    assert paths and all(not p.startswith("/") and "\\" not in p for p in paths)


def test_todos_have_blame_ages_and_issues(result):
    rows = [(t["path"], t["line"], t["marker"], t["author"], t["author_date"], t["age_days"],
             t["issue"]) for t in result["todos"]]
    # HEAD's commit date is 2020-05-01T00:00Z
    assert rows == [
        ("pkg/broken.py", 1, "XXX", "Bob", "2020-03-01T08:00:00+01:00", 60, None),
        ("pkg/core.py", 6, "TODO", "Alice", "2020-01-01T12:00:00+00:00", 120, "#12"),
        ("pkg/core.py", 15, "TODO", "Carol", "2020-05-01T00:00:00+00:00", 0, None),
        ("pkg/latin.py", 2, "HACK", "Bob", "2020-03-01T08:00:00+01:00", 60, None),
        ("pkg/legacy.py", 1, "FIXME", "Bob", "2020-03-01T08:00:00+01:00", 60, "GH-7"),
    ]
    assert result["todos"][3]["text"] == "HACK café workaround"
    assert result["summary"]["todos"] == 5


def test_undecodable_and_unparseable_files_are_skipped_with_reasons(result):
    reasons = {row["path"]: row["reason"] for row in result["skipped"]}
    assert set(reasons) == {"pkg/blob.py", "pkg/broken.py", "pkg/legacy.py"}
    assert reasons["pkg/blob.py"] == "binary file (contains NUL bytes)"
    assert reasons["pkg/broken.py"].startswith("cannot parse: line 2: ")
    assert reasons["pkg/legacy.py"].startswith("cannot parse: line 2: ")


def test_functions_classes_modules_and_summary(result):
    functions = {(f["path"], f["qualname"]): f for f in result["functions"]}
    assert set(functions) == {("pkg/core.py", "work"), ("pkg/core.py", "later"),
                              ("pkg/shapes.py", "Square.area")}
    work = functions[("pkg/core.py", "work")]
    assert (work["lineno"], work["endline"], work["cc"], work["cognitive"]) == (4, 9, 3, 3)
    assert [(c["path"], c["name"], c["methods"]) for c in result["classes"]] == [
        ("pkg/shapes.py", "Square", 1)]
    modules = {m["path"]: m for m in result["modules"]}
    assert set(modules) == {"pkg/__init__.py", "pkg/core.py", "pkg/latin.py", "pkg/shapes.py"}
    assert modules["pkg/core.py"]["module"] == "pkg.core"
    sources = {"pkg/__init__.py": "", "pkg/core.py": CORE + LATER, "pkg/latin.py": LATIN,
               "pkg/shapes.py": SHAPES}
    assert {p: m["sloc"] for p, m in modules.items()} == {
        p: analyze(s).sloc for p, s in sources.items()}
    summary = result["summary"]
    assert summary["files"] == 6  # seven .py files, the binary one cannot be read
    assert summary["sloc"] == sum(analyze(s).sloc for s in sources.values())
    assert summary["functions"] == 3
    assert summary["mean_cc"] == round((3 + 1 + 1) / 3, 4)
    assert summary["mean_mi"] == round(sum(m["mi"] for m in modules.values()) / 4, 4)


def test_history_and_debt_are_joined(result):
    history = result["history"]
    assert (history["commits"], history["merges"], history["authors"]) == (5, 1, 3)
    assert [r["tag"] for r in history["releases"]] == ["v1.0"]
    churn = {row["path"]: row for row in result["churn"]}
    assert churn["pkg/core.py"]["commits"] == 2
    debt = result["debt"]
    # 4 todo markers of which TODO twice (10 each), FIXME/XXX/HACK 15 each; two files that
    # cannot be parsed, 30 each: nothing else in this small repository is worth a rule
    assert debt["by_rule"] == {"fixme": 45, "todo": 20, "unparseable-file": 60}
    assert result["summary"]["sloc"] == 13
    assert debt["minutes"] == 125 and debt["rating"] == "D"  # 125 / (13 x 30) = 0.32


def test_second_run_recomputes_nothing(repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        first = analyse(repo.root, store=store, history=False, jobs=1)
        second = analyse(repo.root, store=store, history=False, jobs=1)
        saved = load_analysis(store)
    assert (first.stats.blobs, first.stats.blobs_computed) == (7, 7)
    assert (second.stats.blobs_computed, second.stats.blobs_cached) == (0, 7)
    assert first.stats.blamed_files == 4 and second.stats.blamed_files == 0
    assert second.stats.blame_cached == 4  # files with TODOs
    assert second.stats.tree_computed == [] and len(second.stats.tree_cached) == 3
    strip = lambda d: {k: v for k, v in d.items() if k != "analysed_at"}  # noqa: E731
    assert strip(first.document) == strip(second.document) == strip(saved)


def test_a_later_revision_computes_only_the_changed_blob(repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        tagged = analyse(repo.root, "v1.0", store=store, history=False, jobs=1)
        head = analyse(repo.root, "HEAD", store=store, history=False, jobs=1)
    assert tagged.document["rev"] == repo.git("rev-parse", "v1.0^{commit}")
    assert [(t["path"], t["line"]) for t in tagged.document["todos"]][1:3] == [
        ("pkg/core.py", 6), ("pkg/latin.py", 2)]
    assert head.stats.blobs_computed == 1  # only pkg/core.py changed
    # blame is per commit: every file with TODOs is blamed again at the new commit
    assert head.stats.blamed_files == 4


def test_bare_clone_gives_the_same_document(repo, result, tmp_path):
    bare = repo.clone(tmp_path / "bare.git", "--bare")
    with Store(tmp_path / "h.db") as store:
        document = analyse(bare, store=store, history=False, jobs=1).document
    for key in ("todos", "functions", "classes", "modules", "skipped", "summary"):
        assert document[key] == result[key], key


def test_pool_and_serial_runs_agree(tmp_path):
    r = GitRepoBuilder(tmp_path / "many")
    for i in range(24):
        branches = "\n".join(f"    if x == {k}:\n        return {k}" for k in range(i % 5))
        r.write(f"m{i:02d}.py", f"def f{i}(x):  # TODO {i}\n{branches}\n    return -1\n")
    r.commit("many")
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        pooled = analyse(r.root, store=a, history=False, jobs=2)
        serial = analyse(r.root, store=b, history=False, jobs=1)
    assert pooled.stats.blobs_computed == 24
    assert pooled.document["functions"] == serial.document["functions"]
    assert [f["cc"] for f in pooled.document["functions"]] == [1 + i % 5 for i in range(24)]
    assert len(pooled.document["todos"]) == 24


def test_coverage_file_is_joined_per_component(repo, tmp_path):
    checkout = tmp_path / "ci" / "repo"
    (checkout / "pkg").mkdir(parents=True)
    (checkout / "pkg" / "core.py").write_text(CORE + LATER)
    data = coverage_py.CoverageData(basename=str(tmp_path / ".coverage"))
    data.add_lines({str(checkout / "pkg" / "core.py"): [4, 5, 6, 9, 12, 15]})
    data.write()
    with Store(tmp_path / "h.db") as store:
        doc = analyse(repo.root, store=store, history=False, jobs=1,
                      coverage=str(tmp_path / ".coverage")).document
    cov = coverage_py.Coverage(data_file=str(tmp_path / ".coverage"))
    cov.load()
    expected = round(cov.report(file=io.StringIO()), 2)
    # statements 4, 5, 6, 7, 8, 9, 12, 15, 16: line 7 and 8 (the loop body) and 16 never ran
    assert doc["coverage"]["percent"] == expected == round(100 * 6 / 9, 2)
    assert doc["coverage"]["by_component"] == {"pkg": expected}
    assert doc["coverage"]["untested"] == []


def test_usage_errors_exit_2_with_one_line(repo, tmp_path, capsys):
    store = str(tmp_path / "h.db")
    cases = [
        (["analyse", str(repo.root), "--rev", "no-such-rev"], "unknown revision"),
        (["analyse", str(tmp_path / "missing")], "no such directory"),
        (["analyse", str(tmp_path)], "not a git repository"),
        (["analyse", str(repo.root), "--analysers", "todos,bogus"], "unknown analyser"),
        (["analyse", str(repo.root), "--coverage", str(tmp_path / "nope")], "not found"),
    ]
    for argv, message in cases:
        assert main([*argv, "--store", store]) == 2
        err = capsys.readouterr().err
        assert err.startswith("harness: error: ") and message in err
        assert err.count("\n") == 1


def test_selected_analysers_only(repo, tmp_path):
    with Store(tmp_path / "h.db") as store:
        doc = analyse(repo.root, store=store, analysers=["todos"], jobs=1).document
    assert len(doc["todos"]) == 5 and doc["functions"] == [] and doc["history"] is None
    assert doc["debt"] is None and doc["summary"]["files"] == 6


def test_registry_orders_dependencies_and_puts_debt_last():
    names = [a.name for a in select(["debt", "hotspots"])]
    assert names == ["classes", "modules", "hotspots", "debt"]
    everything = [a.name for a in select(None, history=False)]
    assert everything[-1] == "debt" and "history" not in everything
    assert set(everything) == set(REGISTRY) - {"history", "trends"}
    with pytest.raises(UsageError):
        select(["nope"])


SKIPPING_TEST = '''\
import pytest
from keras import backend as K


@pytest.mark.skipif(K.backend() == "jax", reason="no jax")
def test_a():
    pass
'''


def test_identical_blobs_at_two_paths_keep_their_own_paths(tmp_path):
    r = GitRepoBuilder(tmp_path / "twins")
    r.write("tests/test_one.py", SKIPPING_TEST)
    r.write("tests/test_two.py", SKIPPING_TEST)
    r.commit("twins")
    with Store(tmp_path / "h.db") as store:
        first = analyse(r.root, store=store, history=False, jobs=1)
        second = analyse(r.root, store=store, history=False, jobs=1)
        frame = load_analysis_frame(store, "test_skips")
    assert first.stats.blobs == 1 and second.stats.blobs_computed == 0
    for doc in (first.document, second.document):
        rows = [(s["path"], s["test"], s["line"], s["backends"]) for s in doc["test_skips"]]
        assert rows == [("tests/test_one.py", "test_a", 5, ["jax"]),
                        ("tests/test_two.py", "test_a", 5, ["jax"])]
    assert list(frame["path"]) == ["tests/test_one.py", "tests/test_two.py"]


def test_analyser_versions_follow_the_helpers_they_import():
    sources = _harness_sources("harness.analysis.todos")
    assert {"harness.analysis.todos", "harness.analysis.git"} <= set(sources)
    alone = hashlib.sha1(b"harness.analysis.todos\0" + sources["harness.analysis.todos"])
    assert REGISTRY["todos"].version != alone.hexdigest()[:16]
    assert REGISTRY["complexity"].version != REGISTRY["cognitive"].version


def test_runs_are_recorded_finished_or_interrupted(repo, tmp_path):
    junk = tmp_path / "junk.cov"
    junk.write_text("not coverage")
    with Store(tmp_path / "h.db") as store:
        done = analyse(repo.root, store=store, history=False, analysers=["todos"], jobs=1)
        with pytest.raises(UsageError, match="neither a coverage.py data file"):
            analyse(repo.root, store=store, history=False, jobs=1, coverage=str(junk))
        failed = store.latest_run("analysis")
        assert store.run_info(done.run_id)["status"] == "finished"
        assert failed != done.run_id and store.run_info(failed)["status"] == "interrupted"
        assert load_analysis(store)["rev"] == repo.head()  # only the finished run has one
        assert load_analysis(store, run=failed) is None


def test_analyse_blob_restores_the_collector_state():
    import gc

    from harness.analysis.engine import analyse_blob

    names = ["todos", "complexity", "cognitive", "classes"]
    source = b"class A:\n    def f(self):\n        return self.x  # TODO: y\n"
    assert gc.isenabled()
    payloads = analyse_blob("a.py", source, names)
    assert gc.isenabled()  # switched off only while the blob is analysed
    assert payloads["todos"]["result"][0]["marker"] == "TODO"
    assert payloads["classes"]["result"][0]["methods"] == 1
    gc.disable()
    try:
        assert analyse_blob("a.py", source, names) == payloads
        assert not gc.isenabled()  # a caller's choice is kept
    finally:
        gc.enable()
