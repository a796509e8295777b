"""How a script runs its recorded programs: on an eager backend or on a graph backend.

Every script calls ``run_layer(program, xs, ws, mask)`` on NumPy data (``(array, dtype)``
pairs) and gets NumPy outputs, ``run_compiled`` for the compiled check and
``layer_gradients`` for the backward check. On an eager backend (NumPy, TensorFlow, JAX,
PyTorch) ``run_layer`` converts the data to tensors and calls the program; on a graph backend
(PyTensor, Theano) it calls the program on symbolic inputs, compiles the graph with the
framework's ``function`` and runs it, as dl-harness's ``compile`` does. The ops of a graph
backend are methods of one object (``framework.ops``); the script gets its class with only the
methods the programs and these runners call (and what those reach).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from string import Template
from types import ModuleType
from typing import Any

#: ops each runner calls, besides those of the recorded programs
RUNNER_OPS = {
    "eager": {"run": ("convert_to_tensor", "to_numpy"), "compiled": ("compile",),
              "gradients": ("value_and_grad", "sum", "multiply", "add")},
    "graph": {"run": (), "compiled": (), "gradients": ("sum", "multiply", "add")},
}

EAGER_RUN = '''
def run_layer(program, xs, ws, mask):
    """Run a recorded program eagerly on $backend: the (array, dtype) pairs become tensors;
    the outputs come back as NumPy arrays."""
    xs = [$convert_to_tensor(a, dtype=d) for a, d in xs]
    ws = [$convert_to_tensor(a, dtype=d) for a, d in ws]
    mask = None if mask is None else $convert_to_tensor(mask, dtype='bool')
    return [None if o is None else $to_numpy(o) for o in program(xs, ws, mask)]
'''

EAGER_COMPILED = '''
def run_compiled(program, xs, ws, mask, options):
    """The program compiled by the backend's compile(program, **options) (the function
    below wraps $backend's compiler), called on the same data as tensors."""
    compiled = $compile(program, **options)
    xs = [$convert_to_tensor(a, dtype=d) for a, d in xs]
    ws = [$convert_to_tensor(a, dtype=d) for a, d in ws]
    mask = None if mask is None else $convert_to_tensor(mask, dtype='bool')
    return [$to_numpy(o) for o in compiled(xs, ws, mask)]
'''

EAGER_GRADIENTS = '''
def layer_gradients(program, xs, ws, mask, cots, wrt, trainable):
    """Gradients of sum(output * cotangent) with respect to the inputs `wrt` and the weights
    `trainable`, by $backend's own autodiff (value_and_grad); as NumPy arrays."""
    xs = [$convert_to_tensor(a, dtype=d) for a, d in xs]
    ws = [a for a, _ in ws]  # as dl-harness does: weights go to value_and_grad as NumPy arrays
    mask = None if mask is None else $convert_to_tensor(mask, dtype='bool')
    cots = [$convert_to_tensor(c) for c in cots]

    def objective(values):
        # sum(output * cotangent) as a function of the chosen inputs and weights
        x_now, w_now = list(xs), list(ws)
        for k, i in enumerate(wrt):
            x_now[i] = values[k]
        for k, i in enumerate(trainable):
            w_now[i] = values[len(wrt) + k]
        total = None
        for o, c in zip(program(x_now, w_now, mask), cots):
            term = $sum($multiply(o, c))
            total = term if total is None else $add(total, term)
        return total

    start = [xs[i] for i in wrt] + [ws[i] for i in trainable]
    _, grads = $value_and_grad(objective, start)
    return [$to_numpy(g) for g in grads]
'''

GRAPH_RUN = '''
# dl-harness compiles graphs in FAST_COMPILE mode unless the compiled check asks otherwise
DEFAULT_MODE = 'FAST_COMPILE'
_FUNCTIONS = {}


def _arrays(xs, ws, mask):
    """The data as the arrays the compiled function takes: inputs, weights, then the mask."""
    arrays = [np.asarray(a, dtype=d or a.dtype) for a, d in xs + ws]
    return arrays + ([] if mask is None else [np.asarray(mask, dtype=bool)])


def _symbolic(arrays):
    """A symbolic $framework input per array, of its dtype and static shape (length-1 axes
    broadcastable; the shape noted on the variable, which the backend's ops read)."""
    return [$ops.out($ops.fw.symbolic(a.dtype.name, a.shape), a.shape) for a in arrays]


def _graph(program, inputs, n_x, n_w, with_mask):
    """The program called on symbolic inputs: its symbolic outputs."""
    mask = inputs[-1] if with_mask else None
    return program(inputs[:n_x], inputs[n_x:n_x + n_w], mask)


