"""The pytest plugin: items, recording under xdist, xfails, crashes, plain pytest use."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap

from harness.conformance import suite_files

SUITES = str(suite_files.suites_dir())


def pytest_run(cwd, *args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", SUITES, "-p", "no:cacheprovider",
                           "-q", *args], capture_output=True, text=True, cwd=cwd, timeout=600,
                          env=env)


def rows(db_path) -> list[tuple]:
    db = sqlite3.connect(db_path)
    return db.execute("SELECT run_id, case_id, check_name, outcome, message "
                      "FROM conformance_results ORDER BY id").fetchall()


def test_plain_pytest_under_xdist_records_one_run_from_every_worker(tmp_path):
    proc = pytest_run(tmp_path, "--backend", "numpy", "-n", "2", "-k",
                      "(Dense-linear or Add) and not compiled and not portability",
                      "--harness-store", str(tmp_path / "x.db"))
    assert proc.returncode == 0, proc.stdout[-2000:]
    recorded = rows(tmp_path / "x.db")
    assert {r[0] for r in recorded} == {1}  # one run, written by both workers
    cases = {r[1] for r in recorded}
    assert {"Dense-linear", "Add", "Add-three"} <= cases
    assert all(r[3] == "passed" for r in recorded)
    # one pytest item per case, one row per check -k selects (matched as pytest would match
    # each check as its own test: case-insensitive substrings of its name)
    from harness.conformance.cases import catalogue

    wanted = {(case.id, check) for case in catalogue()
              if "dense-linear" in case.id.lower() or "add" in case.id.lower()
              for check in case.checks if check not in ("compiled", "portability")}
    assert sorted((r[1], r[2]) for r in recorded) == sorted(wanted)
    ran = re.search(r"(\d+) passed", proc.stdout)
    assert ran and int(ran.group(1)) == len({case for case, _ in wanted})


def test_k_selects_checks_of_a_case_and_still_filters_other_tests(tmp_path):
    (tmp_path / "test_other.py").write_text("def test_forward_elsewhere():\n    pass\n\n"
                                            "def test_unrelated():\n    pass\n")
    proc = pytest_run(tmp_path, str(tmp_path / "test_other.py"), "--backend", "numpy", "-rA",
                      "-k", "(Dense-linear and not forward and not portability) or unrelated",
                      "--harness-store", str(tmp_path / "k.db"))
    assert proc.returncode == 0, proc.stdout[-2000:]
    from harness.conformance.cases import get

    # "not forward" drops one check of the case, not the case (whose other checks it keeps)
    recorded = [(r[1], r[2]) for r in rows(tmp_path / "k.db")]
    assert recorded == [("Dense-linear", c) for c in get("Dense-linear").checks
                        if c not in ("forward", "portability")]
    passed = [line.split()[1] for line in proc.stdout.splitlines()
              if line.startswith("PASSED")]
    assert len(passed) == 2
    assert [p for p in passed if p.endswith("::test_case[Dense-linear::numpy::float32]")]
    assert [p for p in passed if p.endswith("::test_unrelated")]


def test_a_malformed_k_is_pytests_own_usage_error(tmp_path):
    proc = pytest_run(tmp_path, "--backend", "numpy", "-k", "Dense and and",
                      "--harness-store", str(tmp_path / "m.db"))
    assert proc.returncode == 4  # pytest's usage error, not an internal error
    assert ("ERROR: Wrong expression passed to '-k': Dense and and: at column 11: expected not "
            "OR left parenthesis OR identifier; got and") in proc.stderr
    assert "INTERNALERROR" not in proc.stdout + proc.stderr


def test_tests_outside_the_suite_record_nothing(tmp_path):
    (tmp_path / "test_other.py").write_text("def test_x():\n    assert True\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(tmp_path / "test_other.py")], capture_output=True, text=True,
                          cwd=tmp_path)
    assert proc.returncode == 0
    assert not (tmp_path / ".harness").exists()


def test_xfail_rules_mark_items_and_an_unexpected_pass_is_xpassed(tmp_path):
    rules = suite_files.load_xfails("numpy")
    # the reference library on NumPy has no known differences; Keras's numpy backend has some
    assert rules and all(rule.get("library") == "keras" for rule in rules)
    fake = [{"case": "Dense-lin*", "check": "forward", "reason": "upstream bug #1"}]
    assert suite_files.match_xfail(fake, case="Dense-linear", check="forward",
                                   dtype="float32", library="reference",
                                   device="cpu") == "upstream bug #1"
    assert suite_files.match_xfail(fake, case="Dense-linear", check="shape", dtype="float32",
                                   library="reference", device="cpu") is None


def test_a_crashing_case_fails_only_itself(tmp_path):
    # a plugin that aborts the process in one check, as a segfaulting backend would
    (tmp_path / "crasher.py").write_text(textwrap.dedent("""
        import os
        from harness.conformance import checks

        def pytest_configure(config):
            checks.get("shape")
            original = checks._CHECKS["forward"]
            def forward(ctx):
                if ctx.case.id == "Dense-linear":
                    os.abort()
                return original(ctx)
            checks._CHECKS["forward"] = forward
    """))
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    proc = pytest_run(tmp_path, "--backend", "numpy", "-n", "2", "-p", "crasher",
                      "-k", "(Dense-linear or Dense-relu) and not compiled and not portability",
                      "--harness-store",
                      str(tmp_path / "c.db"), env=env)
    recorded = {(r[1], r[2]): (r[3], r[4]) for r in rows(tmp_path / "c.db")}
    outcome, message = recorded[("Dense-linear", "forward")]
    assert outcome == "error" and "crashed" in message
    # the checks before it keep their results; those after it are errors, never run
    from harness.conformance.cases import get

    order = [c for c in get("Dense-linear").checks if c not in ("compiled", "portability")]
    at = order.index("forward")
    assert at > 0 and all(recorded[("Dense-linear", c)][0] == "passed" for c in order[:at])
    after = [recorded[("Dense-linear", c)] for c in order[at + 1:]]
    assert after and all(o == "error" and m.startswith("not run: the process crashed in the "
                                                       "forward check") for o, m in after)
    others = {k: v[0] for k, v in recorded.items() if k[0] != "Dense-linear"}
    assert others and set(others.values()) == {"passed"}
    assert ("Dense-relu-nobias", "forward") in others
    assert proc.returncode == 1


def test_bad_xfail_file_is_rejected(tmp_path, monkeypatch):
    (tmp_path / "xfails").mkdir()
    (tmp_path / "xfails" / "numpy.toml").write_text('[[xfail]]\ncase = "X"\n')
    monkeypatch.setattr(suite_files, "suites_dir", lambda: tmp_path)
    import pytest

    from harness.errors import UsageError

    with pytest.raises(UsageError, match="no reason"):
        suite_files.load_xfails("numpy")


def test_a_hanging_case_is_recorded_as_hung_and_the_run_goes_on(tmp_path):
    # a plugin that hangs one check, as a deadlocked backend would
    (tmp_path / "hanger.py").write_text(textwrap.dedent("""
        import time
        from harness.conformance import checks

        def pytest_configure(config):
            original = checks.get("forward")
            def forward(ctx):
                if ctx.case.id == "Dense-linear":
                    time.sleep(120)
                return original(ctx)
            checks._CHECKS["forward"] = forward
    """))
    env = {**__import__("os").environ, "PYTHONPATH": str(tmp_path)}
    proc = pytest_run(tmp_path, "--backend", "numpy", "-n", "2", "-p", "hanger",
                      "--harness-timeout", "3", "-k", "Dense-linear or Dense-relu-nobias",
                      "--harness-store", str(tmp_path / "h.db"), env=env)
    recorded = {(r[1], r[2]): (r[3], r[4]) for r in rows(tmp_path / "h.db")}
    assert recorded[("Dense-linear", "forward")] == ("error", "hung: no result after 3 s")
    assert recorded[("Dense-relu-nobias", "forward")][0] == "passed"
    # its case's later checks did not run, and say why
    assert recorded[("Dense-linear", "backward")] == (
        "error", "not run: the forward check of this case hung")
    assert recorded[("Dense-linear", "shape")][0] == "passed"  # and earlier ones are kept
    assert proc.returncode == 1


def test_every_check_is_found_whichever_check_module_was_imported_first():
    code = ("import harness.conformance.checks.values\n"
            "from harness.conformance import checks\n"
            "print(checks.get('backward').__module__, checks.get('masking').__module__)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["harness.conformance.checks.gradients", "harness.conformance.checks.masking"]


def files_under(folder: str) -> list[str]:
    import os

    return [name for _, _, names in os.walk(folder) for name in names]


def test_each_context_gets_an_empty_scratch_folder_and_spares_are_reused(tmp_path):
    import os

    from harness.conformance import cases, checks
    from harness.conformance.targets import make_target

    target = make_target("reference", "numpy")
    case = cases.get("Dense-linear")
    first = checks.Context(case, "serialization", target, "float32")
    folder = first.scratch
    os.makedirs(os.path.join(folder, "saved_model", "variables"))
    with open(os.path.join(folder, "saved_model", "variables", "v.index"), "wb") as f:
        f.write(b"v")
    (tmp_path / "outside.txt").write_text("keep")
    os.symlink(tmp_path, os.path.join(folder, "link"))  # emptied, not followed
    with open(os.path.join(folder, "model.h5"), "wb") as f:
        f.write(b"x" * 100)
    first.close()
    # no file is left; the folders a save made stay, empty, for the next save to the path
    assert files_under(folder) == [] and (tmp_path / "outside.txt").read_text() == "keep"
    assert os.path.isdir(os.path.join(folder, "saved_model", "variables"))
    assert not os.path.lexists(os.path.join(folder, "link"))
    second = checks.Context(case, "portability", target, "float32")
    assert second.scratch == folder and files_under(second.scratch) == []
    third = checks.Context(case, "serialization", target, "float32")
    assert third.scratch != folder  # in use by the second context
    second.close()
    third.close()
    assert checks.Context(case, "forward", target, "float32")._scratch is None  # lazily


_PROBE = """
import json, logging, sys
import pytest
from harness.config import Settings
from harness.conformance import runner

