"""The pytest plugin of the conformance suite (entry point ``pytest11``).

Adds ``--backend``, ``--library``, ``--device``, ``--dtype`` (and ``--harness-store``), turns the
case catalogue into test items (``case::check::backend::dtype``), marks known failures from
``suites/xfails/<backend>.toml``, and records every result into the store as soon as it is
known — from the process that ran it, so it works under pytest-xdist, and a killed run keeps
every result recorded before it died. Inactive in sessions that collect no conformance item.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

import pytest

from harness.conformance import case_run, suite_files
from harness.conformance.items import (
    ITEM_FIXTURE,
    CaseItem,
    Item,
    case_items,
    mark_xfails,
    select_checks,
    spec_of,
)

RUN_ENV = "HARNESS_CONFORMANCE_RUN"
STORE_ENV = "HARNESS_CONFORMANCE_STORE"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "dl-harness conformance")
    group.addoption("--backend", action="append", dest="harness_backends", default=None,
                    help="backend(s) to run the reference library on (default: numpy)")
    group.addoption("--library", dest="harness_library", default="reference",
                    help="library under test: reference (default) or keras")
    group.addoption("--device", dest="harness_device", default="cpu",
                    help="device: cpu (default), gpu, gpu:N")
    group.addoption("--dtype", action="append", dest="harness_dtypes", default=None,
                    help="dtype(s) for every case (default: float32)")
    group.addoption("--devices", dest="harness_devices", type=int, default=0,
                    help="devices for the data_parallel check of model cases (N >= 2)")
    group.addoption("--harness-store", dest="harness_store", default=None,
                    help="SQLite store to record into (default .harness/harness.db)")
    group.addoption("--harness-timeout", dest="harness_timeout", type=float, default=0.0,
                    help="seconds one check may run before its process is ended (0: no limit; "
                         "use with -n so that the other cases go on)")
    group.addoption("--harness-progress", dest="harness_progress", default="none",
                    choices=("none", "plain", "rich"), help="progress display")


# --- items ---------------------------------------------------------------------------------
def _options(config: pytest.Config) -> tuple[list[str], str, str, list[str]]:
    backends = config.getoption("harness_backends") or ["numpy"]
    dtypes = config.getoption("harness_dtypes") or ["float32"]
    return (backends, config.getoption("harness_library"), config.getoption("harness_device"),
            dtypes)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if ITEM_FIXTURE not in metafunc.fixturenames:
        return
    backends, _, _, dtypes = _options(metafunc.config)
    specs = case_items(backends, dtypes, metafunc.config.getoption("harness_devices"))
    metafunc.parametrize(ITEM_FIXTURE, specs, ids=[spec.id for spec in specs])


@pytest.hookimpl(hookwrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Any:
    """Apply ``-k`` check by check (see ``items.select_checks``), hiding it from pytest's own
    item-level pass, which would judge a case by its name alone; mark known failures."""
    expression = config.option.keyword
    narrow = bool(expression.strip()) and any(spec_of(item) for item in items)
    dropped = select_checks(items, expression) if narrow else []
    if narrow:
        config.option.keyword = ""
    try:
        yield
    finally:
        config.option.keyword = expression
    if dropped:
        gone = {id(item) for item in dropped}
        config.hook.pytest_deselected(items=[item for item in items if id(item) in gone])
        items[:] = [item for item in items if id(item) not in gone]
    _, library, device, _ = _options(config)
    mark_xfails(items, library, device)


def run_item(node: pytest.Item, spec: CaseItem) -> None:
    """The body of a conformance item: run and record every selected check of its case, then
    end the item as they went (see ``case_run``)."""
    from harness.conformance.targets import DeviceUnavailable, make_target

    config = node.config
    recorder = config.stash[_recorder_key]
    try:
        target = make_target(recorder.library, spec.backend, recorder.device)
    except DeviceUnavailable as exc:
        for check in spec.checks:
            recorder.record(spec.item(check), "skipped", 0.0, None,
                            f"device unavailable: {exc}")
        pytest.skip(f"device unavailable: {exc}")
    counts, failures = case_run.run_case(spec, target, recorder.record,
                                         config.getoption("harness_devices"),
                                         config.getoption("harness_timeout"))
    node.user_properties.append((_OUTCOMES, dict(counts)))
    case_run.verdict(counts, failures)


_CHECKS = "harness_checks"  # user property of the setup report: the checks the item runs
_OUTCOMES = "harness_outcomes"  # of the call report: {outcome: count} of its checks


# --- recording -------------------------------------------------------------------------------
class Recorder:
    """Writes results to the store; one per process, opened on first use."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.store: Any = None
        self.run_id: int | None = None
        self.total = 0
        self.done = 0
        self.counts: dict[str, int] = {}
        self.progress: Any = None
        self.task: Any = None  # the rich progress bar's task, once the bar starts
        self.last_plain = 0.0
        self.running: dict[str, list[str]] = {}  # node id -> checks, items under way (xdist)
        _, self.library, self.device, _ = _options(config)  # the same for every result

    def _open(self) -> None:
        if self.store is not None:
            return
        from harness.store import open_store

        shared = getattr(self.config, "workerinput", {})  # set by the xdist controller
        path = (os.environ.get(STORE_ENV) or shared.get(STORE_ENV)
                or self.config.getoption("harness_store") or ".harness/harness.db")
        self.store = open_store(path)
        self.store.stream_results()
        from harness.conformance import expected

        expected.use_store(self.store)
        run = os.environ.get(RUN_ENV) or shared.get(RUN_ENV)
        if run:
            self.run_id = int(run)
        else:  # plain `pytest suites/`: this process owns the run
            backends, library, device, dtypes = _options(self.config)
            self.run_id = self.store.start_run("conformance", environment(backends, library),
                                               {"backends": backends, "library": library,
                                                "device": device, "dtypes": dtypes})
            from harness.conformance.runner import checkout_commit  # runner imports us
            from harness.store import set_run_commit

            if (sha := checkout_commit()) is not None:
                set_run_commit(self.store, self.run_id, sha)
            os.environ[RUN_ENV] = str(self.run_id)
            os.environ[STORE_ENV] = str(path)

    def case_results(self, spec: CaseItem) -> dict[str, tuple[str, str | None]]:
        """``{check: (outcome, message)}`` recorded in this run for the case item so far."""
        self._open()
        return self.store.case_results(self.run_id, spec.case.id, spec.backend, spec.dtype)

    def record(self, spec: Item, outcome: str, duration: float, result: Any,
               message: str | None) -> None:
        self._open()
        row = {
            "case": spec.case.id, "layer": spec.case.layer, "check": spec.check,
            "backend": spec.backend, "library": self.library, "dtype": spec.dtype,
            "device": self.device, "outcome": outcome, "duration_s": round(duration, 6),
            "message": message,
        }
        for key in _ERROR_KEYS:
            row[key] = getattr(result, key, None)
        self.store.record_result(self.run_id, row)


