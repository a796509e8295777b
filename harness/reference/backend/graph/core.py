"""Graph backends, core: tensors, dtypes, static shapes, evaluation, compile, autodiff, devices.

Tensors are the framework's symbolic ``TensorVariable``s; ``convert_to_tensor`` of data gives
a constant. Layers need static shapes (``K.shape`` returns ints) but Theano types only know
which axes broadcast, so every op records its output's shape in the variable's scratchpad
(``var.tag.harness_shape``), computed from its inputs' shapes; constants know theirs, and
``compile`` gives its symbolic inputs the shapes of the arrays it is called with.

``compile(fn)`` is the real execution path: one compiled function per argument signature.
Outside ``compile`` ("eager" use, as layers are built and optimizers step), ``to_numpy`` of an
expression compiles and runs it once and remembers the value on the variable, so that a chain
of eager updates is evaluated one link at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.reference.backend.common.dtypes import DEFAULT_FLOAT, DEFAULT_INT, standardize_dtype
from harness.reference.backend.graph import tree
from harness.reference.backend.graph.framework import DEFAULT_MODE, Framework

CORE_OPS = (
    "convert_to_tensor", "to_numpy", "cast", "shape", "dtype", "zeros", "ones",
    "value_and_grad", "stop_gradient", "compile", "device_names", "set_device",
)

_INT32 = np.iinfo(np.int32)


class CoreOps:
    """Tensors, conversion, shapes, compile and autodiff on one graph framework."""

    def __init__(self, fw: Framework):
        self.fw = fw
        self.T = fw.T
        # one {symbolic input: the array it stands for} per compile call being traced
        self._traces: list[dict[Any, np.ndarray]] = []
        self._device = "cpu:0"

    # --- tensors and dtypes --------------------------------------------------------------
    def is_tensor(self, x: Any) -> bool:
        """True for a tensor of this backend (a symbolic variable or a constant)."""
        return self.fw.is_variable(x)

    def np_dtype(self, dtype: Any) -> np.dtype:
        """NumPy dtype of an interface dtype (TypeError for bfloat16, which neither
        Theano nor PyTensor has)."""
        name = standardize_dtype(dtype)
        if name == "bfloat16":
            raise TypeError(f"{self.fw.name} has no bfloat16 dtype")
        return np.dtype(name)

    def tensor(self, x: Any) -> Any:
        """``x`` unchanged when it is a tensor, else converted with the default dtypes."""
        return x if self.is_tensor(x) else self.convert_to_tensor(x)

    def float_tensor(self, x: Any) -> Any:
        """``x`` as a tensor, integer and bool tensors cast to float32."""
        x = self.tensor(x)
        return x if x.dtype.startswith("float") else self.cast(x, DEFAULT_FLOAT)

    def convert_to_tensor(self, x: Any, dtype: Any = None) -> Any:
        """``x`` as a tensor: a tensor is returned (cast when ``dtype`` differs), data becomes
        a constant; Python floats become float32 and ints int32 unless ``dtype`` is given."""
        target = None if dtype is None else self.np_dtype(dtype)
        if self.is_tensor(x):
            return x if target is None or x.dtype == target.name else self.cast(x, target.name)
        if isinstance(x, (list, tuple)) and any(map(self._holds_tensor, x)):
            # a list holding symbolic values: stack them so gradients reach each one
            return self.stack([self.convert_to_tensor(item, dtype) for item in x])
        if target is not None:
            return self.fw.constant(np.asarray(x, dtype=target))
        arr = np.asarray(x)
        if not _holds_numpy(x):
            if arr.dtype.kind == "f":
                arr = arr.astype(DEFAULT_FLOAT)
            elif arr.dtype.kind == "i" and (
                arr.size == 0 or _INT32.min <= arr.min() <= arr.max() <= _INT32.max
            ):
                arr = arr.astype(DEFAULT_INT)
        if arr.dtype.name not in ("bool", "int32", "int64", "float16", "float32", "float64"):
            arr = arr.astype(standardize_dtype(arr.dtype))  # raises for unsupported kinds
        return self.fw.constant(arr)

    def stack(self, xs: Sequence[Any], axis: int = 0) -> Any:
        """The tensors ``xs`` joined along a new axis (``array.ArrayOps`` implements it)."""
        raise NotImplementedError

    def _holds_tensor(self, x: Any) -> bool:
        if self.is_tensor(x):
            return True
        return isinstance(x, (list, tuple)) and any(map(self._holds_tensor, x))

    def cast(self, x: Any, dtype: Any) -> Any:
        """``x`` converted to ``dtype`` (differentiable between float dtypes)."""
        target = self.np_dtype(dtype).name
        x = self.tensor(x)
        if x.dtype == target:
            return x
        if self.fw.is_constant(x):  # fold: keeps eagerly assigned variables constant
            return self.fw.constant(np.asarray(x.data).astype(target))
        return self.out(self.T.cast(x, target), self.shape(x))

    def dtype(self, x: Any) -> str:
        """Interface dtype name of ``x``."""
        return standardize_dtype(self.tensor(x).dtype)

    # --- static shapes -------------------------------------------------------------------
    def out(self, var: Any, shape: Sequence[int]) -> Any:
        """``var`` with its static ``shape`` recorded (returned for chaining)."""
        var.tag.harness_shape = tuple(int(d) for d in shape)
        return var

    def shape(self, x: Any) -> tuple[int, ...]:
        """Static shape of ``x`` as a tuple of ints."""
        if not self.is_tensor(x):
            return tuple(int(d) for d in np.shape(x))
        if self.fw.is_constant(x):
            return tuple(int(d) for d in np.shape(x.data))
        known = getattr(x.tag, "harness_shape", None)
        if known is not None:
            return known
        static = getattr(x.type, "shape", None)
        if static is not None and all(d is not None for d in static):
            return tuple(int(d) for d in static)
        raise ValueError(f"the static shape of {x} is unknown: it was not made by a backend op")

    def bcast(self, x: Any) -> Any:
        """``x`` with every length-1 axis marked broadcastable, as elementwise ops need."""
        shape = self.shape(x)
        axes = [i for i, d in enumerate(shape) if d == 1 and not x.broadcastable[i]]
        return self.out(self.fw.broadcastable(x, axes), shape) if axes else x

    def elementwise(self, fn: Callable[..., Any], *xs: Any) -> Any:
        """``fn(*xs)`` for an elementwise framework op, broadcasting like NumPy."""
        shapes = [self.shape(x) for x in xs]
        try:
            shape = np.broadcast_shapes(*shapes)
        except ValueError:
            raise ValueError(f"shapes {shapes} do not broadcast together") from None
        return self.out(fn(*(self.bcast(x) for x in xs)), shape)

    # --- constants -----------------------------------------------------------------------
    def zeros(self, shape: Sequence[int], dtype: Any = "float32") -> Any:
        """A constant tensor of zeros."""
        return self.fw.constant(np.zeros(tuple(shape), dtype=self.np_dtype(dtype)))

    def ones(self, shape: Sequence[int], dtype: Any = "float32") -> Any:
        """A constant tensor of ones."""
        return self.fw.constant(np.ones(tuple(shape), dtype=self.np_dtype(dtype)))

    def stop_gradient(self, x: Any) -> Any:
        """``x`` with no gradient flowing back through it."""
        x = self.tensor(x)
        if self.fw.is_constant(x):
            return x
        return self.out(self.fw.disconnected_grad(x), self.shape(x))

    # --- evaluation ----------------------------------------------------------------------
    def to_numpy(self, x: Any) -> np.ndarray:
        """The value of ``x`` as an ndarray: a constant's data, else the expression evaluated
        (inside ``compile``, with the arrays of the call being traced)."""
        if not self.is_tensor(x):
            return np.asarray(x)
        if self.fw.is_constant(x):
            return np.array(x.data)
        known = getattr(x.tag, "harness_value", None)
        if known is not None:
            return np.array(known)
        return self.evaluate([x])[0]

    def evaluate(self, outputs: list[Any]) -> list[np.ndarray]:
        """Values of symbolic ``outputs``, computed by a one-off compiled function.

        Expressions already evaluated eagerly are substituted by their values first; values
        of expressions that depend on no compile input are remembered on the variables.
        """
        trace: dict[Any, np.ndarray] = {}
        for frame in self._traces:
            trace.update(frame)
        inputs, replace = self._leaves(outputs, trace)
        graph = self.fw.clone_replace(outputs, replace) if replace else list(outputs)
        fn = self.fw.function(inputs, graph, mode=DEFAULT_MODE, on_unused_input="ignore")
        values = [np.asarray(v) for v in fn(*(trace[i] for i in inputs))]
        if not inputs:
            for var, value in zip(outputs, values, strict=True):
                var.tag.harness_value = value
        return [np.array(v) for v in values]

    def _leaves(self, outputs: list[Any], trace: dict[Any, np.ndarray]
                ) -> tuple[list[Any], dict[Any, Any]]:
        """The compile inputs ``outputs`` depend on, and constants for evaluated ancestors."""
        inputs: list[Any] = []
        replace: dict[Any, Any] = {}
        seen: set[int] = set()
        stack = list(outputs)
        while stack:
            var = stack.pop()
            if id(var) in seen or self.fw.is_constant(var):
                continue
            seen.add(id(var))
            known = getattr(var.tag, "harness_value", None)
            if var in trace:
                inputs.append(var)
            elif known is not None and not any(var is o for o in outputs):
                replace[var] = self.fw.constant(known)
            elif var.owner is None:
                raise ValueError(
                    f"cannot evaluate {var}: it depends on a symbolic input that has no value "
                    "(evaluate graphs through compile)"
                )
            else:
                stack.extend(var.owner.inputs)
        return inputs, replace

    # --- compile -------------------------------------------------------------------------
    def compile(self, fn: Callable[..., Any], mode: Any = None, **options: Any
                ) -> Callable[..., Any]:
        """``fn`` compiled into framework functions, one per argument signature.

        The returned callable takes NumPy arrays (nested in lists, tuples or dicts; other
        leaves such as None or Python numbers are static) and returns ``fn``'s result with
        every tensor replaced by its ndarray. ``mode`` is the framework's compile mode
        (default ``FAST_COMPILE``); other options go to the framework's ``function``.
        Called on symbolic tensors (inside another ``compile``), it calls ``fn`` inline.
        """
        if not callable(fn):
            raise ValueError(f"compile needs a callable, got {type(fn).__name__}")
        cache: dict[Any, tuple[Any, Any, list[int], list[Any]]] = {}

        @functools.wraps(fn)
        def compiled(*args: Any) -> Any:
            leaves, treedef = tree.flatten(list(args), self._is_array_leaf)
            if any(self.is_tensor(v) and not self.fw.is_constant(v) for v in leaves):
                return fn(*args)
            arrays = {i: self._as_array(v) for i, v in enumerate(leaves) if self._is_array_leaf(v)}
            key = (treedef, tuple(
                (arrays[i].shape, arrays[i].dtype.name) if i in arrays else _static_key(v)
                for i, v in enumerate(leaves)))
            if key not in cache:
                cache[key] = self._trace(fn, leaves, treedef, arrays, mode, options)
            function, out_def, positions, out_leaves = cache[key]
            values = function(*arrays.values())
            result = list(out_leaves)
            for i, value in zip(positions, values, strict=True):
                result[i] = np.asarray(value)
            return tree.unflatten(out_def, result)

        return compiled

    def _is_array_leaf(self, x: Any) -> bool:
        return isinstance(x, (np.ndarray, np.generic)) or self.fw.is_constant(x)

    def _as_array(self, x: Any) -> np.ndarray:
        return np.array(x.data) if self.fw.is_constant(x) else np.asarray(x)

    def _trace(self, fn: Callable[..., Any], leaves: list[Any], treedef: Any,
               arrays: dict[int, np.ndarray], mode: Any, options: dict[str, Any]
               ) -> tuple[Any, Any, list[int], list[Any]]:
        """Call ``fn`` on symbolic inputs standing for ``arrays``; compile its result."""
        inputs = {i: self.out(self.fw.symbolic(a.dtype.name, a.shape), a.shape)
                  for i, a in arrays.items()}
        args = tree.unflatten(treedef, [inputs.get(i, v) for i, v in enumerate(leaves)])
        self._traces.append({inputs[i]: arrays[i] for i in arrays})
        try:
            result = fn(*args)
        finally:
            self._traces.pop()
        out_leaves, out_def = tree.flatten(result, self.is_tensor)
        positions = [i for i, v in enumerate(out_leaves) if self.is_tensor(v)]
        function = self.fw.function(list(inputs.values()), [out_leaves[i] for i in positions],
                                    mode=mode or DEFAULT_MODE, on_unused_input="ignore",
                                    **options)
        return function, out_def, positions, out_leaves

    @property
    def tracing(self) -> bool:
        """True while ``compile`` is calling a function on symbolic inputs."""
        return bool(self._traces)

    # --- autodiff ------------------------------------------------------------------------
    def value_and_grad(self, fn: Callable[[list[Any]], Any], values: Sequence[Any],
                       has_aux: bool = False) -> Any:
        """``fn(values)`` and its gradient with respect to each of ``values``.

        Returns ``(value, grads)`` or ``((value, aux), grads)``, grads cast to each value's
        dtype. Inside ``compile`` the results are symbolic; outside they are constants
        (the graph is compiled and run once).
        """
        if not callable(fn):
            raise ValueError(f"value_and_grad needs a callable, got {type(fn).__name__}")
        values = [self.tensor(v) for v in values]
        # a fresh input per value: gradients are per position even if two values coincide
        proxies = [self.out(self.fw.like(v), self.shape(v)) for v in values]
        out = fn(list(proxies))
        aux: Any = None
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ValueError("with has_aux=True, fn must return (value, aux)")
            out, aux = out
        out = self.tensor(out)
        if int(np.prod(self.shape(out))) != 1:
            raise ValueError(f"fn must return a scalar, got shape {self.shape(out)}")
        cost = self.T.sum(out) if out.ndim else out
        grads = self._grads(cost, proxies, values)
        aux_leaves, aux_def = tree.flatten(aux, self.is_tensor)
        aux_pos = [i for i, v in enumerate(aux_leaves) if self.is_tensor(v)]
        outputs = [out, *grads, *(aux_leaves[i] for i in aux_pos)]
        if self.tracing:
            done = self.fw.clone_replace(outputs, dict(zip(proxies, values, strict=True)))
            done = [self.out(d, self.shape(o)) for d, o in zip(done, outputs, strict=True)]
        else:
            fn_c = self.fw.function(proxies, outputs, mode=DEFAULT_MODE, on_unused_input="ignore")
            done = [self.fw.constant(np.asarray(v))
                    for v in fn_c(*(self.to_numpy(v) for v in values))]
        value, grads = done[0], done[1:1 + len(values)]
        if not has_aux:
            return value, grads
        for i, v in zip(aux_pos, done[1 + len(values):], strict=True):
            aux_leaves[i] = v
        return (value, tree.unflatten(aux_def, aux_leaves)), grads

    def _grads(self, cost: Any, proxies: list[Any], values: list[Any]) -> list[Any]:
        """Gradients of ``cost`` for each proxy, in its value's dtype (zeros for integers)."""
        floats = [i for i, v in enumerate(values) if v.dtype.startswith("float")]
        grads = self.fw.grad(cost, [proxies[i] for i in floats]) if floats else []
        by_index = dict(zip(floats, grads, strict=True))
        result = []
        for i, v in enumerate(values):
            g = by_index.get(i)
            g = self.T.zeros_like(proxies[i]) if g is None else self.T.cast(g, v.dtype)
            result.append(self.out(g, self.shape(v)))
        return result

    # --- devices -------------------------------------------------------------------------
    def device_names(self) -> list[str]:
        """Devices the framework computes on."""
        return self.fw.device_names()

    def set_device(self, name: str) -> None:
        """Place computation on ``name`` ('cpu', 'cpu:N', 'gpu', 'gpu:N'); ValueError naming
        the devices seen when it is absent."""
        if not isinstance(name, str):
            raise ValueError(f"device name must be a string, got {name!r}")
        full = name.lower() if ":" in name else f"{name.lower()}:0"
        if full not in self.device_names():
            raise ValueError(
                f"{self.fw.name} has no device {name!r}; it sees {self.device_names()}")
        self._device = full


def _holds_numpy(x: Any) -> bool:
    # numpy values carry their own dtype; only pure Python data gets the defaults
    if isinstance(x, (np.ndarray, np.generic)):
        return True
    return isinstance(x, (list, tuple)) and any(map(_holds_numpy, x))


def _static_key(x: Any) -> Any:
    """A hashable stand-in for a static compile argument (its value, or its identity)."""
    try:
        hash(x)
    except TypeError:
        return ("id", id(x))
    return (type(x).__name__, x)
