"""Geometry of the small inline SVG charts: histograms, a release timeline, sparklines.

Plain numbers out; the templates draw them, so that every label goes through autoescaping.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

#: radon's complexity ranks: (label, lowest cc, highest cc)
CC_RANKS = (("A 1–5", 1, 5), ("B 6–10", 6, 10), ("C 11–20", 11, 20), ("D 21–30", 21, 30),
            ("E 31–40", 31, 40), ("F 41+", 41, None))
COGNITIVE_BINS = (("0", 0, 0), ("1–5", 1, 5), ("6–10", 6, 10), ("11–15", 11, 15),
                  ("16–25", 16, 25), ("26+", 26, None))


def bin_counts(values: list[float], bins: tuple[tuple[str, int, int | None], ...]
               ) -> list[tuple[str, int]]:
    """``[(label, count)]``: how many ``values`` fall in each inclusive ``(low, high)`` bin."""
    counts = []
    for label, low, high in bins:
        counts.append((label, sum(1 for v in values if v >= low and (high is None or v <= high))))
    return counts


def histogram(counts: list[tuple[str, int]], width: int = 360, height: int = 150
              ) -> dict[str, Any]:
    """Bars for ``[(label, count)]``: ``{"width", "height", "base", "bars": [{x, y, w, h,
    label, count}]}``; the tallest bar fills the plot height."""
    base, top = height - 22, 14  # room for the labels below and the counts above
    tallest = max((c for _, c in counts), default=0) or 1
    slot = width / max(len(counts), 1)
    bars = []
    for i, (label, count) in enumerate(counts):
        h = round((base - top) * count / tallest)
        bars.append({"x": round(i * slot + slot * 0.15), "y": base - h,
                     "w": round(slot * 0.7), "h": h, "label": label, "count": count,
                     "cx": round(i * slot + slot / 2)})
    return {"width": width, "height": height, "base": base, "bars": bars}


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    # Naive and aware datetimes do not compare; a date without an offset is taken as UTC.
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def timeline(releases: list[dict[str, Any]], width: int = 760) -> dict[str, Any] | None:
    """Release ticks along a time axis: ``{"width", "height", "axis_y", "points": [{x, tag,
    date, commits}], "years": [{x, label}]}``; None without dated releases."""
    dated = [(r, when) for r in releases if (when := _when(r.get("date"))) is not None]
    if not dated:
        return None
    dated.sort(key=lambda pair: pair[1])
    first, last = dated[0][1], dated[-1][1]
    span = (last - first).total_seconds() or 1.0
    left, right, axis_y = 30, width - 90, 70
    points = []
    for release, when in dated:
        x = left + (right - left) * (when - first).total_seconds() / span
        points.append({"x": round(x), "tag": release.get("tag"), "date": when.date().isoformat(),
                       "commits": release.get("commits")})
    years = []
    for year in range(first.year + 1, last.year + 1):
        when = first.replace(year=year, month=1, day=1, hour=0, minute=0, second=0,
                             microsecond=0)
        x = left + (right - left) * (when - first).total_seconds() / span
        years.append({"x": round(x), "label": str(year)})
    return {"width": width, "height": 110, "axis_y": axis_y, "points": points, "years": years}


def sparkline(values: list[float | None], width: int = 160, height: int = 36
              ) -> dict[str, Any] | None:
    """A polyline for a series: ``{"width", "height", "points": "x,y ...", "last": (x, y)}``;
    None with fewer than two known values."""
    known = [(i, float(v)) for i, v in enumerate(values) if v is not None]
    if len(known) < 2:
        return None
    low, high = min(v for _, v in known), max(v for _, v in known)
    spread = (high - low) or 1.0
    steps = max(len(values) - 1, 1)
    coords = [(round(2 + (width - 4) * i / steps, 1),
               round(height - 3 - (height - 6) * (v - low) / spread, 1)) for i, v in known]
    return {"width": width, "height": height,
            "points": " ".join(f"{x},{y}" for x, y in coords), "last": coords[-1]}
