"""Where the pytest suites and the known-failure lists live, installed or in a checkout."""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path
from typing import Any

from harness.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_XFAIL_KEYS = {"case", "check", "dtype", "library", "device", "reason"}


def suites_dir() -> Path:
    """``harness/_suites`` in an installed wheel, else the checkout's ``suites/``."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "_suites"
    if installed.is_dir():
        return installed
    return package.parent / "suites"


def load_xfails(backend: str) -> list[dict[str, Any]]:
    """Rules of ``suites/xfails/<backend>.toml``; each needs a reason (UsageError if not)."""
    path = suites_dir() / "xfails" / f"{backend}.toml"
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    rules = data.get("xfail", [])
    for i, rule in enumerate(rules):
        unknown = set(rule) - _XFAIL_KEYS
        if unknown:
            raise UsageError(f"{path}: xfail #{i + 1} has unknown keys {sorted(unknown)}")
        if not str(rule.get("reason", "")).strip():
            raise UsageError(f"{path}: xfail #{i + 1} ({rule.get('case')}) has no reason")
        if "case" not in rule:
            raise UsageError(f"{path}: xfail #{i + 1} names no case")
    return rules


def match_xfail(rules: list[dict[str, Any]], **item: str) -> str | None:
    """The reason of the first rule matching the item (fnmatch patterns), or None."""
    for rule in rules:
        if all(fnmatch.fnmatchcase(item[key], str(rule.get(key, "*")))
               for key in ("case", "check", "dtype", "library", "device")):
            return str(rule["reason"])
    return None
