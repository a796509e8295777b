"""Radon figures per module: dotted qualnames with hand-counted CC, and MI equal to radon's."""

from __future__ import annotations

import ast
import sys

import pytest
from radon.complexity import add_inner_blocks, cc_visit
from radon.metrics import h_visit_ast, mi_visit
from radon.raw import analyze
from radon.visitors import ComplexityVisitor

from harness.analysis.complexity import function_rows, module_metrics

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


QUIRKS = '''\
import abc


@decorate(1 + 2)
class Base(abc.ABC, metaclass=abc.ABCMeta if True else type):
    limit = 3 if flag else 4

    def check(self, a, b):
        assert a and b, "both"
        while a:
            a -= 1
        else:
            b = not b
        return [x for x in range(a) if x if x > 1]

    def outer(self):
        x = 1

        def last():
            return x or True or 1.0


async def flow(items, value):
    async for item in items:
        try:
            pass
        except* ValueError:
            pass
    try:
        pass
    except KeyError:
        pass
    else:
        pass
    match value:
        case 1 | 2:
            return 1
        case [y, *rest] if y:
            return y
        case other:
            return other
    return (z := value) > 2 > 1


def factory():
    class Local:
        def method(self):
            return 1 if self else 2
    return Local
'''


def test_radon_quirks_give_radon_figures():
    # assert not entered (its 'and' adds nothing), match cases with a capture-all case, a
    # function ending in a nested def (end line = its own line), except* not counted,
    # class bases and decorators in Halstead only, 1/True/1.0 one operand.
    tree = ast.parse(QUIRKS)
    metrics = module_metrics(QUIRKS, tree)
    visitor = ComplexityVisitor.from_ast(tree)
    assert metrics["functions"] == function_rows(visitor)
    assert metrics["total_cc"] == visitor.total_complexity
    assert metrics["halstead"] == {
        k: float(v) for k, v in h_visit_ast(tree).total._asdict().items()
    }
    assert metrics["raw"] == analyze(QUIRKS)._asdict()
    assert metrics["mi"] == mi_visit(QUIRKS, True)
    rows = {r["qualname"]: (r["lineno"], r["endline"], r["cc"]) for r in metrics["functions"]}
    assert rows["Base.check"] == (8, 14, 7)  # 1 + assert + while, else 2 + 2-if comprehension 3
    assert rows["Base.outer"] == (16, 16, 1)  # ends in a def, unseen by its block: one line
    assert rows["flow"] == (23, 42, 6)  # 1 + async for + except, else 2 + 3 cases less "other"


def test_a_tree_deeper_than_the_walk_goes_to_radon_visitors():
    shallow = "x = " + " + ".join(["a"] * 150) + "\n"  # a BinOp chain 150 levels deep
    tree = ast.parse(shallow)
    metrics = module_metrics(shallow, tree)
    # 149 '+' (one distinct); operands: 148 inner BinOp nodes (radon keys them by identity)
    # and the name 'a', 298 in all.
    halstead = metrics["halstead"]
    assert (halstead["h1"], halstead["h2"], halstead["N1"], halstead["N2"]) == (1, 149, 149, 298)
    assert metrics["halstead"] == {
        k: float(v) for k, v in h_visit_ast(tree).total._asdict().items()
    }
    deep = "x = " + " + ".join(["a"] * 400) + "\n"  # radon: 2-3 frames a level
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)  # Python's default: PyTensor and Theano raise it at import
    try:
        with pytest.raises(RecursionError):  # as radon's own visitors fail on it
            module_metrics(deep, ast.parse(deep))
    finally:
        sys.setrecursionlimit(limit)


def test_child_fields_give_every_child_node_but_operators_and_contexts():
    from pathlib import Path

    from harness.analysis.nodes import children

    skipped = (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)
    root = Path(__file__).resolve().parents[2]
    nodes = 0
    for path in sorted((root / "harness").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            expected = [child for child in ast.iter_child_nodes(node)
                        if not isinstance(child, skipped)]
            assert children(node) == expected, (path, type(node).__name__)
            nodes += 1
    assert nodes > 50_000
