"""Tests that skip depending on the deep-learning backend.

Found without running anything:

- decorators ``pytest.mark.skipif(cond)``, ``unittest.skipIf(cond)`` (skip when true) and
  ``unittest.skipUnless(cond)`` (skip when false), also through a module-level alias
  (``skip_theano = pytest.mark.skipif(...)``) and ``pytestmark = ...`` (test ``<module>``);
  an old-style string condition is parsed;
- an ``if``/``elif``/``else`` branch whose body skips: ``pytest.skip(...)``,
  ``self.skipTest(...)``, ``raise SkipTest``/``unittest.SkipTest``, or, in a ``test*``
  function, a bare ``return`` (a silent skip).

A condition is backend-dependent when it compares a backend expression -- ``K.backend()``,
``keras.config.backend()``, ``backend.backend()``, a name such as ``BACKEND``/``_BACKEND``, or
``os.environ["KERAS_BACKEND"]`` -- with ``==``/``!=``/``in``/``not in`` against string
constants. The condition is evaluated in three-valued logic once per known backend, with every
other sub-expression unknown; a backend is listed where the condition is true, or where it is
undecided while the condition is false on some other backend (so ``K.backend() == "numpy" or
os.name == "nt"`` lists numpy only, ``IS_JAX and py2`` lists jax).
Module-level ``name = expr`` assignments are followed when a condition uses ``name``.
"""

from __future__ import annotations

import ast

from harness.analysis.statements import own_statements, walk_statements

BACKENDS = (
    "tensorflow",
    "theano",
    "cntk",
    "jax",
    "torch",
    "numpy",
    "pytensor",
    "openvino",
    "mxnet",
)
_BACKEND_NAMES = {"backend", "_backend", "backend_name", "keras_backend"}
_ENV_KEYS = {"KERAS_BACKEND"}
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def backend_skips(path: str, tree: ast.Module) -> list[dict]:
    """List backend-dependent skips of one test module.

    Returns ``[{"path", "test", "line", "backends": [names in BACKENDS order], "condition"}]``.
    """
    finder = _Finder(path, _module_assignments(tree))
    finder.scan_module(tree)
    return sorted(finder.rows, key=lambda row: (row["line"], row["test"]))


def _module_assignments(tree: ast.Module) -> dict[str, ast.expr]:
    found: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                found[target.id] = node.value
    return found


def _dotted(expr: ast.expr) -> str:
    parts = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
    return ".".join(reversed(parts))


def _last(expr: ast.expr) -> str:
    return _dotted(expr).rpartition(".")[2]


