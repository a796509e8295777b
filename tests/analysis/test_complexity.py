"""Radon figures per module: dotted qualnames with hand-counted CC, and MI equal to radon's."""

from __future__ import annotations

import ast

from radon.complexity import add_inner_blocks, cc_visit
from radon.metrics import h_visit_ast, mi_visit
from radon.raw import analyze
from radon.visitors import ComplexityVisitor

from harness.analysis.complexity import module_metrics

SOURCE = '''\
"""Module docstring."""


def top(a, b):
    if a and b:
        return 1
    for _ in range(3):
        pass

    def inner(x):
        return x if x else 0

    return inner


class Outer:
    def method(self, x):
        try:
            pass
        except ValueError:
            pass
        except TypeError:
            pass

    class Inner:
        async def deep(self):
            while True:
                break


def plain():
    return 0
'''


def test_functions_have_dotted_qualnames_and_hand_counted_cc():
    rows = module_metrics(SOURCE, ast.parse(SOURCE))["functions"]
    assert [(r["qualname"], r["lineno"], r["endline"], r["cc"]) for r in rows] == [
        ("top", 4, 13, 4),  # 1 + if + and + for; the closure does not add
        ("top.inner", 10, 11, 2),  # 1 + conditional expression
        ("Outer.method", 17, 23, 3),  # 1 + two except clauses
        ("Outer.Inner.deep", 26, 28, 2),  # 1 + while
        ("plain", 31, 32, 1),
    ]


def test_cc_equals_radon_cli_blocks_with_closures():
    # What `radon cc -j --show-closures` lists, classes left out.
    blocks = add_inner_blocks(cc_visit(SOURCE))
    expected = {
        (b.fullname, b.lineno, b.endline, b.complexity) for b in blocks if hasattr(b, "is_method")
    }
    rows = module_metrics(SOURCE, ast.parse(SOURCE))["functions"]
    assert {(r["qualname"], r["lineno"], r["endline"], r["cc"]) for r in rows} == expected
    assert len(rows) == len(expected) == 5


def test_mi_raw_and_halstead_equal_radon():
    metrics = module_metrics(SOURCE, ast.parse(SOURCE))
    assert metrics["mi"] == mi_visit(SOURCE, True)
    assert metrics["raw"] == analyze(SOURCE)._asdict()
    assert metrics["raw"]["sloc"] == 22 and metrics["raw"]["blank"] == 9
    assert (
        metrics["total_cc"] == ComplexityVisitor.from_ast(ast.parse(SOURCE)).total_complexity == 7
    )
    assert metrics["halstead"] == {
        k: float(v) for k, v in h_visit_ast(ast.parse(SOURCE)).total._asdict().items()
    }
    # 'and' is the one operator radon's Halstead visitor sees here; a, b are its operands
    assert (metrics["halstead"]["h1"], metrics["halstead"]["h2"]) == (1.0, 2.0)