def run_layer(program, xs, ws, mask, mode=DEFAULT_MODE):
    """Build the program's graph on symbolic inputs shaped like the data, compile it with
    $framework's function() in `mode` and run it on the data; NumPy outputs. One compiled
    function per program, data signature and mode, as dl-harness caches them."""
    arrays = _arrays(xs, ws, mask)
    key = (program.__name__, str(mode), tuple((a.shape, a.dtype.name) for a in arrays))
    if key not in _FUNCTIONS:
        inputs = _symbolic(arrays)
        outs = _graph(program, inputs, len(xs), len(ws), mask is not None)
        kept = [i for i, o in enumerate(outs) if o is not None]
        # $ops.fw.function is $framework.function(inputs, outputs, mode=..., ...)
        fn = $ops.fw.function(inputs, [outs[i] for i in kept], mode=mode,
                              on_unused_input='ignore')
        _FUNCTIONS[key] = (fn, len(outs), kept)
    fn, n_out, kept = _FUNCTIONS[key]
    result = [None] * n_out
    for i, value in zip(kept, fn(*arrays)):
        result[i] = np.asarray(value)
    return result
'''

GRAPH_COMPILED = '''
def run_compiled(program, xs, ws, mask, options):
    """The program's graph compiled with the compiled check's options (its mode)."""
    return run_layer(program, xs, ws, mask, **options)
'''

GRAPH_GRADIENTS = '''
def layer_gradients(program, xs, ws, mask, cots, wrt, trainable):
    """Gradients of sum(output * cotangent) with respect to the inputs `wrt` and the weights
    `trainable`, by $framework.grad on the program's graph, compiled and run on the data."""
    arrays = _arrays(xs, ws, mask)
    inputs = _symbolic(arrays)
    n_x, n_w = len(xs), len(ws)
    outs = _graph(program, inputs, n_x, n_w, mask is not None)
    cost = None
    for o, c in zip(outs, cots):
        term = $sum($multiply(o, c))
        cost = term if cost is None else $add(cost, term)
    wrt_vars = [inputs[i] for i in wrt] + [inputs[n_x + i] for i in trainable]
    # $ops.fw.grad is $framework.grad(cost, wrt, disconnected_inputs='ignore',
    # return_disconnected='zero')
    grads = $ops.fw.grad(cost, wrt_vars)
    fn = $ops.fw.function(inputs, grads, mode=DEFAULT_MODE, on_unused_input='ignore')
    return [np.asarray(g) for g in fn(*arrays)]
'''

THEANO_PRELUDE = '''
import os

# as dl-harness runs Theano: a per-user compile cache and no external BLAS, unless the
# THEANO_FLAGS environment variable says otherwise (Theano reads it once, at import)
if not os.environ.get("THEANO_FLAGS"):
    os.environ["THEANO_FLAGS"] = "blas.ldflags=,base_compiledir=" + os.path.join(
        os.path.expanduser("~"), ".cache", "dl-harness", "theano")
'''

_TEMPLATES = {
    "eager": {"run": EAGER_RUN, "compiled": EAGER_COMPILED, "gradients": EAGER_GRADIENTS},
    "graph": {"run": GRAPH_RUN, "compiled": GRAPH_COMPILED, "gradients": GRAPH_GRADIENTS},
}


def execution_of(module: Any) -> str:
    """``eager`` or ``graph``: how the backend module computes (its ``EXECUTION``)."""
    return str(getattr(module, "EXECUTION", "eager"))


def graph_ops_name(inliner: Any, module: ModuleType) -> str:
    """Copy a graph backend's ops object (``<backend>.framework.ops``) into the script, with
    the members the graph runners use (``ops.out``, ``ops.fw.function``, ...); its name there."""
    name: str = inliner.require(f"{module.__name__}.framework", "ops")
    uses = {chain for text in _TEMPLATES["graph"].values()
            for chain in re.findall(r"\$ops((?:\.\w+)+)", text)}
    inliner.uses("\n".join(f"{name}{chain}" for chain in sorted(uses)))
    return name


def op_namer(inliner: Any, module: Any) -> Callable[[str], str]:
    """``name(op)``: what the script calls backend op ``op``, copying its source on first use
    (one function per op on an eager backend; ``ops.<op>`` on a graph backend, which copies
    that method of the ops object's class)."""
    if execution_of(module) == "graph":
        ops = graph_ops_name(inliner, module)

        def graph_op(op: str) -> str:
            inliner.uses(f"{ops}.{op}")
            return f"{ops}.{op}"

        return graph_op
    return lambda op: inliner.function(getattr(module, op), module.__name__)


def runner_ops(execution: str, parts: set[str]) -> set[str]:
    """The ops the runner ``parts`` (run, compiled, gradients) call on ``execution``."""
    needed: set[str] = set()
    for part in parts | {"run"}:
        needed |= set(RUNNER_OPS[execution][part])
    return needed


def runner_source(execution: str, parts: set[str], names: dict[str, str], backend: str,
                  ops_name: str | None) -> str:
    """The script's runner functions for ``parts`` (``run`` always) with op ``names``."""
    values = {"backend": backend, "framework": backend, "ops": ops_name or "ops", **names}
    texts = [Template(_TEMPLATES[execution][part]).substitute(values)
             for part in ("run", "compiled", "gradients") if part == "run" or part in parts]
    return "\n".join(texts)


def prelude(backend: str) -> str:
    """Code the script runs before importing the framework (Theano's flags)."""
    return THEANO_PRELUDE if backend == "theano" else ""
