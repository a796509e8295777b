"""Checks: each compares a target with the oracle for one case and returns a ``CheckResult``.

A check is a function ``check(ctx) -> CheckResult`` registered under its CONTRACT name. It
raises only for a crash of the library under test (recorded as ``error``); a mismatch is a
``failed`` result with the errors and the tolerance that judged them.
"""

from __future__ import annotations

import atexit
import importlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.conformance.cases import Case, ModelCase
from harness.conformance.compare import Comparison
from harness.conformance.targets import Target
from harness.conformance.tolerances import Tol, lookup


@dataclass
class CheckResult:
    outcome: str  # passed | failed | skipped
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    atol: float | None = None
    rtol: float | None = None
    message: str | None = None

    @classmethod
    def from_comparisons(cls, comparisons: list[Comparison], tol: Tol) -> CheckResult:
        """One result from several comparisons: failed if any failed, worst errors kept."""
        abs_errs = [c.max_abs_err for c in comparisons if c.max_abs_err is not None]
        rel_errs = [c.max_rel_err for c in comparisons if c.max_rel_err is not None]
        failures = [c.message or "mismatch" for c in comparisons if not c.ok]
        return cls("failed" if failures else "passed",
                   max(abs_errs) if abs_errs else None, max(rel_errs) if rel_errs else None,
                   tol.atol, tol.rtol, "; ".join(failures) or None)

    @classmethod
    def skip(cls, reason: str) -> CheckResult:
        return cls("skipped", message=reason)


@dataclass
class Context:
    case: Case | ModelCase
    check: str
    target: Target
    dtype: str
    cache: dict[str, Any] = field(default_factory=dict)
    _scratch: str | None = None

    @property
    def scratch(self) -> str:
        """A private temporary folder that holds no file, on first use (most checks write no
        file); folders that an earlier context's saves made may be there, empty."""
        if self._scratch is None:
            self._scratch = _SPARE_FOLDERS.pop() if _SPARE_FOLDERS else \
                tempfile.mkdtemp(prefix="harness-case-")
        return self._scratch

    def close(self) -> None:
        """Remove the scratch folder's files, if one was used, for the next context of the
        process."""
        if self._scratch is not None:
            folder, self._scratch = self._scratch, None
            if _emptied(folder):
                _SPARE_FOLDERS.append(folder)
            else:
                shutil.rmtree(folder, ignore_errors=True)

    @property
    def layer_case(self) -> Case:
        """The case, for the checks that take layer cases only (all but the training ones)."""
        if not isinstance(self.case, Case):
            raise TypeError(f"the {self.check} check takes layer cases, not {self.case.id}")
        return self.case

    def tol(self, check: str | None = None, dtype: str | None = None) -> Tol:
        return lookup(dtype or self.dtype, check or self.check, self.case)


# Scratch folders that closed contexts left without files: making and removing a folder per
# case costs more than emptying one (two directory updates of the temporary folder per case).
_SPARE_FOLDERS: list[str] = []


def _emptied(folder: str) -> bool:
    """Remove every file under ``folder``, keeping its subfolders, empty, for the next save
    to the same path (removing a folder took 0.3 to 4 ms on an ext4 disk where removing a
    file took ~10 µs); whether that worked."""
    try:
        _remove_files(folder)
    except OSError:
        return False
    return True


def _remove_files(folder: str) -> None:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                _remove_files(entry.path)
            else:
                os.unlink(entry.path)


@atexit.register
def _remove_spare_folders() -> None:
    while _SPARE_FOLDERS:
        shutil.rmtree(_SPARE_FOLDERS.pop(), ignore_errors=True)


CheckFn = Callable[[Context], CheckResult]
_CHECKS: dict[str, CheckFn] = {}
_MODULES = ("values", "gradients", "serialization", "masking", "training", "portability")


def register(name: str) -> Callable[[CheckFn], CheckFn]:
    def decorate(fn: CheckFn) -> CheckFn:
        _CHECKS[name] = fn
        return fn

    return decorate


def get(name: str) -> CheckFn:
    """The check registered as ``name`` (KeyError when there is none)."""
    if name not in _CHECKS:
        # every check module registers on import; one imported on its own (e.g. values, by
        # another module) must not hide the others
        for module in _MODULES:
            importlib.import_module(f"{__name__}.{module}")
    if name not in _CHECKS:
        raise KeyError(f"no check called {name!r}")
    return _CHECKS[name]


def run(ctx: Context) -> CheckResult:
    """Run the context's check."""
    return get(ctx.check)(ctx)
