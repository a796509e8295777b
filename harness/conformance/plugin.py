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
import threading
import time
from typing import Any

import pytest

from harness.conformance import suite_files
from harness.conformance.cases import Case, ModelCase

RUN_ENV = "HARNESS_CONFORMANCE_RUN"
STORE_ENV = "HARNESS_CONFORMANCE_STORE"
_ITEM_FIXTURE = "harness_item"


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
                    help="seconds a case may run before its process is ended (0: no limit; "
                         "use with -n so that the other cases go on)")
    group.addoption("--harness-progress", dest="harness_progress", default="none",
                    choices=("none", "plain", "rich"), help="progress display")


# --- item generation -----------------------------------------------------------------------
class Item:
    """What one conformance test runs: a case, a check, a backend, a dtype."""

    def __init__(self, case: Case | ModelCase, check: str, backend: str, dtype: str):
        self.case, self.check, self.backend, self.dtype = case, check, backend, dtype

    @property
    def id(self) -> str:
        return f"{self.case.id}::{self.check}::{self.backend}::{self.dtype}"


def _options(config: pytest.Config) -> tuple[list[str], str, str, list[str]]:
    backends = config.getoption("harness_backends") or ["numpy"]
    dtypes = config.getoption("harness_dtypes") or ["float32"]
    return (backends, config.getoption("harness_library"), config.getoption("harness_device"),
            dtypes)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if _ITEM_FIXTURE not in metafunc.fixturenames:
        return
    from harness.conformance.cases import catalogue

    backends, _, _, dtypes = _options(metafunc.config)
    devices = metafunc.config.getoption("harness_devices")
    items = []
    for backend in backends:
        for case in catalogue():
            # model cases train in float32 whatever the dtype row asked
            case_dtypes = ["float32"] if isinstance(case, ModelCase) else dtypes
            for dtype in case_dtypes:
                checks = list(case.checks)
                if isinstance(case, ModelCase) and devices >= 2:
                    checks.append("data_parallel")
                for check in checks:
                    items.append(Item(case, check, backend, dtype))
    metafunc.parametrize(_ITEM_FIXTURE, items, ids=[i.id for i in items])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _, library, device, _ = _options(config)
    rules = {}
    for item in items:
        spec = _spec(item)
        if spec is None:
            continue
        if spec.backend not in rules:
            rules[spec.backend] = suite_files.load_xfails(spec.backend)
        reason = suite_files.match_xfail(rules[spec.backend], case=spec.case.id,
                                         check=spec.check, dtype=spec.dtype, library=library,
                                         device=device)
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=False))


def _spec(item: Any) -> Item | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    spec = callspec.params.get(_ITEM_FIXTURE)
    return spec if isinstance(spec, Item) else None


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
    if config.getoption("harness_timeout"):  # no wrapper around every call otherwise
        config.pluginmanager.register(Watchdog(config.getoption("harness_timeout")),
                                      "harness-watchdog")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if _spec(item) is not None:  # open the store first: the oracle cache lives there
        item.config.stash[_recorder_key]._open()


class Watchdog:
    """With --harness-timeout: a case that hangs past the limit is recorded as an error and
    its process ends (xdist starts a fresh worker and the run goes on)."""

    def __init__(self, limit: float):
        self.limit = limit

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        spec = _spec(item)
        if spec is None:
            yield
            return
        recorder = item.config.stash[_recorder_key]
        limit = self.limit

        def expire() -> None:
            try:
                recorder.record(spec, "error", limit, None, f"hung: no result after {limit:g} s")
            finally:
                os._exit(70)

        timer = threading.Timer(limit, expire)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    outcome = yield
    if call.when == "teardown":  # decides nothing (see _verdict)
        return
    spec = _spec(item)
    if spec is None:
        return
    report = outcome.get_result()
    verdict = _verdict(report, call)
    if verdict is None:
        return
    recorder = item.config.stash[_recorder_key]
    result = getattr(item, "harness_result", None)
    message = getattr(result, "message", None)
    if verdict in ("error", "failed") and call.excinfo is not None and message is None:
        message = f"{call.excinfo.typename}: {call.excinfo.value}"[:2000]
    if verdict in ("xfailed", "xpassed"):
        message = f"xfail: {report.wasxfail}" + (f"; {message}" if message else "")
    if verdict == "skipped" and call.excinfo is not None and message is None:
        message = str(call.excinfo.value)
    recorder.record(spec, verdict, report.duration, result, message)


def _verdict(report: pytest.TestReport, call: pytest.CallInfo[Any]) -> str | None:
    """The CONTRACT outcome for a report, or None when the phase decides nothing."""
    wasxfail = hasattr(report, "wasxfail")
    if report.when == "setup":
        if report.failed:
            return "error"
        if report.skipped:
            return "xfailed" if wasxfail else "skipped"
        return None
    if report.when != "call":
        return None
    if report.passed:
        return "xpassed" if wasxfail else "passed"
    if report.skipped:
        return "xfailed" if wasxfail else "skipped"
    exc = call.excinfo
    if exc is not None and not exc.errisinstance((AssertionError, pytest.fail.Exception)):
        return "error"
    return "failed"


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
    if report.when == "???":
        # a worker that died (segfault, abort) cannot record its own item: xdist reports it
        _record_crash(config, report)
    if report.when == "call" or (report.when == "setup" and not report.passed) \
            or report.when == "???":
        show_progress(recorder, report)


def pytest_collection_finish(session: pytest.Session) -> None:
    recorder = session.config.stash[_recorder_key]
    recorder.total = sum(1 for item in session.items if _spec(item) is not None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    recorder = node.config.stash[_recorder_key]
    recorder.total = max(recorder.total, len(ids))


def show_progress(recorder: Recorder, report: pytest.TestReport) -> None:
    """Rich progress bar on a terminal, a plain line every 10% (or 30 s) otherwise."""
    mode = recorder.config.getoption("harness_progress")
    if mode == "none" or recorder.total == 0:
        return
    recorder.done += 1
    key = "failed" if report.failed else ("skipped" if report.skipped else "passed")
    recorder.counts[key] = recorder.counts.get(key, 0) + 1
    summary = " ".join(f"{k}={v}" for k, v in sorted(recorder.counts.items()))
    if mode == "rich":
        if recorder.progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            recorder.progress = Progress(TextColumn("conform"), BarColumn(),
                                         MofNCompleteColumn(), TextColumn("{task.description}"),
                                         transient=True)
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
        print(f"conform: {recorder.done}/{recorder.total} {summary}", flush=True)


_config_holder: dict[str, pytest.Config] = {}


def _record_crash(config: pytest.Config, report: pytest.TestReport) -> None:
    item_id = report.nodeid.rsplit("[", 1)[-1].rstrip("]")
    parts = item_id.split("::")
    if len(parts) != 4:
        return
    from harness.conformance.cases import get

    try:
        case = get(parts[0])
    except KeyError:
        return
    spec = Item(case, parts[1], parts[2], parts[3])
    recorder = config.stash[_recorder_key]
    recorder._open()
    if recorder.store.has_result(recorder.run_id, case.id, spec.check, spec.backend,
                                 spec.dtype):
        return  # the worker recorded why it ended (e.g. the timeout watchdog)
    message = str(report.longrepr).strip().splitlines()[-1][:500] if report.longrepr else None
    config.stash[_recorder_key].record(spec, "error", report.duration, None,
                                       f"process crashed: {message}")


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

