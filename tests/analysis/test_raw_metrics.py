"""The shared token scan and the raw counts against their independent sources.

Hand-counted sources pin radon's rules; then every Python file of a real corpus (the standard
library's modules up to 30 kB, the installed radon package and this harness, about 400 files)
must give radon's ``raw.analyze`` tuple, ``tokenize``'s comments and code lines, and radon's
complexity, Halstead and MI figures. The corpus is installed with the interpreter and the
dependencies, so the tests need no network and no shared repositories.
"""

from __future__ import annotations

import ast
import io
import re
import sysconfig
import tokenize
from pathlib import Path

import pytest
import radon
from radon.metrics import h_visit_ast, mi_visit
from radon.raw import Module, analyze
from radon.visitors import ComplexityVisitor

import harness
from harness.analysis.complexity import function_rows, module_metrics
from harness.analysis.raw_metrics import raw_metrics
from harness.analysis.sources import decode_source
from harness.analysis.todos import linked_issue, scan_todos
from harness.analysis.tokens import scan

MARKER = re.compile(r"(?<![A-Za-z0-9_])(TODO|FIXME|XXX|HACK)(?![A-Za-z0-9_])")
MODULE_WITH_EVERY_RULE = '''\
"""Module docstring
spanning two lines.
"""
import os; import sys
x = {1: 2}  # a dict


def f(a):  # comment after code
    if a: return 1
    y = (1 +
         # inside brackets

         2)
    z = 1 + \\
        2
    return lambda: 0
'''

DOCSTRINGS_AND_COMMENTS = (
    "# header comment\n"
    '"""One-line docstring."""\n'
    '"""Two-line string\n'
    '"""  # commented, so code\n'
    "    \n"
    "def g():\n"
    "    '''doc'''\n"
    "    return 1;"  # no newline at the end
)


def radon_or_error(function, *args):
    """radon's result, or (exception type, message) where it raises."""
    try:
        return function(*args)
    except Exception as exc:  # noqa: BLE001 - the comparison is the point
        return type(exc), str(exc)


@pytest.mark.parametrize(("source", "expected"), [
    # 1-3 a docstring on three rows (multi 3, lloc 1); 4 two statements (lloc 2);
    # 5 a colon not last (lloc 2); 8 a colon last (lloc 1); 9 'if a: return 1' (lloc 2);
    # 10-13 one statement: three code rows, one blank; 14-15 continuation; 16 lambda (lloc 2).
    (MODULE_WITH_EVERY_RULE, Module(loc=16, lloc=12, sloc=10, comments=3, multi=3, blank=3,
                                    single_comments=0)),
    # comment-only line, one-line docstrings count as single comments; a string with a
    # comment after it is code; 'return 1;' is one logical line (the empty segment is 0).
    (DOCSTRINGS_AND_COMMENTS, Module(loc=8, lloc=5, sloc=4, comments=2, multi=0, blank=1,
                                     single_comments=3)),
    # radon's ';' rule: 'if x: y' counts 1 (the colon is second to last), 'z' 1.
    ("if x: y; z\n", Module(1, 2, 1, 0, 0, 0, 0)),
    ("", Module(0, 0, 0, 0, 0, 0, 0)),
    ("\n", Module(1, 0, 0, 0, 0, 1, 0)),
    # a lone multi-line bytes string with a blank row inside: 2 multi rows, 1 blank.
    ("rb'''a\n\nb'''\n", Module(3, 1, 0, 0, 2, 1, 0)),
    ('f"x"\n', Module(1, 1, 0, 0, 0, 0, 1)),
    # str.splitlines also splits at a form feed: radon sees 4 lines where there are 3.
    ("x = 1\n\x0c\ny = 2\n", Module(4, 2, 2, 0, 0, 2, 0)),
    ("x = 1\n\x0cy = 2\n", Module(3, 2, 2, 0, 0, 1, 0)),
])
def test_hand_counted_sources_equal_radon(source, expected):
    assert analyze(source) == expected
    assert raw_metrics(source) == expected


@pytest.mark.parametrize("source", [
    'x = """never closed\n',
    "x = (1,\n",
    "x = 'open\n",
])
def test_radon_errors_are_raised_the_same_way(source):
    expected = radon_or_error(analyze, source)
    assert isinstance(expected, tuple) and issubclass(expected[0], Exception)
    assert radon_or_error(raw_metrics, source) == expected


