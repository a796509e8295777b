"""Typed settings: ``[tool.harness]`` of the nearest ``pyproject.toml``, overridden by options."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """The configuration file or an option value is invalid (a usage error)."""


@dataclass(frozen=True)
class Settings:
    store: str = ".harness/harness.db"
    backends: tuple[str, ...] = ()          # empty: every installed backend
    library: str = "reference"
    dtypes: tuple[str, ...] = ("float32",)
    device: str = "cpu"
    out: str = "reports"
    analysis_path: str = "."
    rev: str = "HEAD"
    jobs: int = 0                           # 0: one per core
    case_timeout_s: float = 120.0
    coverage_command: str = ""              # `harness run` runs the tests with it ...
    coverage_file: str = ""                 # ... and feeds this coverage file to analysis
    gate_max_cc: int = 10                   # `harness gate`: limits for new and changed code
    gate_max_cognitive: int = 15
    gate_todo_needs_issue: bool = True      # a new TODO must link an issue (#12, GH-12, URL)
    gate_min_coverage: float | None = None  # percent of changed statements covered (None: off)
    gate_min_total_coverage: float | None = None  # percent of all measured statements
    source: str = field(default="defaults", compare=False)

    def with_options(self, **options: Any) -> Settings:
        """A copy with every option that is not None applied."""
        known = {f.name for f in fields(self)}
        changes = {k: v for k, v in options.items() if v is not None and k in known}
        for key in ("backends", "dtypes"):
            if key in changes:
                changes[key] = tuple(changes[key])
        return replace(self, **changes)


# settings that are an optional percentage (None: the check is off)
_PERCENT_KEYS = frozenset({"gate_min_coverage", "gate_min_total_coverage"})


def _percent(value: Any, where: str) -> float:
    """``value`` as a percentage from 0 to 100; ConfigError naming ``where`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise ConfigError(f"{where} must be a percentage from 0 to 100, not {value!r}")
    return float(value)


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_settings(start: str | Path = ".") -> Settings:
    """Settings from ``[tool.harness]`` of the nearest pyproject.toml, or the defaults."""
    pyproject = find_pyproject(Path(start))
    if pyproject is None:
        return Settings()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {pyproject}: {exc}") from exc
    table = data.get("tool", {}).get("harness", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.harness] must be a table")
    known = {f.name: f for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in known or key == "source":
            continue  # unknown keys belong to newer harness versions; ignore
        default = getattr(Settings, key, None)
        if isinstance(default, tuple):
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list):
                raise ConfigError(f"{pyproject}: tool.harness.{key} must be a list")
            value = tuple(str(v) for v in value)
        elif isinstance(default, bool) and not isinstance(value, bool):
            raise ConfigError(f"{pyproject}: tool.harness.{key} must be true or false")
        elif isinstance(default, (int, float)) and not isinstance(value, (int, float)):
            raise ConfigError(f"{pyproject}: tool.harness.{key} must be a number")
        elif key in _PERCENT_KEYS:
            value = _percent(value, f"{pyproject}: tool.harness.{key}")
        values[key] = value
    return Settings(**values, source=str(pyproject))