class _Finder:
    def __init__(self, path: str, assignments: dict[str, ast.expr]) -> None:
        self.path = path
        self.assignments = assignments
        self.rows: list[dict] = []
        self.elifs: set[int] = set()  # ids of If nodes already handled as an elif

    # -- walking -------------------------------------------------------------------------
    def scan_module(self, tree: ast.Module) -> None:
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
            ):
                marks = (
                    node.value.elts
                    if isinstance(node.value, (ast.List, ast.Tuple))
                    else [node.value]
                )
                for mark in marks:
                    self._decorator(mark, "<module>", node.lineno)
        self._scan_body(tree)

    def _scan_body(self, tree: ast.Module) -> None:
        for scope, stmt in walk_statements(tree):  # tests under module-level if/try too
            if isinstance(stmt, (ast.ClassDef, *_FUNCTIONS)):
                name = f"{scope}.{stmt.name}".lstrip(".")
                for decorator in stmt.decorator_list:
                    self._decorator(decorator, name, decorator.lineno)
                if isinstance(stmt, _FUNCTIONS):
                    self._scan_function(stmt, name)

    def _scan_function(self, func: ast.AST, name: str) -> None:
        is_test = name.rpartition(".")[2].startswith("test")
        for node in own_statements(func):
            if isinstance(node, ast.If) and id(node) not in self.elifs:
                self._if_chain(node, name, is_test)

    # -- decorators ----------------------------------------------------------------------
    def _decorator(self, decorator: ast.expr, test: str, line: int, depth: int = 0) -> None:
        if isinstance(decorator, ast.Name) and decorator.id in self.assignments and depth < 3:
            self._decorator(self.assignments[decorator.id], test, line, depth + 1)
            return
        if not isinstance(decorator, ast.Call) or not decorator.args:
            return
        kind = _last(decorator.func)
        if kind not in ("skipif", "skipIf", "skipUnless"):
            return
        condition = decorator.args[0]
        if isinstance(condition, ast.Constant) and isinstance(condition.value, str):
            try:
                condition = ast.parse(condition.value, mode="eval").body
            except SyntaxError:
                return
        negate = kind == "skipUnless"
        self._report(test, line, condition, negate, ast.unparse(condition))

    # -- guards --------------------------------------------------------------------------
    def _if_chain(self, node: ast.If, test: str, is_test: bool) -> None:
        earlier: list[ast.expr] = []
        current: ast.If | None = node
        while current is not None:
            texts = [f"not ({ast.unparse(e)})" for e in earlier]
            if _skips(current.body, is_test):
                condition = _conjunction(earlier, current.test)
                text = " and ".join([*texts, ast.unparse(current.test)])
                self._report(test, current.lineno, condition, False, text)
            earlier.append(current.test)
            orelse = current.orelse
            if len(orelse) == 1 and isinstance(orelse[0], ast.If):
                self.elifs.add(id(orelse[0]))
                current = orelse[0]
                continue
            if orelse and _skips(orelse, is_test):
                texts = [f"not ({ast.unparse(e)})" for e in earlier]
                self._report(
                    test, orelse[0].lineno, _conjunction(earlier, None), False, " and ".join(texts)
                )
            current = None

    def _report(self, test: str, line: int, condition: ast.expr, negate: bool, text: str) -> None:
        if not self._mentions_backend(condition, 0):
            return
        values = {}
        for backend in BACKENDS:
            value = self._evaluate(condition, backend, 0)
            values[backend] = value if value is None or not negate else not value
        # Undecided backends count only when the backend decides somewhere (some are False).
        undecided_count = False in values.values()
        backends = [b for b, v in values.items() if v is True or (v is None and undecided_count)]
        if not backends:
            return
        if negate:
            text = f"not ({text})"
        self.rows.append(
            {"path": self.path, "test": test, "line": line, "backends": backends, "condition": text}
        )

    # -- three-valued evaluation ---------------------------------------------------------
    def _is_backend_expr(self, expr: ast.expr) -> bool:
        if isinstance(expr, ast.Call) and not expr.args and not expr.keywords:
            if _last(expr.func) == "backend":
                return True
        if isinstance(expr, ast.Call) and expr.args and _last(expr.func) in ("get", "getenv"):
            key = expr.args[0]
            return isinstance(key, ast.Constant) and key.value in _ENV_KEYS
        if isinstance(expr, ast.Subscript):
            key = expr.slice
            return isinstance(key, ast.Constant) and key.value in _ENV_KEYS
        if isinstance(expr, (ast.Name, ast.Attribute)):
            return _last(expr).lower() in _BACKEND_NAMES
        return False

    def _mentions_backend(self, expr: ast.expr, depth: int) -> bool:
        for node in ast.walk(expr):
            if isinstance(node, ast.Compare) and self._backend_compare(node, "x") is not None:
                return True
            if isinstance(node, ast.Name) and node.id in self.assignments and depth < 3:
                if self._mentions_backend(self.assignments[node.id], depth + 1):
                    return True
        return False

    def _backend_compare(self, node: ast.Compare, backend: str) -> bool | None:
        """Value of ``backend_expr <op> constants`` for one backend, None when not that form."""
        if len(node.ops) != 1:
            return None
        left, right, op = node.left, node.comparators[0], node.ops[0]
        if self._is_backend_expr(right) and isinstance(op, (ast.Eq, ast.NotEq)):
            left, right = right, left
        if not self._is_backend_expr(left):
            return None
        if isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot)):
            if not (isinstance(right, ast.Constant) and isinstance(right.value, str)):
                return None
            equal = backend == right.value
            return equal if isinstance(op, (ast.Eq, ast.Is)) else not equal
        if isinstance(op, (ast.In, ast.NotIn)) and isinstance(
            right, (ast.Tuple, ast.List, ast.Set)
        ):
            names = [e.value for e in right.elts if isinstance(e, ast.Constant)]
            if len(names) != len(right.elts):
                return None
            return (backend in names) == isinstance(op, ast.In)
        return None

    def _evaluate(self, expr: ast.expr, backend: str, depth: int) -> bool | None:
        if isinstance(expr, ast.Compare):
            return self._backend_compare(expr, backend)
        if isinstance(expr, ast.BoolOp):
            values = [self._evaluate(value, backend, depth) for value in expr.values]
            if isinstance(expr.op, ast.And):
                if False in values:
                    return False
                return True if all(v is True for v in values) else None
            if True in values:
                return True
            return False if all(v is False for v in values) else None
        if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
            value = self._evaluate(expr.operand, backend, depth)
            return None if value is None else not value
        if isinstance(expr, ast.Name) and expr.id in self.assignments and depth < 3:
            return self._evaluate(self.assignments[expr.id], backend, depth + 1)
        if isinstance(expr, ast.Constant):
            return bool(expr.value)
        return None


def _conjunction(earlier: list[ast.expr], test: ast.expr | None) -> ast.expr:
    """``not e1 and not e2 ... and test`` as an expression (the branch's own condition)."""
    values: list[ast.expr] = [ast.UnaryOp(op=ast.Not(), operand=e) for e in earlier]
    if test is not None:
        values.append(test)
    return values[0] if len(values) == 1 else ast.BoolOp(op=ast.And(), values=values)


def _skips(body: list[ast.stmt], is_test: bool) -> bool:
    """True when a branch's own statements skip the test."""
    for stmt in body:
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            func = _dotted(stmt.value.func)
            if func in ("pytest.skip", "skip", "self.skipTest") or func.endswith(".skipTest"):
                return True
        if isinstance(stmt, ast.Raise) and stmt.exc is not None:
            exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
            if _last(exc) in ("SkipTest", "Skipped"):
                return True
        if is_test and isinstance(stmt, ast.Return) and stmt.value is None:
            return True
    return False
