"""``index.html``: the self-contained architecture study (inline CSS and SVG, no network).

Rendered with jinja2 with autoescaping on, so every string from an analysed repository or a
store (paths, names, TODO texts, messages) is escaped wherever a template puts it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import jinja2

from harness.report.collect import ReportData
from harness.report.views import build_view

HTML_FILE = "index.html"
# C0 controls (terminal colours in backend messages) are not allowed in HTML text.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def num(value: Any, digits: int = 2, style: str = "f") -> str:
    """A number for a table cell: ints as they are, floats with ``digits`` (``style`` f or e);
    empty for None, NaN or anything that is not a number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return ""
    return f"{value:.{digits}{style}}"


def _finalize(value: Any) -> Any:
    # Runs on every {{ expression }} before escaping; markup from macros is already safe.
    if isinstance(value, str) and not hasattr(value, "__html__"):
        return _CONTROL.sub("", value)
    return value


def environment() -> jinja2.Environment:
    """The jinja2 environment of the report templates (autoescape on, ``num`` filter)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("harness.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters["num"] = num
    return env


def render(data: ReportData) -> str:
    """The HTML page of the report data."""
    return environment().get_template("index.html.j2").render(**build_view(data))


def write(data: ReportData, out: Path) -> list[Path]:
    """Write ``index.html`` into ``out``; return its path."""
    path = out / HTML_FILE
    path.write_text(render(data), encoding="utf-8")
    return [path]