quiet = logging.getLogger("probe.quiet")  # like torch's loggers: records do not reach root
quiet.propagate = False
seen = {}

class Noisy:
    def __del__(self):
        raise ValueError("probe-unraisable")

class Probe:
    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config):
        seen["plugins"] = [n for n in ("logging-plugin", "unraisableexception")
                           if config.pluginmanager.has_plugin(n)]

    def pytest_runtest_call(self, item):
        seen["handlers"] = seen.get("handlers", 0) + len(quiet.handlers)
        # without those plugins a log record and an unraisable exception still fail nothing
        logging.getLogger("probe.loud").warning("probe-log-record")
        Noisy()  # dies at once: its __del__ raises

args = runner.pytest_args(["numpy"], Settings(store=sys.argv[1]), "Dense-linear and forward",
                          "0", "none")
rc = pytest.main(args, plugins=[Probe()])
print(json.dumps({"rc": int(rc), **seen}))
"""


def test_the_suite_runs_without_log_capture_or_unraisable_collection(tmp_path):
    # pytest's log capture attached a handler to every non-propagating logger at each phase
    # of each item (a second of a torch run); its report is unseen without a terminal
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(tmp_path / "p.db")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["rc"] == 0
    assert seen["plugins"] == []  # neither plugin was registered
    assert seen["handlers"] == 0  # the quiet logger was left alone during the item
    recorded = rows(tmp_path / "p.db")
    assert [(r[1], r[2], r[3]) for r in recorded] == [("Dense-linear", "forward", "passed")]