_ERROR_KEYS = ("max_abs_err", "max_rel_err", "atol", "rtol")


def environment(backends: list[str], library: str) -> dict[str, Any]:
    """Python, platform and backend versions, for the run record and the JSON."""
    from harness.conformance.targets import make_target

    versions: dict[str, str] = {}
    for backend in backends:
        try:
            versions.update(make_target(library, backend).versions())
        except Exception as exc:  # an uninstalled backend still gets a line in the report
            versions[backend] = f"unavailable: {exc}"
    return {"python": sys.version.split()[0], "platform": platform.platform(),
            "backends": versions}


_recorder_key = pytest.StashKey[Recorder]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_recorder_key] = Recorder(config)
    config.addinivalue_line("markers", "harness: a dl-harness conformance item")


def pytest_runtest_setup(item: pytest.Item) -> None:
    spec = spec_of(item)
    if spec is not None:  # open the store first: the oracle cache lives there
        item.config.stash[_recorder_key]._open()
        # the controller learns what the item runs, in case its process dies running it
        item.user_properties.append((_CHECKS, list(spec.checks)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """A case item whose body never ran its checks (its setup failed, or its target could not
    be built) records an ``error`` for each check that has no result."""
    outcome = yield
    spec = spec_of(item)
    if spec is None or call.when == "teardown" or call.excinfo is None:
        return
    report = outcome.get_result()
    if call.when == "call" and (report.skipped or _OUTCOMES in dict(item.user_properties)):
        return  # the checks were run and recorded (or skipped as a whole)
    recorder = item.config.stash[_recorder_key]
    message = f"{call.excinfo.typename}: {call.excinfo.value}"[:2000]
    recorded = recorder.case_results(spec)
    for check in spec.checks:
        if check not in recorded:
            recorder.record(spec.item(check), "error", report.duration, None, message)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: open the run here so every worker records into the same one."""
    if not _suite_requested(node.config):
        return
    recorder = node.config.stash[_recorder_key]
    recorder._open()
    node.workerinput[RUN_ENV] = str(recorder.run_id)
    node.workerinput[STORE_ENV] = str(recorder.store.path)


def _suite_requested(config: pytest.Config) -> bool:
    """True when the session runs the conformance suite (so plain test runs record nothing)."""
    if os.environ.get(RUN_ENV) or config.getoption("harness_backends"):
        return True
    suites = os.path.realpath(suite_files.suites_dir())
    for arg in config.args:
        path = os.path.realpath(arg.split("::", 1)[0])
        if path == suites or path.startswith(suites + os.sep):
            return True
    return False


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    config = _config_holder.get("config")
    if config is None or hasattr(config, "workerinput"):
        return
    recorder = config.stash[_recorder_key]
    properties: dict[str, Any] = dict(report.user_properties)
    if report.when == "setup" and _CHECKS in properties:
        recorder.running[report.nodeid] = properties[_CHECKS]
    if report.when == "???":
        # a worker that died (segfault, abort) cannot record its own item: xdist reports it
        _record_crash(config, report, recorder.running.get(report.nodeid))
    if report.when == "call" or (report.when == "setup" and not report.passed) \
            or report.when == "???":
        recorder.running.pop(report.nodeid, None)
        show_progress(recorder, report, properties.get(_OUTCOMES))


def pytest_collection_finish(session: pytest.Session) -> None:
    recorder = session.config.stash[_recorder_key]
    recorder.total = sum(1 for item in session.items if spec_of(item) is not None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    recorder = node.config.stash[_recorder_key]
    recorder.total = max(recorder.total, len(ids))


def show_progress(recorder: Recorder, report: pytest.TestReport,
                  outcomes: dict[str, int] | None) -> None:
    """Rich progress bar on a terminal, a plain line every 10% (or 30 s) otherwise: cases
    done of all, and the outcomes of their checks."""
    mode = recorder.config.getoption("harness_progress")
    if mode == "none" or recorder.total == 0:
        return
    recorder.done += 1
    if outcomes is None:  # the item ended before its checks reported (crash, setup)
        outcomes = {"failed" if report.failed else "skipped" if report.skipped else "passed": 1}
    for key, count in outcomes.items():
        recorder.counts[key] = recorder.counts.get(key, 0) + count
    summary = " ".join(f"{k}={v}" for k, v in sorted(recorder.counts.items()))
    if mode == "rich":
        if recorder.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            recorder.progress = Progress(TextColumn("conform"), BarColumn(),
                                         MofNCompleteColumn(), TextColumn("cases"),
                                         TextColumn("{task.description}"), transient=True)
            recorder.progress.start()
            recorder.task = recorder.progress.add_task("", total=recorder.total)
        recorder.progress.update(recorder.task, completed=recorder.done, description=summary)
        if recorder.done >= recorder.total:
            recorder.progress.stop()
        return
    step = max(1, recorder.total // 10)
    if recorder.done % step == 0 or recorder.done == recorder.total \
            or time.monotonic() - recorder.last_plain > 30:
        recorder.last_plain = time.monotonic()
        print(f"conform: {recorder.done}/{recorder.total} cases, checks {summary}", flush=True)


_config_holder: dict[str, pytest.Config] = {}


def _record_crash(config: pytest.Config, report: pytest.TestReport,
                  checks: list[str] | None) -> None:
    """Record the checks a dead worker's item left without a result: after a check that hung
    (the time limit ended the process), each as not run; else the first as crashed and the
    later ones as not run."""
    parts = report.nodeid.rsplit("[", 1)[-1].rstrip("]").split("::")
    if len(parts) != 3:
        return
    from harness.conformance.cases import get

    try:
        case = get(parts[0])
    except KeyError:
        return
    spec = CaseItem(case, checks if checks is not None else list(case.checks), parts[1],
                    parts[2])
    recorder = config.stash[_recorder_key]
    recorded = recorder.case_results(spec)
    missing = [check for check in spec.checks if check not in recorded]
    if not missing:
        return
    hung = [check for check in spec.checks
            if (recorded.get(check, ("", None))[1] or "").startswith(case_run.HUNG)]
    if hung:  # the time limit ended the process: nothing after the hung check ran
        for check in missing:
            recorder.record(spec.item(check), "error", 0.0, None,
                            f"not run: the {hung[-1]} check of this case hung")
        return
    message = str(report.longrepr).strip().splitlines()[-1][:500] if report.longrepr else None
    # results are recorded in check order: the first without one is where the process died
    recorder.record(spec.item(missing[0]), "error", report.duration, None,
                    f"process crashed: {message}")
    for check in missing[1:]:
        recorder.record(spec.item(check), "error", 0.0, None,
                        f"not run: the process crashed in the {missing[0]} check of this case")


def pytest_unconfigure(config: pytest.Config) -> None:
    recorder = config.stash.get(_recorder_key, None)
    if recorder is not None and recorder.progress is not None:
        recorder.progress.stop()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _config_holder["config"] = session.config


def pytest_report_header(config: pytest.Config) -> str | None:
    if not _suite_requested(config):
        return None
    backends, library, device, dtypes = _options(config)
    return (f"dl-harness conformance: library={library} backends={','.join(backends)} "
            f"device={device} dtypes={','.join(dtypes)}")

