"""Decoding Python sources as the interpreter does, and finding TODO markers in comments."""

from __future__ import annotations

from harness.analysis.git import BlameLine
from harness.analysis.sources import decode_source
from harness.analysis.todos import linked_issue, scan_todos, with_blame

# --- sources ---------------------------------------------------------------------------


def test_coding_cookie_decodes_latin1():
    data = "# -*- coding: latin-1 -*-\nname = 'café'\n".encode("latin-1")
    decoded = decode_source(data)
    assert decoded.encoding == "iso-8859-1"
    assert decoded.text == "# -*- coding: latin-1 -*-\nname = 'café'\n"


def test_latin1_bytes_without_cookie_are_skipped_with_the_offset():
    decoded = decode_source(b"name = 'caf\xe9'\n")
    assert decoded.text is None
    assert decoded.reason == "cannot decode as utf-8: byte 0xe9 at offset 11"


def test_bom_is_removed_and_newlines_are_universal():
    decoded = decode_source(b"\xef\xbb\xbfa = 1\r\nb = 2\rc = 3\n")
    assert decoded.encoding == "utf-8-sig"
    assert decoded.text == "a = 1\nb = 2\nc = 3\n"


def test_binary_and_bad_cookie_are_reasons_not_exceptions():
    assert decode_source(b"\x00\x01\x02").reason == "binary file (contains NUL bytes)"
    bad = decode_source(b"# coding: klingon\nx = 1\n")
    assert bad.text is None and bad.reason.startswith("bad encoding declaration")


# --- todos -----------------------------------------------------------------------------

SOURCE = '''\
# TODO: first thing #12
x = "TODO in a string is not a todo"
y = """
# FIXME inside a triple-quoted string
"""
def f():  # XXX(bob): see https://github.com/o/r/issues/345 and #9
    return 1  # HACK GH-77 around it
# TODOS is a word, not a marker; neither is MYTODO
z = 1  # note: nothing here
'''


def test_markers_are_found_in_comments_only():
    rows = scan_todos(SOURCE)
    assert rows == [
        {"line": 1, "marker": "TODO", "text": "TODO: first thing #12", "issue": "#12"},
        {
            "line": 6,
            "marker": "XXX",
            "text": "XXX(bob): see https://github.com/o/r/issues/345 and #9",
            "issue": "https://github.com/o/r/issues/345",
        },
        {"line": 7, "marker": "HACK", "text": "HACK GH-77 around it", "issue": "GH-77"},
    ]


def test_python2_source_is_tokenised():
    source = 'print "hello"  # TODO port to py3\nexec "x = 1"\nprint `x`  # FIXME backticks\n'
    assert [(r["line"], r["marker"]) for r in scan_todos(source)] == [(1, "TODO"), (3, "FIXME")]


def test_syntax_errors_keep_the_comments_before_the_tokenizer_stops():
    bad_indent = "def f():\n        a = 1  # TODO one\n    b = 2  # TODO two\n"
    assert [r["text"] for r in scan_todos(bad_indent)] == ["TODO one"]
    unclosed = "# HACK before\nx = (1,\n# XXX inside the bracket\n"
    assert [r["marker"] for r in scan_todos(unclosed)] == ["HACK", "XXX"]


def test_issue_references():
    assert linked_issue("see #1234.") == "#1234"
    assert linked_issue("GH-5 and #6") == "GH-5"
    assert linked_issue("https://gitlab.com/g/p/-/merge_requests/8 and #9") == (
        "https://gitlab.com/g/p/-/merge_requests/8"
    )
    assert linked_issue("colour &#123; and abc#12") is None
    assert linked_issue("item #1a") is None


def test_with_blame_computes_whole_days_at_the_commit_date():
    blame = {1: BlameLine("c" * 40, "Alice", 1577880000, 120)}  # 2020-01-01T12:00Z
    commit_time = 1577880000 + 10 * 86400 + 86399  # ten days and almost one more
    rows = with_blame("p.py", scan_todos("# TODO a\n# TODO b\n"), blame, commit_time)
    assert rows[0] == {
        "path": "p.py",
        "line": 1,
        "marker": "TODO",
        "text": "TODO a",
        "author": "Alice",
        "author_date": "2020-01-01T14:00:00+02:00",
        "age_days": 10,
        "issue": None,
    }
    assert rows[1]["author"] is None and rows[1]["age_days"] is None


def test_marker_precheck_keeps_case_and_word_rules():
    # Lower case, marker-like words and markers only in strings: no rows, as before.
    assert scan_todos("x = 1  # todo later, Todo, MYTODO, TODOS\n") == []
    assert scan_todos('TODO_LIST = "TODO"\n') == []
    assert [r["line"] for r in scan_todos('s = "TODO"\n# TODO\n')] == [2]


def test_unclosed_string_falls_back_to_the_tokenizer_rules():
    # The shared scan is not exact here; tokenize stops at the string and keeps line 1.
    source = '# TODO first\nx = """never closed\n# FIXME inside the string\n'
    assert [(r["line"], r["marker"]) for r in scan_todos(source)] == [(1, "TODO")]
