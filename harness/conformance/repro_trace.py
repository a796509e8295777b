"""Record the backend op calls a reference layer makes, as a straight-line program.

Layers call ops only through ``harness.reference.backend`` (``K.matmul``, ...), which forwards
to the active backend module. ``record`` swaps that module for a proxy whose ops log each call
(op name, arguments as Python source) before running it, so one forward call of a layer yields a
``Program``: layers are static once shapes are known, so the calls of one run are the
computation. Arguments are rendered as references to earlier results (``t3``), to the program's
parameters (``xs[0]``), as literals, or as constants (arrays the layer made with NumPy, e.g. a
dropout mask) collected in ``Recorder.constants``. A function passed to an op (the step of
``rnn``) becomes a nested program recorded on its first call.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from harness.reference.backend.ops import OPS

#: ops whose results are Python data (shapes, names): the layer's control flow, not values
QUERIES = frozenset({"shape", "dtype", "device_names", "set_device"})


class ReproError(RuntimeError):
    """The layer did something a standalone script cannot replay."""


@dataclass
class Line:
    """One op call: ``target = op(*args, **kwargs)`` with arguments as source text."""

    op: str
    args: list[str]
    kwargs: dict[str, str]
    target: str | None = None


@dataclass
class Program:
    """A recorded function: parameters, op calls (and nested programs), what it returns."""

    name: str
    params: list[str] = field(default_factory=list)
    body: list[Line | Program] = field(default_factory=list)
    returns: str = "None"
    #: set when the layer raised outside any op: the exception, as text
    crashed: str | None = None

    def ops(self) -> set[str]:
        """Every op name the program (and its nested programs) calls."""
        found: set[str] = set()
        for item in self.body:
            found |= item.ops() if isinstance(item, Program) else {item.op}
        return found

    def render(self, names: dict[str, str], indent: str = "") -> list[str]:
        """Source lines of the function; ``names`` maps op names to the script's names."""
        lines = [f"{indent}def {self.name}({', '.join(self.params)}):"]
        inner = indent + "    "
        for item in self.body:
            if isinstance(item, Program):
                lines += item.render(names, inner)
                continue
            call = ", ".join([*item.args, *(f"{k}={v}" for k, v in item.kwargs.items())])
            head = f"{item.target} = " if item.target else ""
            lines.append(f"{inner}{head}{names.get(item.op, item.op)}({call})")
        if self.crashed is not None:
            lines.append(f"{inner}raise RuntimeError({self.crashed!r})")
        else:
            lines.append(f"{inner}return {self.returns}")
        return lines


def _literal(value: float) -> str:
    if math.isnan(value):
        return "float('nan')"
    if math.isinf(value):
        return "float('inf')" if value > 0 else "-float('inf')"
    return repr(value)


