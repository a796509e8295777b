"""``harness gate`` end to end on generated git repositories and real stores.

The repository has a base commit, a main branch that moved on after the pull requests branched
(so the merge base differs from the base's tip), and one branch per scenario.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gitrepo import GitRepoBuilder, git

from harness.analysis.git import GitRepo
from harness.cli import main
from harness.config import Settings, load_settings
from harness.errors import UsageError
from harness.gate import evaluate
from harness.gate.conformance import compare, load_baseline
from harness.gate.diff import changed_lines, parse_diff, unquote_path
from harness.gate.markdown import code, render, text
from harness.gate.model import FAIL, GOOD, WARN
from harness.gate.rules import debt_section
from harness.store import Store, set_run_commit

DATE = "2021-03-04T05:06:07+00:00"


# --- repository helpers (the builder is tests/gitrepo.py) -----------------------------------
def commit(repo: GitRepoBuilder, message: str, files: dict[str, str] | None = None) -> str:
    repo.write_files(files or {})
    return repo.commit(message)


def branch(repo: GitRepoBuilder, name: str, start: str, files: dict[str, str],
           renames: dict[str, str] | None = None) -> None:
    repo.git("checkout", "-q", "-b", name, start)
    for old, new in (renames or {}).items():
        repo.git("mv", old, new)
    commit(repo, name, files)


# --- sources -------------------------------------------------------------------------------
def tangled(extra_branch: bool = False, first: str = "one") -> str:
    """cc 12 (11 ifs), cognitive 11; ``extra_branch`` adds one more if: cc 13, cognitive 12."""
    lines = ["def tangled(x):"]
    names = [first, "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
             "eleven"] + (["twelve"] if extra_branch else [])
    for number, name in enumerate(names, start=1):
        lines += [f"    if x == {number}:", f"        return {name!r}"]
    return "\n".join(lines + ["    return 'many'"]) + "\n"


KIND_OF = '''

def kind_of(value):
    if isinstance(value, int):
        return "int"
    elif isinstance(value, str):
        return "str"
    elif isinstance(value, list):
        return "list"
    elif isinstance(value, dict):
        return "dict"
    return "other"
'''
HELPER = '''

def helper(x):
    # TODO: old debt
    return x + 1
'''
HELPER_REWRITTEN = '''

def helper(x):
    if x:
        # TODO: old debt
        return x + 1
    return 0


def appended(x):
    return x * 2
'''


def old_py(**tangled_options) -> str:
    return '"""Old code."""\n\n\n' + tangled(**tangled_options) + KIND_OF + HELPER


BASE = {
    "pkg/__init__.py": "",
    "pkg/old.py": old_py(),
    "pkg/a.py": "from pkg import b\n\n\ndef use():\n    return b.VALUE\n",
    "pkg/b.py": '"""B."""\n\nVALUE = 1\n',
    "pkg/c.py": "from pkg import d\n",
    "pkg/d.py": "from pkg import c\n",
}
# cc 11 (for, if, if, for, if + and/or 2, elif, while, elif); cognitive 24: for 1, if 2,
# if 3, for 4, if 5, and/or 2, elif 1, else 1, while 4 (nested in the else), elif 1.
COMPLEX_NEW = '''"""New code."""


def complex_new(items):
    total = 0
    for item in items:
        if item > 0:
            if item % 2:
                for k in range(item):
                    if k > 3 and k < 10 or k == 12:
                        total += k
                    elif k == 1:
                        total -= 1
            else:
                while total > 100:
                    total //= 2
        elif item < -10:
            total = 0
    return total


def simple_new(x):
    # TODO: make this faster
    return x + 1


def linked(x):
    # FIXME: handle empty input #12
    return x


def describe(value):
    if isinstance(value, int):
        return "int"
    elif isinstance(value, str):
        return "str"
    elif isinstance(value, list):
        return "list"
    elif isinstance(value, dict):
        return "dict"
    return "other"
'''


def god_class() -> str:
    """12 methods of cc 4 (WMC 48), no shared state (TCC 0), 12 foreign reads: a god class."""
    lines = ["class Manager:"]
    for m in range(12):
        lines.append(f"    def step{m}(self, other):")
        for i in range(3):
            lines += [f"        if other.field{m} > {i}:", f"            self.own{m} = {i}"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    built = GitRepoBuilder(tmp_path_factory.mktemp("gated"), date=DATE)
    base = commit(built, "base", BASE)
    branch(built, "feature", base, {
        "pkg/new.py": COMPLEX_NEW,
        "pkg/manager.py": god_class(),
        "pkg/old.py": '"""Old code."""\n\n\n' + tangled() + KIND_OF + HELPER_REWRITTEN,
        "pkg/b.py": '"""B."""\n\nfrom pkg import a\n\nVALUE = 1\n',
    })
    branch(built, "clean", base, {
        "pkg/clean.py": "def tidy(x):\n    # TODO: later, see GH-7\n    return x\n"})
    branch(built, "touch", base, {"pkg/old.py": old_py(first="uno")})
    branch(built, "worse", base, {"pkg/old.py": old_py(extra_branch=True)})
    branch(built, "moved", base, {"pkg/legacy.py": old_py(first="uno")},
           renames={"pkg/old.py": "pkg/legacy.py"})
    built.git("checkout", "-q", "--orphan", "lonely")
    commit(built, "unrelated history", {"other.py": "X = 1\n"})
    built.git("checkout", "-q", "main")
    # main moves on: a simpler tangled. Diffing against main's tip instead of the merge base
    # would make every branch look like it brought the complex version back.
    commit(built, "simplify", {"pkg/old.py": '"""Old code."""\n\n\ndef tangled(x):\n'
                                             '    return x\n' + KIND_OF + HELPER})
    return built.root


def gate(repo: Path, head: str, tmp_path: Path, **options) -> tuple[object, str]:
    settings = options.pop("settings", Settings(jobs=1))
    with Store(tmp_path / "gate.db") as store:
        verdict = evaluate(repo, "main", head, store=store, settings=settings, **options)
    return verdict, render(verdict)


def rows(verdict, rule: str) -> list:
    (section,) = [s for s in verdict.sections if s.rule == rule]
    return section.rows


# --- quality rules ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def feature(repo, tmp_path_factory):
    return gate(repo, "feature", tmp_path_factory.mktemp("store"))


def test_feature_fails_on_complex_new_function_only(feature):
    verdict, _ = feature
    found = rows(verdict, "complexity")
    # simple_new, describe (cc 5), appended, helper and the untouched tangled are not listed
    assert [(f.level, f.kind, f.where, f.symbol) for f in found] == [
        (FAIL, "complex", "pkg/new.py:4", "complex_new")]
    assert found[0].evidence == "cc 11 > 10, cognitive 24 > 15"


def test_feature_todos_need_an_issue(feature):
    verdict, _ = feature
    found = [(f.level, f.where, f.symbol, f.evidence) for f in rows(verdict, "todos")]
    # 'old debt' was re-indented (an added line) but existed at base: not new
    assert found == [
        (FAIL, "pkg/new.py:23", "TODO", "TODO: make this faster"),
        (GOOD, "pkg/new.py:28", "FIXME", "issue #12: FIXME: handle empty input #12"),
    ]


def test_feature_new_hotspots_only(feature):
    verdict, _ = feature
    found = [(f.kind, f.where, f.symbol) for f in rows(verdict, "design")]
    # kind_of's type switch is at base already; describe's and the god class are new
    assert found == [("god-class", "pkg/manager.py:1", "Manager"),
                     ("type-switch", "pkg/new.py:33", "describe")]
    assert all(f.level == FAIL for f in rows(verdict, "design"))
    assert rows(verdict, "design")[0].evidence == (
        "SRP score 48; wmc=48, tcc=0.0, atfd=12, lcom4=12")


def test_feature_new_import_cycle_at_the_added_import(feature):
    verdict, _ = feature
    (cycle,) = rows(verdict, "cycles")  # pkg.c <-> pkg.d exists at base
    assert (cycle.level, cycle.where, cycle.symbol) == (FAIL, "pkg/b.py:3", "pkg.b")
    assert "pkg.a ↔ pkg.b" in cycle.evidence and "imports pkg.a here" in cycle.evidence


def test_feature_markdown(feature, repo):
    verdict, markdown = feature
    assert not verdict.passed
    lines = markdown.splitlines()
    assert lines[0] == "# ❌ Gate: fail"
    merge_base = git(repo, "merge-base", "main", "feature")
    assert merge_base != git(repo, "rev-parse", "main")
    assert f"(`git merge-base main feature` = `{merge_base[:12]}`, not the base's tip)" in markdown
    assert "| Complexity of new and changed functions | ❌ fail | 1 | 0 | 0 |" in lines
    assert "| New TODO comments | ❌ fail | 1 | 0 | 1 |" in lines
    assert "| Conformance | ✅ pass | 0 | 0 | 0 |" in lines
    assert "no conformance results in the store: nothing to compare" in lines
    assert ("| ❌ | complex | `pkg/new.py:4` | `complex_new` | cc 11 > 10, cognitive 24 > 15 |"
            in lines)
    assert "| ❌ | no issue | `pkg/new.py:23` | `TODO` | TODO: make this faster |" in lines


def test_clean_branch_passes_against_the_merge_base(repo, tmp_path):
    verdict, markdown = gate(repo, "clean", tmp_path)
    assert verdict.passed, markdown
    assert markdown.startswith("# ✅ Gate: pass\n")
    assert [(f.level, f.evidence) for f in rows(verdict, "todos")] == [
        (GOOD, "issue GH-7: TODO: later, see GH-7")]
    assert all(not s.rows for s in verdict.sections if s.rule != "todos")


def test_touching_an_already_complex_function_is_still_complex(repo, tmp_path):
    verdict, markdown = gate(repo, "touch", tmp_path)
    assert verdict.passed, markdown
    (found,) = rows(verdict, "complexity")
    assert (found.level, found.kind, found.where, found.symbol) == (
        WARN, "still complex", "pkg/old.py:4", "tangled")
    assert found.evidence == "cc 12 > 10 (base: cc 12, cognitive 11)"
    assert "| Complexity of new and changed functions | ⚠️ pass with warnings | 0 | 1 | 0 |" \
        in markdown


def test_making_a_complex_function_worse_fails(repo, tmp_path):
    verdict, _ = gate(repo, "worse", tmp_path)
    assert not verdict.passed
    (found,) = rows(verdict, "complexity")
    assert (found.level, found.kind, found.evidence) == (
        FAIL, "more complex", "cc 13 > 10 (base: cc 12, cognitive 11)")


def test_renamed_file_is_compared_with_its_base_version(repo, tmp_path):
    verdict, markdown = gate(repo, "moved", tmp_path)
    assert verdict.passed, markdown
    (found,) = rows(verdict, "complexity")
    assert (found.kind, found.where) == ("still complex", "pkg/legacy.py:4")
    assert rows(verdict, "design") == [] and rows(verdict, "todos") == []


def test_todo_issue_requirement_is_configurable(repo, tmp_path):
    verdict, _ = gate(repo, "feature", tmp_path,
                      settings=Settings(jobs=1, gate_todo_needs_issue=False, gate_max_cc=11,
                                        gate_max_cognitive=30))
    assert [f.level for f in rows(verdict, "todos")] == [WARN, GOOD]
    assert rows(verdict, "complexity") == []  # cc 11 and cognitive 24 are within these limits


def test_gate_settings_from_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[tool.harness]\ngate_max_cc = 7\ngate_todo_needs_issue = false\n")
    settings = load_settings(tmp_path)
    assert (settings.gate_max_cc, settings.gate_max_cognitive,
            settings.gate_todo_needs_issue) == (7, 15, False)
    (tmp_path / "pyproject.toml").write_text("[tool.harness]\ngate_todo_needs_issue = 1\n")
    with pytest.raises(ValueError, match="must be true or false"):
        load_settings(tmp_path)


def test_debt_rating_worse_fails():
    def doc(rating, days):
        return {"debt": {"rating": rating, "days": days}}

    (found,) = debt_section(doc("A", 1.5), doc("C", 4)).rows
    assert (found.level, found.where, found.evidence) == (
        FAIL, "(repository)", "rating A → C, debt 1.5 → 4 days")
    assert debt_section(doc("B", 3), doc("B", 5)).rows == []
    assert debt_section(doc("C", 3), doc("A", 1)).rows == []
    assert debt_section({"debt": None}, doc("E", 9)).note == "no debt rating to compare"


# --- conformance ---------------------------------------------------------------------------
def result(case: str, outcome: str, message: str | None = None, check: str = "forward") -> dict:
    return {"case": case, "layer": "Dense", "check": check, "backend": "numpy",
            "library": "reference", "dtype": "float32", "device": "cpu", "outcome": outcome,
            "duration_s": 0.01, "message": message}


BASELINE = [result("dense_a", "passed"), result("dense_b", "xfailed"),
            result("dense_c", "failed"), result("dense_d", "failed"),
            result("dense_e", "passed"), result("dense_f", "xfailed"),
            result("dense_g", "skipped")]
HEAD = [result("dense_a", "failed", "max abs err 0.5 | atol 1e-6\nsecond line"),  # regression
        result("dense_b", "error", "crashed"),                                     # regression
        result("dense_c", "failed", "still off"),                                  # still failing
        result("dense_d", "passed"),                                               # fixed
        result("dense_e", "passed"),                                               # unchanged
        result("dense_f", "xpassed"),                                              # remove xfail
        result("dense_g", "failed", "was skipped"),                                # new failure
        result("dense_new", "error", "boom")]                                      # new failure


def test_compare_classifies_every_movement():
    found = {c.key[0]: (c.level, c.kind, c.baseline, c.head) for c in compare(BASELINE, HEAD)}
    assert found == {
        "dense_a": (FAIL, "regression", "passed", "failed"),
        "dense_b": (FAIL, "regression", "xfailed", "error"),
        "dense_c": (WARN, "still failing", "failed", "failed"),
        "dense_d": (GOOD, "fixed", "failed", "passed"),
        "dense_f": (FAIL, "unexpected pass: remove the xfail", "xfailed", "xpassed"),
        "dense_g": (FAIL, "new failure", "skipped", "failed"),
        "dense_new": (FAIL, "new failure", None, "error"),
    }


def test_compare_without_baseline_and_duplicate_keys():
    head = [result("x", "passed"), result("x", "failed", "second run"), result("y", "passed"),
            result("z", "xpassed")]
    found = [(c.key[0], c.level, c.kind, c.message) for c in compare(None, head)]
    assert found == [("x", FAIL, "failure", "second run"),
                     ("z", FAIL, "unexpected pass: remove the xfail", None)]
    # another check of the same case is another key
    assert compare([result("x", "passed")], [result("x", "failed", check="backward")])[0].kind \
        == "new failure"


def write_baseline(path: Path, results: list[dict]) -> str:
    path.write_text(json.dumps({"schema": "harness.conformance/1", "environment": {},
                                "results": results, "summary": {}}))
    return str(path)


def record(store_path: Path, results: list[dict], commit_sha: str | None = None) -> int:
    """A finished conformance run of ``results``, recorded for ``commit_sha`` if given (as
    ``harness conform`` records the commit it ran on)."""
    with Store(store_path) as store:
        run_id = store.start_run("conformance")
        if commit_sha is not None:
            set_run_commit(store, run_id, commit_sha)
        store.record_results(run_id, results)
        store.finish_run(run_id)
    return run_id


def test_conformance_regressions_fail_the_gate(repo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no pyproject here: default settings
    clean = git(repo, "rev-parse", "clean")
    record(tmp_path / "gate.db", [result("dense_a", "failed")], clean)  # an older run: ignored
    run_id = record(tmp_path / "gate.db", HEAD, clean)
    baseline = write_baseline(tmp_path / "base.json", BASELINE)
    status = main(["gate", "--base", "main", "--head", "clean", "--baseline", baseline,
                   "--store", str(tmp_path / "gate.db"), str(repo)])
    out = capsys.readouterr().out
    assert status == 1
    lines = out.splitlines()
    assert lines[0] == "# ❌ Gate: fail"
    assert "| Conformance | ❌ fail | 5 | 1 | 1 |" in lines
    assert (f"run {run_id} (8 results) against baseline {text(baseline)} (7 results)"
            in lines)
    # the message's pipe is escaped and its newline folded: the table keeps its columns
    assert ("| ❌ | regression | `dense_a` | `forward` | `numpy` | `reference` | `float32` | "
            "`cpu` | passed | failed | max abs err 0.5 \\| atol 1e-6 second line |") in lines
    assert ("| ✅ | fixed | `dense_d` | `forward` | `numpy` | `reference` | `float32` | `cpu` "
            "| failed | passed |  |") in lines
    assert "| ⚠️ | still failing | `dense_c` |" in out
    assert "| ❌ | unexpected pass: remove the xfail | `dense_f` |" in out
    assert "| ❌ | new failure | `dense_new` |" in out and "| — | error | boom |" in out


def test_conformance_still_failing_and_fixed_pass(repo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    record(tmp_path / "gate.db", [result("dense_c", "failed"), result("dense_d", "passed"),
                                  result("dense_b", "xfailed")], git(repo, "rev-parse", "clean"))
    baseline = write_baseline(tmp_path / "base.json", BASELINE)
    status = main(["gate", "--base", "main", "--head", "clean", "--baseline", baseline,
                   "--store", str(tmp_path / "gate.db"), str(repo)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "| Conformance | ⚠️ pass with warnings | 0 | 1 | 1 |" in out
    assert "4 baseline results not run in head" in out


def test_conformance_without_baseline_fails_on_any_failure(repo, tmp_path):
    record(tmp_path / "gate.db", [result("dense_a", "passed"), result("dense_b", "error")])
    verdict, markdown = gate(repo, "clean", tmp_path)
    assert not verdict.passed
    assert [(r.kind, r.key[0]) for r in rows(verdict, "conformance")] == [("failure", "dense_b")]
    assert "no baseline: every failure counts" in markdown


# --- usage errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["--base", "no-such-branch"], "error: unknown revision 'no-such-branch'"),
    (["--base", "main", "--head", "nope"], "error: unknown revision 'nope'"),
    (["--base", "main", "--head", "lonely"], "have no common ancestor (in a shallow clone"),
    (["--base", "main", "--baseline", "missing.json"],
     "error: baseline missing.json not found"),
])
def test_usage_errors_exit_2_with_one_line(repo, tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.chdir(tmp_path)
    status = main(["gate", *argv, "--store", str(tmp_path / "gate.db"), str(repo)])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert len(captured.err.splitlines()) == 1 and captured.err.startswith("harness: error: ")
    assert message in captured.err


def test_bad_path_and_bad_baseline(tmp_path, repo, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["gate", "--base", "main", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip().endswith("nowhere: no such directory")
    (tmp_path / "wrong.json").write_text('{"schema": "harness.analysis/1"}')
    with pytest.raises(UsageError, match="is not a harness.conformance/1 document"):
        load_baseline(str(tmp_path / "wrong.json"))
    (tmp_path / "bad.json").write_text(json.dumps(
        {"schema": "harness.conformance/1", "results": [{**result("x", "passed"),
                                                         "outcome": "great"}]}))
    with pytest.raises(UsageError, match="result 0 has outcome 'great'"):
        load_baseline(str(tmp_path / "bad.json"))


# --- diff parsing and Markdown escaping ------------------------------------------------------
def test_changed_lines_from_real_git(tmp_path):
    built = GitRepoBuilder(tmp_path / "diffs", date=DATE)
    first = commit(built, "one", {
        "keep.py": "".join(f"line{n}\n" for n in range(1, 11)),
        "odd name ü.py": "a\n",
        "move_me.py": "".join(f"value_{n} = {n}\n" for n in range(1, 11)),
    })
    second = commit(built, "two", {
        # lines 3-4 removed, a new line 8 whose text looks like a diff header
        "keep.py": "line1\nline2\nline5\nline6\nline7\n++ b/evil.py\nline8\nline9\nline10\n",
        "odd name ü.py": "a\nb\n",
    })
    built.git("mv", "move_me.py", "moved.py")
    built.write("moved.py", "".join(f"value_{n} = {n}\n" for n in range(1, 10)) + "x = 0\n")
    third = commit(built, "three")
    changes = changed_lines(GitRepo(built.root), first, third)
    assert set(changes.files) == {"keep.py", "odd name ü.py", "moved.py"}
    keep = changes.files["keep.py"]
    assert (keep.added, keep.deleted_after) == ({6}, {2})
    assert changes.files["odd name ü.py"].added == {2}
    moved = changes.files["moved.py"]
    assert (moved.old_path, moved.added) == ("move_me.py", {10})
    assert changes.base_path("moved.py") == "move_me.py" and changes.base_path("x.py") == "x.py"
    assert changes.touches("keep.py", 1, 3) and not changes.touches("keep.py", 3, 5)
    assert not changes.touches("keep.py", 1, 2)  # the deletion is after line 2, outside 1-2
    assert changed_lines(GitRepo(built.root), second, second).files == {}


def test_parse_diff_pure_rename_and_quoted_paths():
    patch = (b'diff --git a/x.py b/y.py\nsimilarity index 100%\nrename from x.py\n'
             b'rename to y.py\n'
             b'diff --git "a/t\\tab.py" "b/t\\tab.py"\n--- "a/t\\tab.py"\n+++ "b/t\\tab.py"\n'
             b'@@ -0,0 +1,2 @@\n+a\n+b\n')
    changes = parse_diff(patch)
    assert changes.files["y.py"].old_path == "x.py" and changes.files["y.py"].added == set()
    assert changes.files["t\tab.py"].added == {1, 2}
    assert unquote_path('"caf\\303\\251 \\"q\\".py"') == 'café "q".py'
    assert unquote_path("plain.py") == "plain.py"


def test_markdown_escaping():
    assert code("a|b\nc") == "`a\\|b c`"
    assert code("has `tick`") == "`` has `tick` ``"
    assert code("`edge") == "`` `edge ``"
    assert code("") == ""
    assert text("x_y *z* <b> | [l](u)") == "x\\_y \\*z\\* \\<b> \\| \\[l\\](u)"


# --- coverage of changed lines -------------------------------------------------------------
def test_changed_line_coverage_from_cobertura(repo, tmp_path):
    xml = tmp_path / "coverage.xml"
    hits = {"pkg/new.py": {4: 1, 5: 1, 6: 0, 7: 0, 19: 1, 22: 1, 24: 0},
            # line 4 (tangled) is unchanged; 49-50 (appended) are new
            "pkg/old.py": {4: 0, 49: 1, 50: 0}}
    classes = "".join(
        f'<class filename="/ci/work/{path}"><lines>'
        + "".join(f'<line number="{n}" hits="{h}"/>' for n, h in lines.items())
        + "</lines></class>" for path, lines in hits.items())
    xml.write_text(f'<?xml version="1.0" ?><coverage><packages><package><classes>{classes}'
                   "</classes></package></packages></coverage>")
    verdict, markdown = gate(repo, "feature", tmp_path,
                             settings=Settings(jobs=1, coverage_file=str(xml)))
    found = [(f.level, f.where, f.evidence) for f in rows(verdict, "coverage")]
    assert found == [
        (WARN, "pkg/new.py:6", "3 of 7 changed statements not run by the tests: lines 6-7, 24"),
        (WARN, "pkg/old.py:50", "1 of 2 changed statements not run by the tests: lines 50"),
    ]
    assert f"changed statements covered: 55.6% (5 of 9) from {text(xml)}" in markdown


def test_changed_line_coverage_from_a_coverage_data_file(repo, tmp_path):
    from coverage import CoverageData

    data = CoverageData(basename=str(tmp_path / ".coverage"))
    data.add_lines({"/elsewhere/checkout/pkg/new.py": [n for n in range(1, 42)
                                                       if n not in (11, 13)]})
    data.write()
    verdict, _ = gate(repo, "feature", tmp_path,
                      settings=Settings(jobs=1, coverage_file=str(tmp_path / ".coverage")))
    # 29 statements in new.py (elif lines count; else, comments and the docstring do not);
    # old.py is not measured at all, so it is left out
    assert [(f.where, f.evidence) for f in rows(verdict, "coverage")] == [
        ("pkg/new.py:11", "2 of 29 changed statements not run by the tests: lines 11, 13")]


def test_missing_coverage_file_is_a_note(repo, tmp_path):
    verdict, _ = gate(repo, "clean", tmp_path,
                      settings=Settings(jobs=1, coverage_file=str(tmp_path / "none.xml")))
    assert verdict.passed
    (section,) = [s for s in verdict.sections if s.rule == "coverage"]
    assert section.note.endswith("none.xml not found: not checked") and section.rows == []