def test_scan_is_memoised_on_the_text_object_and_reports_why_it_is_not_exact():
    text = "x = 1  # a\n"
    assert scan(text) is scan(text)
    assert scan(text).comments == [(1, "# a")]
    assert not scan("def f():\n        a\n    b\n").exact  # dedent to an unknown column
    assert scan("x = (1,\n").reason == "EOF in multi-line statement"


def _corpus_files() -> list[Path]:
    stdlib = sorted(p for p in Path(sysconfig.get_paths()["stdlib"]).glob("*.py")
                    if p.stat().st_size <= 30_000)
    packages = [Path(radon.__file__).parent, Path(harness.__file__).parent]
    return stdlib + [p for root in packages for p in sorted(root.rglob("*.py"))]


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str, ast.Module | None, object]]:
    """(name, decoded text, tree or None, radon's raw counts or error) of every file."""
    found = []
    for path in _corpus_files():
        text = decode_source(path.read_bytes()).text
        assert text is not None, path
        try:
            tree: ast.Module | None = ast.parse(text)
        except SyntaxError:
            tree = None
        found.append((str(path), text, tree, radon_or_error(analyze, text)))
    assert len(found) > 300
    return found


def _tokenize(text: str) -> list[tokenize.TokenInfo] | None:
    try:
        return list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return None


def test_raw_counts_equal_radon_on_the_corpus(corpus):
    mismatches = [name for name, text, _, radon_raw in corpus
                  if radon_or_error(raw_metrics, text) != radon_raw]
    assert mismatches == []
    # The fast path is the one checked: the scan is exact on (nearly) every file.
    exact = sum(scan(text).exact for _, text, _, _ in corpus)
    assert exact >= len(corpus) - 3


def test_comments_and_code_lines_equal_tokenize_on_the_corpus(corpus):
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
               tokenize.DEDENT, tokenize.ENDMARKER}
    checked = 0
    for name, text, _, _ in corpus:
        tokens, found = _tokenize(text), scan(text)
        if tokens is None or not found.exact:
            continue
        checked += 1
        comments = [(t.start[0], t.string) for t in tokens if t.type == tokenize.COMMENT]
        assert found.comments == comments, name
        code_rows = {row for t in tokens if t.type not in skipped
                     for row in range(t.start[0], t.end[0] + 1)}
        last = text.count("\n") + 1
        assert {row for row in range(1, last + 1) if found.code_line_count(row, row)} \
            == code_rows, name
    assert checked >= len(corpus) - 3


def test_todos_equal_a_tokenize_reading_on_the_corpus(corpus):
    with_todos = 0
    for name, text, _, _ in corpus:
        comments = []
        try:  # every comment up to the first tokenizer error, as the analyser documents
            for token in tokenize.generate_tokens(io.StringIO(text).readline):
                if token.type == tokenize.COMMENT:
                    comments.append((token.start[0], token.string))
        except (tokenize.TokenError, SyntaxError):
            pass
        expected = []
        for line, comment in comments:
            body = comment.lstrip("#").strip()
            match = MARKER.search(body)
            if match:
                expected.append({"line": line, "marker": match.group(1), "text": body,
                                 "issue": linked_issue(body)})
        assert scan_todos(text) == expected, name
        with_todos += bool(expected)
    assert with_todos >= 10


def test_complexity_figures_equal_radon_on_the_corpus(corpus):
    checked = 0
    for name, text, tree, radon_raw in corpus:
        if tree is None:
            continue
        metrics = module_metrics(text, tree)
        visitor = ComplexityVisitor.from_ast(tree)
        assert metrics["total_cc"] == visitor.total_complexity, name
        assert metrics["functions"] == function_rows(visitor), name
        halstead = h_visit_ast(tree).total
        assert metrics["halstead"] == {k: float(v) for k, v in halstead._asdict().items()}, name
        assert metrics["raw"] == radon_raw._asdict(), name  # type: ignore[attr-defined]
        if len(text) <= 8_000:  # mi_visit runs every radon metric again: a sample suffices
            assert metrics["mi"] == mi_visit(text, True), name
        checked += 1
    assert checked >= len(corpus) - 3
