"""``harness conform``: run the suite through pytest, then print the matrix and write JSON."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.config import Settings
from harness.conformance import matrix, plugin, results, suite_files
from harness.conformance.items import keyword_expression
from harness.conformance.results import exit_status
from harness.conformance.targets import distribution_version, installed_backends
from harness.errors import UsageError


def _check_backends(requested: list[str], library: str) -> None:
    from harness.conformance.targets import make_target
    from harness.reference.backend import KNOWN_BACKENDS, UNAVAILABLE

    for name in requested:
        if name in UNAVAILABLE:
            raise UsageError(f"backend {name!r} is unavailable: {UNAVAILABLE[name]}")
        if name not in KNOWN_BACKENDS:
            raise UsageError(f"unknown backend {name!r} (known: {', '.join(KNOWN_BACKENDS)})")
        if library in ONE_BACKEND_PER_PROCESS and len(requested) > 1:
            _check_in_subprocess(library, name)  # this process may hold only one
        else:
            make_target(library, name)  # raises UsageError when not installed


def _check_in_subprocess(library: str, backend: str) -> None:
    """make_target(library, backend) in a fresh process; its one-line error if it fails."""
    code = ("import sys\nfrom harness.conformance.targets import make_target\n"
            "from harness.errors import UsageError\n"
            f"try:\n    make_target({library!r}, {backend!r})\n"
            "except UsageError as exc:\n    print(exc)\n    sys.exit(2)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise UsageError(proc.stdout.strip().splitlines()[-1] if proc.stdout.strip()
                         else f"library {library!r} cannot run on {backend!r}")


def pytest_args(backends: list[str], settings: Settings, select: str | None,
                jobs: str | None, progress: str, devices: int = 0) -> list[str]:
    """The pytest command line that runs the suite for these options."""
    args = [str(suite_files.suites_dir()), "-c", str(suite_files.suites_dir() / "pytest.ini"),
            "--rootdir", str(suite_files.suites_dir()), "-p", "no:cacheprovider",
            "--library", settings.library, "--device", settings.device,
            "--harness-store", settings.store, "--harness-progress", progress]
    for backend in backends:
        args += ["--backend", backend]
    for dtype in settings.dtypes:
        args += ["--dtype", dtype]
    if select:
        args += ["-k", select]
    if devices:
        args += ["--devices", str(devices)]
    # several processes by default, so that a case that kills its process fails alone
    jobs = "auto" if jobs is None else str(jobs)
    if jobs not in ("0", "1"):
        args += ["-n", jobs]
        # a case hanging past the timeout ends its worker; the run goes on without it
        args += ["--harness-timeout", str(settings.case_timeout_s)]
    # our own progress and matrix replace pytest's terminal output
    args += ["-p", "no:terminal"]
    # Without a terminal report pytest's log capture is never shown, yet it attaches its
    # handler to every non-propagating logger at each phase of every item (torch has ~50:
    # about a second of a torch run). Its unraisable-exception report is unseen too, and
    # costs full garbage collections of the frameworks' heaps at session end. Without them,
    # Python's default handler and hook write to stderr (held by pytest's output capture).
    args += ["-p", "no:logging", "-p", "no:unraisableexception"]
    return args


def _our_plugin_autoloads() -> bool:
    try:
        eps = importlib.metadata.entry_points(group="pytest11")
    except Exception:  # noqa: BLE001 - broken metadata: load the plugin explicitly
        return False
    return any(ep.value == "harness.conformance.plugin" for ep in eps)


def use_virtual_devices(count: int) -> None:
    """Ask every backend for ``count`` devices before any of them starts: JAX's host platform
    device count, TensorFlow's logical CPUs (read by its backend) and the number of torch gloo
    ranks (read by the data-parallel target) come from here. A framework already started in
    this process keeps its count; pytest-xdist workers start fresh and see the new one."""
    os.environ["HARNESS_DEVICES"] = str(count)
    flag = f"--xla_force_host_platform_device_count={count}"
    flags = [f for f in os.environ.get("XLA_FLAGS", "").split()
             if not f.startswith("--xla_force_host_platform_device_count")]
    os.environ["XLA_FLAGS"] = " ".join([*flags, flag])


#: libraries that fix their backend once per process (Keras 3): one pytest process a backend
ONE_BACKEND_PER_PROCESS = {"keras"}
#: the backends the Keras adapter runs by default (its numpy backend has no autodiff)
KERAS_DEFAULT_BACKENDS = ("jax", "tensorflow", "torch")


def _environment(backends: list[str], library: str) -> dict[str, Any]:
    """The run's environment; read from package metadata when the backends cannot all be
    imported into this one process."""
    if library not in ONE_BACKEND_PER_PROCESS or len(backends) == 1:
        return plugin.environment(backends, library)
    env = plugin.environment([], library)
    for backend in backends:
        version = distribution_version(backend)
        env["backends"][backend] = version or "unavailable: not installed"
    return env


def checkout_commit(path: str = ".") -> str | None:
    """The full sha checked out at ``path`` (HEAD, even when the tree is dirty); None outside
    a git checkout or without git."""
    try:
        proc = subprocess.run(["git", "rev-parse", "--verify", "-q", "HEAD^{commit}"],
                              cwd=path, capture_output=True, text=True, check=False)
    except OSError:
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def run_suite(backends: list[str], settings: Settings, select: str | None = None,
              jobs: str | None = None, progress: str = "plain", devices: int = 0) -> int:
    """Run the suite into a new run of the store; return the run id."""
    import pytest

    from harness.store import open_store, set_run_commit

    with open_store(settings.store) as store:
        run_id = store.start_run("conformance", _environment(backends, settings.library),
                                 {"backends": backends, "library": settings.library,
                                  "device": settings.device, "dtypes": list(settings.dtypes),
                                  "select": select})
        if (sha := checkout_commit()) is not None:  # the gate matches runs to its head commit
            set_run_commit(store, run_id, sha)
    os.environ[plugin.RUN_ENV] = str(run_id)
    os.environ[plugin.STORE_ENV] = str(Path(settings.store).resolve())
    extra = [] if _our_plugin_autoloads() else [plugin]
    try:
        if settings.library in ONE_BACKEND_PER_PROCESS and len(backends) > 1:
            codes = [subprocess.run([sys.executable, "-m", "pytest",
                                     *pytest_args([b], settings, select, jobs, progress,
                                                  devices)]).returncode for b in backends]
            rc = 5 if all(c == 5 for c in codes) else max(c for c in codes if c != 5)
        else:
            rc = pytest.main(pytest_args(backends, settings, select, jobs, progress, devices),
                             plugins=extra)
    finally:
        os.environ.pop(plugin.RUN_ENV, None)
        os.environ.pop(plugin.STORE_ENV, None)
        with open_store(settings.store) as store:
            store.finish_run(run_id, "finished")
    if rc == 5:
        raise UsageError(f"no conformance case matches --select {select!r}" if select
                         else "the conformance suite collected no case")
    if rc in (2, 3, 4):
        raise UsageError(f"pytest could not run the conformance suite (exit {int(rc)}); "
                         f"run `pytest {suite_files.suites_dir()} --backend ...` for details")
    return run_id


def results_document(run_id: int, store_path: str) -> dict[str, Any]:
    """The ``harness.conformance/1`` document for a run of the store at ``store_path``."""
    from harness.store import open_store

    with open_store(store_path) as store:
        return results.document(store, run_id)


def conform_command(args: argparse.Namespace, settings: Settings) -> int:
    settings = settings.with_options(backends=args.backends, library=args.library,
                                     dtypes=args.dtypes, device=args.device, store=args.store)
    backends = list(settings.backends) or installed_backends()
    if settings.library == "keras" and not settings.backends:
        backends = [b for b in backends if b in KERAS_DEFAULT_BACKENDS]
    if not backends:
        raise UsageError(f"no backend for the {settings.library} library is installed")
    for dtype in settings.dtypes:
        if dtype not in ("float16", "bfloat16", "float32", "float64"):
            raise UsageError(f"unknown dtype {dtype!r}")
    devices = args.devices or 0
    if devices < 0 or devices == 1:
        raise UsageError("--devices needs N >= 2")
    if devices:  # before any backend starts: JAX and TF fix their device count at start-up
        use_virtual_devices(devices)
    if args.select:  # here, not in pytest-xdist's workers, whose usage error is a crash
        try:
            keyword_expression(args.select)
        except pytest.UsageError as exc:
            raise UsageError(f"--select: {exc}") from None
    _check_backends(backends, settings.library)
    progress = "rich" if sys.stdout.isatty() and not os.environ.get("CI") else "plain"
    run_id = run_suite(backends, settings, args.select, args.jobs, progress, devices)
    document = results_document(run_id, settings.store)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(document, indent=2), encoding="utf-8")
    matrix.print_matrix(document)
    print(f"results: run {run_id} in {settings.store}" +
          (f", JSON in {args.json}" if args.json else ""))
    return exit_status(document["summary"])
