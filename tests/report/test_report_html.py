"""The HTML architecture study and the Markdown summary from real stores: sections, escaping."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from report_stores import HOSTILE, ODD_AUTHOR

from harness.report import build_reports


@pytest.fixture
def out(tmp_path: Path, two_stores: tuple[Path, Path]) -> Path:
    folder = tmp_path / "out"
    build_reports(two_stores, folder, ["html", "md"])
    return folder


@pytest.fixture
def html(out: Path) -> str:
    return (out / "index.html").read_text(encoding="utf-8")


def test_data_from_the_repository_and_the_store_is_escaped(html: str) -> None:
    assert "<script" not in html.lower()  # the page has no script, and data adds none
    assert HOSTILE not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # the TODO text (analysed repository) and the failure message (conformance store)
    assert f'TODO: fix {escaped} &#34;&#39;&amp; #42' in html
    assert f"max abs err 3e-2 &gt; atol 1e-5 {escaped} &#34;&#39;&amp; | pipe" in html
    # a file name and an author name with quotes and ampersands
    assert "pkg/odd&lt;i&gt;&amp;&#34;&#39;.py" in html
    assert "pkg/odd<i>" not in html
    assert "\x1b" not in html  # the terminal colour code of the message is dropped
    author = ODD_AUTHOR.rstrip('"').replace("&", "&amp;").replace("'", "&#39;")
    assert author.replace('"', "&#34;") in html


def test_page_is_self_contained(html: str) -> None:
    assert not re.search(r"<(link|script|img|iframe)\b", html)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)
    assert "default-src 'none'" in html  # and the browser is told so


def test_sections_follow_the_architecture_study(html: str) -> None:
    ids = re.findall(r'<section id="([a-z]+)">', html)
    assert ids == ["context", "development", "debt", "testing", "deployment", "history"]


def _section(html: str, name: str) -> str:
    return html.split(f'<section id="{name}">', 1)[1].split("</section>", 1)[0]


def test_context_lists_backends_versions_and_unavailable_ones(html: str) -> None:
    context = _section(html, "context")
    assert re.search(r"<td>numpy</td><td class=\"status-tested\">tested</td><td>2\.1\.0</td>",
                     context)
    assert re.search(r"<td>torch</td><td class=\"status-tested\">tested</td><td>2\.13\.0</td>",
                     context)
    assert re.search(r"<td>cntk</td><td class=\"status-unavailable\">unavailable</td>"
                     r"<td>CNTK publishes no wheel", context)
    assert re.search(r"<td>jax</td><td class=\"status-notrun\">not run</td>", context)
    assert "Python 3.11.9" in context and "<code>reference</code>" in context


def test_development_view_draws_packages_cycles_and_martin_metrics(html: str) -> None:
    dev = _section(html, "development")
    svg = re.search(r'<svg[^>]*aria-label="module diagram".*?</svg>', dev, re.S).group(0)
    # modules pkg.core, pkg.util, pkg.shapes... grouped into packages pkg and tests
    assert sorted(re.findall(r"<title>(\S+): (\d+) modules", svg)) == [("pkg", "5"),
                                                                        ("tests", "1")]
    assert "pkg.core</code> ↔ <code>pkg.util" in dev
    assert 'class="box cyclic"' in svg  # the pkg box holds the core <-> util cycle
    rows = re.findall(r"<tr><td><code>(pkg\.[a-z]+)</code></td><td class=\"num\">(\d+)</td>"
                      r"<td class=\"num\">(\d+)</td><td class=\"num\">([\d.]+)</td>", dev)
    metrics = {name: (int(ca), int(ce), float(i)) for name, ca, ce, i in rows}
    assert metrics["pkg.core"] == (1, 1, 0.5) and metrics["pkg.util"] == (1, 1, 0.5)
    assert metrics["pkg.shapes"] == (0, 0, 0.0)


def test_technical_debt_shows_todos_hotspots_complexity_and_rating(html: str) -> None:
    debt = _section(html, "debt")
    assert "<code>pkg/core.py:21</code>" in debt and "#42" in debt
    assert "type-switch" in debt and "types=int, float, str, list" in debt
    assert re.search(r"<code>tangled</code></td><td><code>pkg/core.py:5</code></td>"
                     r"<td class=\"num\">12</td>", debt)
    assert 'aria-label="functions per cyclomatic complexity rank"' in debt
    assert re.search(r'<span class="rating r[A-E]">[A-E]</span>', debt)
    # histogram of cc ranks: tangled (12) is the only function in rank C
    assert re.search(r"<title>C 11–20: 1</title>", debt)


def test_testing_debt_lists_backend_dependent_skips(html: str) -> None:
    testing = _section(html, "testing")
    assert "<code>tests/test_backend.py:5</code>" in testing and "theano" in testing
    assert "No data: no coverage data was analysed" in testing
    # conformance: the numpy job skipped one result and had one known failure
    assert re.search(r"<td>numpy</td><td class=\"num\">1</td><td class=\"num\">1</td>", testing)


def test_deployment_has_a_matrix_per_backend_device_dtype(html: str) -> None:
    deploy = _section(html, "deployment")
    titles = re.findall(r"<h3>([^<]+ · [^<]+ · [^<]+)</h3>", deploy)
    assert titles == ["numpy · cpu · float32", "torch · cpu · float32",
                      "torch · cuda:0 · float32"]
    numpy = deploy.split("<h3>numpy · cpu · float32</h3>")[1].split("</table>")[0]
    dense = re.search(r'<td class="layer">Dense</td>(.*?)</tr>', numpy).group(1)
    # checks in catalogue order: shape, forward, backward, compiled
    assert re.findall(r'<td class="(\w+)"', dense) == ["none", "pass", "fail", "none"]
    conv = re.search(r'<td class="layer">Conv2D</td>(.*?)</tr>', numpy).group(1)
    assert re.findall(r'<td class="(\w+)"', conv) == ["pass", "xfail", "none", "skip"]
    assert "RuntimeError: boom" in deploy and "xpassed" in deploy


def test_history_shows_releases_people_and_churn(html: str) -> None:
    history = _section(html, "history")
    assert "2 commits (0 merges) by 2 authors" in history
    assert 'aria-label="release timeline"' in history
    assert history.index("<code>v0.2</code>") < history.index("<code>v0.1</code>")
    assert "<td>Alice</td>" in history
    assert "<code>pkg/core.py</code>" in history  # churn hotspot (1 commit x cc 12)


def test_markdown_summary_has_the_tables_and_escapes(out: Path) -> None:
    md = (out / "summary.md").read_text(encoding="utf-8")
    assert "| outcome | passed | failed | xfailed | xpassed | skipped | error |" in md
    assert "| results | 3 | 1 | 1 | 1 | 1 | 1 |" in md
    assert "| numpy | 2.1.0 | 2 | 1 | 1 | 0 | 1 | 0 | 1.25 |" in md
    assert "| torch | 2.13.0 | 1 | 0 | 0 | 1 | 0 | 1 | 2.00 |" in md
    assert HOSTILE not in md and "&lt;script&gt;alert(1)&lt;/script&gt;" in md
    assert r"\| pipe" in md and "\x1b" not in md
    failure_row = next(line for line in md.splitlines() if line.startswith("| failed |"))
    assert failure_row.count(" | ") == 6  # the pipe in the message did not add a column
    # files, SLOC, functions... of the analysis; tangled is the most complex function
    assert re.search(r"^\| 6 \| \d+ \| 4 \| ", md, re.M)
    assert "| tangled | pkg/core.py:5 | 12 | 23 |" in md


def test_history_trend_over_analysed_revisions(tmp_path: Path, analysed) -> None:
    from harness.analysis.engine import analyse
    from harness.store import Store

    repo = analysed[1]["repo"]
    store = tmp_path / "trend.db"
    with Store(store) as db:
        for rev in ("v0.1", "HEAD", "HEAD"):  # HEAD twice: one point per revision
            analyse(repo, rev, store=db, jobs=1)
    build_reports([store], tmp_path / "out", ["html"])
    history = _section((tmp_path / "out" / "index.html").read_text(), "history")
    # two points: the release tags of the trends analyser where it ran, else the analyses
    assert re.search(r"Over 2 (release tags|stored analyses), oldest to newest", history)
    # v0.1 has tangled and helper (2 functions), HEAD adds describe and test_op
    row = re.search(r"<td>functions</td><td>(.*?)</td><td class=\"num\">(\d+)</td>", history)
    assert row.group(2) == "4" and "<polyline" in row.group(1)


def test_optional_sections_render_when_their_analysers_ran(tmp_path: Path, analysed) -> None:
    from harness.report.collect import ReportData
    from harness.report.html import render

    document = dict(analysed[1])
    document["coverage"] = {"percent": 81.5, "by_component": {"pkg": 75.25, "tests": 100.0},
                            "untested": ["pkg.odd"]}
    document["duplication"] = {"percent": 12.5, "duplicated_lines": 6, "total_lines": 48,
                               "blocks": [{"lines": 6, "tokens": 120, "occurrences": [
                                   {"path": "pkg/a.py", "start": 3, "end": 8},
                                   {"path": "pkg/b.py", "start": 10, "end": 15}]}]}
    document["history"] = {**document["history"],
                           "integrators": [{"name": "Carol <b>", "commits": 7}]}
    page = render(ReportData(stores=["s.db"], conformance=None, analysis=document))
    testing = _section(page, "testing")
    assert "Total 81.5%" in testing and "<code>pkg.odd</code>" in testing
    assert testing.index("<code>pkg</code>") < testing.index("<code>tests</code>")  # lowest first
    assert '<td class="num">75.2</td>' in testing  # 75.25 to one digit, half to even
    debt = _section(page, "debt")
    assert "6 of 48 code lines duplicated (12.5%)" in debt
    assert "<code>pkg/a.py:3–8</code><br><code>pkg/b.py:10–15</code>" in debt
    assert "<td>Carol &lt;b&gt;</td><td class=\"num\">7</td>" in _section(page, "history")


def test_trend_prefers_commits_then_tags_then_stored_analyses() -> None:
    from harness.report.view_analysis import trend

    def row(tag, sloc, minutes):
        return {"tag": tag, "date": "2021-01-01", "commit": "c" * 40, "sloc": sloc,
                "files": 1, "functions": 2, "mean_cc": 1.5, "max_cc": 3, "todos": 0,
                "debt_minutes": minutes, "rating": "A", "god_classes": 0,
                "duplication_percent": None}

    stored = [{"rev": r, "analysed_at": f"2021-0{i + 1}-01", "debt_days": 0.5, "rating": "B",
               "summary": {"sloc": 10 * (i + 1), "functions": 1, "mean_cc": 1.0, "todos": i}}
              for i, r in enumerate(["a" * 40, "b" * 40, "a" * 40])]
    tags = {"tags": [row("v1", 100, 480), row("v2", 150, 960)], "commits": []}
    from_tags = trend({"trends": tags}, stored)
    assert from_tags["source"] == "release tags"
    assert [p["label"] for p in from_tags["points"]] == ["v1", "v2"]
    assert [p["debt_days"] for p in from_tags["points"]] == [1.0, 2.0]
    labels = [s["label"] for s in from_tags["series"]]
    assert "duplication %" not in labels and labels[0] == "SLOC"  # no value: no series
    assert from_tags["series"][0]["last"] == 150
    commits = {"tags": tags["tags"], "commits": [row(None, 1, 0), row(None, 2, 0),
                                                  row(None, 3, 0)]}
    assert trend({"trends": commits}, stored)["points"][0]["label"] == "c" * 12
    # no trends section: stored analyses, a revision analysed twice counted once (newest)
    fallback = trend({"trends": None}, stored)
    assert fallback["source"] == "stored analyses"
    assert [(p["label"], p["sloc"]) for p in fallback["points"]] == [("b" * 12, 20),
                                                                     ("a" * 12, 30)]
    assert trend({}, stored[:1]) is None
