"""The backend op interface: every backend implements exactly these functions.

Layers, losses, optimizers and models are written once against these names (through
``harness.reference.backend``, which forwards to the active backend). A backend is a
package ``harness.reference.backend.<name>`` whose ``__init__`` re-exports the functions
below from its ``core``, ``math``, ``nn`` and ``rnn`` modules, in the Keras 3 layout.

Conventions shared by every op:

* "tensor" means the backend's native tensor; every op also accepts NumPy arrays and
  Python scalars where a tensor is expected and converts them.
* Shapes are static tuples of ints; layouts are ``channels_last``.
* dtypes are named by strings: ``"float16"``, ``"bfloat16"``, ``"float32"``,
  ``"float64"``, ``"int32"``, ``"int64"``, ``"bool"``.
* Every op is differentiable through the backend's own autodiff (``value_and_grad``),
  except the comparison, ``argmax`` and integer ops.
* Randomness never lives in a backend: initial weights and dropout masks are drawn by the
  library with NumPy and converted, so that every backend sees the same numbers.

``OPS`` lists the names; ``check_backend(module)`` verifies that a backend provides them.

Besides the ops, a backend module defines ``EXECUTION``: ``"eager"`` when ops compute at once
(NumPy, TensorFlow eager, JAX, PyTorch), ``"graph"`` when they build a symbolic graph that only
``compile(fn)`` evaluates (Theano, PyTensor). Callers run graph backends through ``compile``;
``compile(fn)`` must accept NumPy arrays and nested lists of them as arguments and return
concrete results, caching one compiled function per argument signature (shapes and dtypes).
A backend with a compiler also defines ``COMPILE_VARIANTS``: named option sets for ``compile``
that the ``compiled`` check compares with eager execution (e.g. ``{"function": {}, "xla":
{"jit_compile": True}}``); NumPy has none.
"""

from __future__ import annotations

from types import ModuleType