class Recorder:
    """Records programs on one backend module; collects the constants they use."""

    def __init__(self, module: ModuleType, convert_name: str = "convert_to_tensor"):
        self.module = module
        self.convert_name = convert_name  # what the script calls convert_to_tensor
        self.constants: dict[str, np.ndarray] = {}
        self._keep: list[Any] = []  # every tracked object stays alive, so ids stay unique
        self._scopes: list[dict[int, str]] = []
        self._stack: list[Program | None] = []  # None: calls are not recorded here
        self._count = 0
        self.failed_in_op = False

    def _fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    # --- tracking values ---------------------------------------------------------------
    def _track(self, value: Any, expr: str) -> None:
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                self._track(item, f"{expr}[{i}]")
            return
        if value is None or isinstance(value, (bool, int, float, str, complex)):
            return  # Python data: rendered as a literal wherever it is used
        self._keep.append(value)
        self._scopes[-1][id(value)] = expr

    def _lookup(self, value: Any) -> str | None:
        for scope in reversed(self._scopes):
            if id(value) in scope:
                return scope[id(value)]
        return None

    def encode(self, value: Any, op: str) -> tuple[str, Any]:
        """(source text, value to pass on) for an op argument."""
        if isinstance(value, (list, tuple)):
            parts = [self.encode(v, op) for v in value]
            texts = [p[0] for p in parts]
            passed = type(value)(p[1] for p in parts)
            if isinstance(value, tuple):
                return ("(" + ", ".join(texts) + ("," if len(texts) == 1 else "") + ")", passed)
            return "[" + ", ".join(texts) + "]", passed
        if isinstance(value, dict):
            items = {k: self.encode(v, op) for k, v in value.items()}
            return ("{" + ", ".join(f"{k!r}: {t}" for k, (t, _) in items.items()) + "}",
                    {k: v for k, (_, v) in items.items()})
        found = self._lookup(value)
        if found is not None:
            return found, value
        return self._encode_leaf(value, op)

    def _encode_leaf(self, value: Any, op: str) -> tuple[str, Any]:
        if value is None or isinstance(value, (bool, int, str)):
            return repr(value), value
        if isinstance(value, float):
            return _literal(value), value
        if isinstance(value, slice):
            return f"slice({value.start!r}, {value.stop!r}, {value.step!r})", value
        if isinstance(value, np.generic):
            return f"np.{type(value).__name__}({_literal(float(value.item()))})", value
        if isinstance(value, np.dtype):
            return f"np.dtype({value.name!r})", value
        if isinstance(value, type) and issubclass(value, np.generic):
            return f"np.{value.__name__}", value
        if isinstance(value, np.ndarray):
            return self._constant(value), value
        if callable(value) and not hasattr(value, "shape"):
            return self._function(value, op)
        if hasattr(value, "shape") and hasattr(value, "dtype"):
            # a framework tensor no recorded op produced: rebuilt from its value
            array = np.asarray(self.module.to_numpy(value))
            dtype = self.module.dtype(value)
            return f"{self.convert_name}({self._constant(array)}, dtype={dtype!r})", value
        raise ReproError(f"op {op!r} got a {type(value).__name__}, which a script cannot rebuild")

    def _constant(self, array: np.ndarray) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = np.array(array, copy=True)
        return f"DATA[{name!r}]"

    def _function(self, fn: Callable[..., Any], op: str) -> tuple[str, Any]:
        """A function handed to an op: recorded as a nested program on its first call."""
        parent = self._stack[-1]
        assert parent is not None
        sub = Program(self._fresh("step"))
        parent.body.append(sub)
        calls = [0]

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls[0] += 1
            if calls[0] > 1:  # the program is static: later calls run unrecorded
                with self._pushed(None):
                    return fn(*args, **kwargs)
            if kwargs:
                raise ReproError(f"op {op!r} called its function with keyword arguments")
            sub.params = [f"{sub.name}_a{i}" for i in range(len(args))]
            self._scopes.append({})
            try:
                for param, value in zip(sub.params, args, strict=True):
                    self._track(value, param)
                with self._pushed(sub):
                    out = fn(*args)
                sub.returns = self.encode(out, op)[0]
            finally:
                self._scopes.pop()
            return out

        return sub.name, wrapper

    @contextlib.contextmanager
    def _pushed(self, program: Program | None) -> Iterator[None]:
        self._stack.append(program)
        try:
            yield
        finally:
            self._stack.pop()

    # --- recording -----------------------------------------------------------------------
    def op(self, name: str) -> Callable[..., Any]:
        """The recording stand-in for op ``name`` of the backend module."""
        real = getattr(self.module, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            program = self._stack[-1] if self._stack else None
            if program is None or name in QUERIES:
                return real(*args, **kwargs)
            encoded = [self.encode(a, name) for a in args]
            named = {k: self.encode(v, name) for k, v in kwargs.items()}
            line = Line(name, [t for t, _ in encoded], {k: t for k, (t, _) in named.items()})
            program.body.append(line)
            try:
                with self._pushed(None):  # ops the backend calls internally are its own
                    result = real(*[v for _, v in encoded], **{k: v for k, (_, v) in named.items()})
            except BaseException:
                self.failed_in_op = True
                raise
            line.target = self._fresh("t")
            self._track(result, line.target)
            return result

        return call

    def record(self, name: str, fn: Callable[..., Any], params: list[tuple[str, Any]]
               ) -> tuple[Program, Any, BaseException | None]:
        """Run ``fn(*values)`` with every op recorded; (program, result, exception raised)."""
        program = Program(name, [p for p, _ in params])
        self._count = 0  # numbering restarts, so equal computations render equally
        self._scopes.append({})
        self.failed_in_op = False
        result, error = None, None
        try:
            for param, value in params:
                self._track(value, param)
            with self._pushed(program), active_proxy(self):
                result = fn(*[v for _, v in params])
            program.returns = self.encode(result, "return")[0]
        except ReproError:
            raise
        except Exception as exc:  # noqa: BLE001 - the crash is what the script reproduces
            error = exc
            if not self.failed_in_op:
                program.crashed = (f"the reference layer raised {type(exc).__name__}: {exc} "
                                   "after the backend calls above (outside any backend op)")
        finally:
            self._scopes.pop()
        return program, result, error


class _Proxy:
    """Stands in for the active backend module: ops record, everything else passes through."""

    def __init__(self, recorder: Recorder):
        self._recorder = recorder
        self._ops = {name: recorder.op(name) for name in OPS}

    def __getattr__(self, attr: str) -> Any:
        if attr in self._ops:
            return self._ops[attr]
        return getattr(self._recorder.module, attr)


@contextlib.contextmanager
def active_proxy(recorder: Recorder) -> Iterator[None]:
    """Route ``harness.reference.backend.<op>`` through ``recorder`` while the block runs."""
    from harness.reference import backend as K

    previous = K._active
    K._active = _Proxy(recorder)  # type: ignore[assignment]
    try:
        yield
    finally:
        K._active = previous