# name -> one-line signature and meaning (the contract a backend implements)
OPS: dict[str, str] = {
    # --- core.py -------------------------------------------------------------------
    "convert_to_tensor": "(x, dtype=None) -> tensor; numpy/scalars/tensors; floats default float32",
    "to_numpy": "(x) -> np.ndarray; any tensor (also one being traced: its value) to NumPy",
    "cast": "(x, dtype) -> tensor",
    "shape": "(x) -> tuple[int, ...]; static shape",
    "dtype": "(x) -> str; dtype name as above",
    "zeros": "(shape, dtype='float32') -> tensor",
    "ones": "(shape, dtype='float32') -> tensor",
    "value_and_grad": (
        "(fn, values, has_aux=False) -> (value, grads) | ((value, aux), grads); "
        "fn(list_of_tensors) returns a scalar tensor (or (scalar, aux)); grads is a list "
        "matching values; aux is returned as concrete tensors detached from the trace"
    ),
    "stop_gradient": "(x) -> tensor; identity without gradient",
    "compile": (
        "(fn) -> callable; the backend's compiled form of a pure function of tensors "
        "(tf.function, jax.jit, torch.compile, a compiled graph); identity on numpy"
    ),
    "device_names": "() -> list[str]; devices this backend sees, e.g. ['cpu:0', 'gpu:0']",
    "set_device": (
        "(name) -> None; place tensors created from now on on 'cpu', 'gpu' or 'gpu:N' "
        "(ValueError naming the devices seen when that device is absent)"
    ),
    # --- math.py -------------------------------------------------------------------
    "add": "(a, b)", "subtract": "(a, b)", "multiply": "(a, b)", "divide": "(a, b)",
    "negative": "(x)", "power": "(x, p)", "square": "(x)", "sqrt": "(x)", "exp": "(x)",
    "log": "(x)", "log1p": "(x)", "abs": "(x)", "sign": "(x)", "tanh": "(x)", "erf": "(x)",
    "maximum": "(a, b) elementwise", "minimum": "(a, b) elementwise",
    "clip": "(x, lo, hi)",
    "where": "(cond, a, b)",
    "equal": "(a, b) -> bool", "not_equal": "(a, b) -> bool", "greater": "(a, b) -> bool",
    "greater_equal": "(a, b) -> bool", "less": "(a, b) -> bool", "less_equal": "(a, b) -> bool",
    "logical_and": "(a, b) -> bool", "logical_or": "(a, b) -> bool", "logical_not": "(x) -> bool",
    "any": "(x, axis=None, keepdims=False) -> bool",
    "all": "(x, axis=None, keepdims=False) -> bool",
    "sum": "(x, axis=None, keepdims=False); axis int or tuple",
    "mean": "(x, axis=None, keepdims=False)",
    "max": "(x, axis=None, keepdims=False)",
    "min": "(x, axis=None, keepdims=False)",
    "argmax": "(x, axis=-1) -> int64",
    "logsumexp": "(x, axis=None, keepdims=False)",
    "matmul": "(a, b); batched like np.matmul",
    "einsum": "(subscripts, *operands)",
    "isnan": "(x) -> bool",
    # --- array ops (core.py) -------------------------------------------------------
    "reshape": "(x, shape); -1 allowed",
    "transpose": "(x, axes=None)",
    "concatenate": "(xs, axis=-1)",
    "stack": "(xs, axis=0)",
    "expand_dims": "(x, axis)",
    "squeeze": "(x, axis)",
    "slice_axis": "(x, axis, start, stop) -> x[..., start:stop, ...] along axis (step 1)",
    "flip": "(x, axis)",
    "take": "(x, indices, axis=0); gather (indices int tensor/array)",
    "pad": "(x, pad_width, value=0.0); pad_width a sequence of (before, after) per axis",
    "repeat": "(x, repeats, axis); np.repeat with an int",
    "tile": "(x, reps)",
    "one_hot": "(indices, depth, dtype='float32')",
    "unstack": "(x, axis=0) -> list[tensor]",
    # --- nn.py (channels_last; N = 1, 2 or 3 spatial dims) -------------------------
    "relu": "(x)", "sigmoid": "(x)", "softplus": "(x)", "softsign": "(x)",
    "elu": "(x, alpha=1.0)", "selu": "(x)", "silu": "(x)",
    "hard_sigmoid": "(x); Keras 3: relu6(x + 3) / 6",
    "gelu": "(x, approximate=False); erf form, tanh form when approximate (keras.activations.gelu)",
    "softmax": "(x, axis=-1)", "log_softmax": "(x, axis=-1)",
    "conv": (
        "(x, kernel, strides, padding, dilation_rate) -> tensor; x (batch, *spatial, in), "
        "kernel (*kernel_size, in, out); strides/dilation_rate tuples of N ints; padding "
        "'valid' | 'same' (TensorFlow's SAME: extra padding goes after)"
    ),
    "depthwise_conv": (
        "(x, kernel, strides, padding, dilation_rate); kernel (*kernel_size, in, multiplier); "
        "output channel c*multiplier + m"
    ),
    "conv_transpose": (
        "(x, kernel, strides, padding, output_padding=None, dilation_rate=1); kernel "
        "(*kernel_size, out, in) as Keras Conv*DTranspose; output size as Keras computes it"
    ),
    "max_pool": "(x, pool_size, strides, padding) N-d",
    "avg_pool": "(x, pool_size, strides, padding) N-d; 'same' averages over valid cells only",
    # --- rnn.py --------------------------------------------------------------------
    "rnn": (
        "(step_fn, inputs, initial_states, go_backwards=False, mask=None) -> "
        "(last_output, outputs, new_states); inputs (batch, time, ...); "
        "step_fn(x_t, states) -> (output_t, new_states); where mask[b, t] is False the "
        "states are carried over and output_t repeats the previous output (Keras semantics); "
        "outputs are in the order processed (reversed when go_backwards)"
    ),
}


def check_backend(module: ModuleType) -> list[str]:
    """Return the op names ``module`` lacks (empty when it implements the interface)."""
    return sorted(name for name in OPS if not callable(getattr(module, name, None)))
