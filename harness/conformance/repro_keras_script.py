"""Render a ``repro_keras.KerasReproduction`` as the text of a standalone Python script.

The script sets ``KERAS_BACKEND``, builds the layer with ``keras.layers.<Name>(**config)``,
calls it once on the case's inputs (which builds it), sets the case's weights and runs the
check's steps, printing each one's errors against the stored oracle values. It imports Keras,
its backend's framework and NumPy, never dl-harness. The comparison helpers are the ones the
reference library's scripts embed (``repro_script.HELPERS``).
"""

from __future__ import annotations

import base64
import io
import json
import sys
import textwrap
from typing import Any

import numpy as np

from harness import __version__
from harness.conformance.repro_script import HELPERS

#: how the script builds, feeds and runs the layer (the adapter's own conventions)
LAYER_HELPERS = '''
def tensor(array, dtype):
    """A Keras tensor of ``array``: booleans stay bool, token ids become int32."""
    if array.dtype.kind == "b":
        return keras.ops.convert_to_tensor(array, dtype="bool")
    if array.dtype.kind in "iu":
        return keras.ops.convert_to_tensor(array, dtype="int32")
    return keras.ops.convert_to_tensor(array, dtype=dtype)


def as_numpy(value):
    array = np.asarray(keras.ops.convert_to_numpy(value))
    if array.dtype.kind == "V" or str(array.dtype) == "bfloat16":  # NumPy has no bfloat16
        return array.astype(np.float32)
    return array


def arg(xs):
    return xs if MULTI_INPUT else xs[0]


def device_scope():
    """The device the failing run used (none: the framework's default)."""
    return keras.device(DEVICE) if DEVICE else contextlib.nullcontext()


def inputs(keys, dtype):
    return [tensor(DATA[k], dtype) for k in keys]


def mask_of(key):
    return None if key is None else keras.ops.convert_to_tensor(DATA[key], dtype="bool")


def built_layer(dtype, weight_keys):
    """The layer in ``dtype``, built by one call on the case's inputs, with the case's
    weights (``weight_keys`` None: keep Keras's own initial weights)."""
    layer = make_layer(dtype)
    layer(arg(inputs(BUILD_INPUTS, dtype)))
    if weight_keys is not None:
        layer.set_weights([DATA[k] for k in weight_keys])
    return layer


def run(layer, dtype, keys, mask_key, training=None, rows=None):
    """The layer's eager outputs on the arrays ``keys`` (``rows``: those samples only), as
    NumPy arrays; ``training`` None: the case's own mode."""
    pick = (lambda a: a) if rows is None else (lambda a: a[rows])
    kwargs = {"training": TRAINING if training is None else training}
    if mask_key is not None:  # layers without a mask argument refuse the keyword
        kwargs["mask"] = keras.ops.convert_to_tensor(pick(DATA[mask_key]), dtype="bool")
    xs = [tensor(pick(DATA[k]), dtype) for k in keys]
    out = layer(arg(xs), **kwargs)
    return [as_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def check_dtypes(label, outs, want):
    """True when every float output has dtype ``want``."""
    got = [str(o.dtype) for o in outs]
    ok = all(g == want for g, o in zip(got, outs) if o.dtype.kind == "f")
    print(f"{label}: output dtypes {got}, expected {want}")
    return ok
'''

SHAPE_HELPERS = '''
def check_declared(layer, input_shapes, outs):
    """compute_output_shape on batch-less shapes agrees with the outputs' shapes."""
    declared = layer.compute_output_shape(arg(input_shapes))
    if all(d is None or isinstance(d, (int, np.integer)) for d in declared):
        declared = [declared]
    declared = [tuple(d) for d in declared]
    actual = [(None, *o.shape[1:]) for o in outs]
    print(f"compute_output_shape: {declared}, actual {actual}")
    return declared == actual
'''

MASK_HELPERS = '''
def check_mask(layer, keys, mask_key, want_key):
    """The mask the layer emits equals the oracle's (``want_key`` None: no mask)."""
    got = layer.compute_mask(arg(inputs(keys, DTYPE)), mask_of(mask_key))
    if isinstance(got, (list, tuple)):
        got = got[0]
    got = None if got is None else as_numpy(got).astype(bool)
    want = None if want_key is None else DATA[want_key]
    show = lambda m: "None" if m is None else np.array2string(m.astype(int), separator="")
    ok = (got is None and want is None) or (
        got is not None and want is not None and np.array_equal(got, want))
    print(f"emitted mask {show(got)}, oracle {show(want)}")
    return ok


def visible(outs, steps):
    """Outputs at unmasked time steps (sequence outputs) or whole outputs (reductions)."""
    return [o[steps] if o.ndim >= 2 and o.shape[:2] == steps.shape else o for o in outs]
'''

GRADIENT_HELPERS = '''
def gradients(layer, keys, mask_key, cotangent_keys, wrt):
    """d sum(output * cotangent) w.r.t. the inputs ``wrt`` and the trainable weights (in
    ``layer.weights`` order), by the backend's autodiff over ``layer.stateless_call``."""
    xs = inputs(keys, DTYPE)
    takes = inspect.signature(layer.call).parameters
    kwargs = {"training": TRAINING} if "training" in takes else {}
    if mask_key is not None:
        kwargs["mask"] = mask_of(mask_key)
    trainable = list(layer.trainable_variables)
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def objective(values):
        x_now = list(xs)
        for k, i in enumerate(wrt):
            x_now[i] = values[k]
        out, _ = layer.stateless_call(list(values[len(wrt):]), non_trainable, arg(x_now),
                                      **kwargs)
        total = None
        for o, key in zip(out if isinstance(out, (list, tuple)) else [out], cotangent_keys):
            c = keras.ops.convert_to_tensor(DATA[key], dtype=o.dtype)
            term = keras.ops.sum(keras.ops.multiply(o, c))
            total = term if total is None else keras.ops.add(total, term)
        return total

    grads = [as_numpy(g).astype(np.float64)
             for g in grad(objective, [xs[i] for i in wrt] + [v.value for v in trainable])]
    position = {id(v): k for k, v in enumerate(trainable)}
    order = [position[id(v)] for v in layer.weights if id(v) in position]
    return grads[:len(wrt)], [grads[len(wrt) + k] for k in order]
'''

#: the framework's autodiff under Keras, as ``grad(objective, values) -> gradients``
GRAD = {
    "jax": '''
def grad(objective, values):
    import jax

    return list(jax.grad(objective)(list(values)))
''',
    "tensorflow": '''
def grad(objective, values):
    import tensorflow as tf

    watched = [tf.convert_to_tensor(v) for v in values]
    with tf.GradientTape() as tape:
        for v in watched:
            tape.watch(v)
        total = objective(watched)
    return list(tape.gradient(total, watched,
                              unconnected_gradients=tf.UnconnectedGradients.ZERO))
''',
    "torch": '''
def grad(objective, values):
    import torch

    leaves = [v.detach().clone().requires_grad_(True) for v in values]
    grads = torch.autograd.grad(objective(leaves), leaves, allow_unused=True)
    return [torch.zeros_like(v) if g is None else g for g, v in zip(grads, leaves)]
''',
}


def constructor(class_name: str, config: dict[str, Any], dtype: str) -> str:
    """Python source that makes the layer: ``keras.layers.<Name>(**config)``, nested layers
    (wrappers) made the same way, every layer in the variable ``dtype`` names."""
    parts = []
    for key, value in config.items():
        if key == "dtype":
            continue
        if isinstance(value, dict) and "class_name" in value and "config" in value:
            text = constructor(value["class_name"], value["config"], dtype)
        else:
            text = repr(_plain(value))
        parts.append(f"{key}={text}" if key.isidentifier() else f"**{{{key!r}: {text}}}")
    parts.append(f"dtype={dtype}")
    return f"keras.layers.{class_name}({', '.join(parts)})"


def _plain(value: Any) -> Any:
    """JSON-like values as Python literals (tuples from the catalogue become lists)."""
    return json.loads(json.dumps(value))


def _blob(arrays: dict[str, np.ndarray]) -> str:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    chunks = textwrap.wrap(base64.b64encode(buffer.getvalue()).decode("ascii"), 88)
    return "DATA_NPZ = [\n" + "".join(f'    "{c}",\n' for c in chunks) + "]\n"


def _header(rep: Any) -> str:
    case = rep.case
    lines = [f"Standalone reproduction: {case.id} (keras.layers.{case.layer}), check "
             f"{rep.check!r}, Keras {rep.versions.get('keras', '?')} on {rep.backend} "
             f"{rep.versions.get(rep.backend, '?')}, dtype {rep.dtype}, device {rep.device}.",
             "",
             f"Inputs: {[tuple(s.shape) for s in case.inputs]} (batch first); "
             f"weights: {', '.join(rep.weight_names) or 'none'}."]
    if rep.result:
        lines.append(f"Recorded outcome: {rep.result.get('outcome')}"
                     + (f" - {rep.result['message']}" if rep.result.get("message") else ""))
    lines += ["", "Keras runs the layer on its own; nothing here imports dl-harness. Expected",
              "values come from dl-harness's independent float64 NumPy oracle; a value passes",
              "when |got - expected| <= atol + rtol * |expected| (each step prints its own).",
              "", "Exit status: 0 when every step is within tolerance, 1 when one is not or",
              "Keras raises.",
              f"Made by dl-harness {__version__}: harness conform --repro {case.id} --library "
              f"keras --backend {rep.backend} --dtype {rep.dtype} --check {rep.check}"
              + (f" --device {rep.device}" if rep.device != "cpu" else "")]
    return '"""' + "\n".join(textwrap.fill(line, 92) if line else ""
                             for line in lines).replace('"""', "'''") + '\n"""'


MAIN = """
def main():
    ok = True
    for step in STEPS:
        print(f"--- {step.__doc__}")
        try:
            with device_scope():
                ok = step() and ok
        except Exception:  # Keras raising is the finding: show it and go on
            traceback.print_exc(file=sys.stdout)
            ok = False
    print("OK: within tolerance" if ok else "MISMATCH: reproduced the failure")
    return 0 if ok else 1


DATA = load_data()

if __name__ == "__main__":
    sys.exit(main())
"""

IMPORTS = """from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = {backend!r}  # before Keras is imported: it binds its backend then
{x64}
import base64  # noqa: E402
import contextlib  # noqa: E402
import inspect  # noqa: E402
import io  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import traceback  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
"""


def _jax_x64(backend: str) -> str:
    """Lines turning on 64-bit JAX when the process that ran the check had it on (another
    library in that process, such as the reference library's JAX backend, may have set it, and
    Keras on JAX then computes float64 for real); empty otherwise."""
    jax = sys.modules.get("jax")
    if backend != "jax" or jax is None or not jax.config.jax_enable_x64:
        return ""
    return ('import jax  # noqa: E402\n\n'
            'jax.config.update("jax_enable_x64", True)  # as in the run this reproduces\n')


def render(rep: Any) -> str:
    """The script's source text for a ``repro_keras.KerasReproduction``."""
    helpers = [HELPERS, LAYER_HELPERS]
    if rep.check == "shape":
        helpers.append(SHAPE_HELPERS)
    if rep.check == "masking":
        helpers.append(MASK_HELPERS)
    if rep.check == "backward":
        helpers += [GRAD[rep.backend], GRADIENT_HELPERS]
    helpers += rep.helpers
    steps = [f'def step_{n}():\n    """{label}"""\n' + textwrap.indent(body, "    ")
             for n, (label, body) in enumerate(rep.steps)]
    device = rep.keras_device if rep.device != "cpu" else None
    parts = [
        "#!/usr/bin/env python3", _header(rep),
        IMPORTS.format(backend=rep.backend, x64=_jax_x64(rep.backend)),
        f"DTYPE = {rep.dtype!r}\nDEVICE = {device!r}\nTRAINING = {rep.case.training!r}\n"
        f"MULTI_INPUT = {rep.case.multi_input!r}\nBUILD_INPUTS = {rep.build_inputs!r}\n"
        + "".join(f"{name} = {value!r}\n" for name, value in rep.constants.items()),
        f"\ndef make_layer(dtype):\n    return {constructor(rep.case.layer, rep.config, 'dtype')}"
        "\n",
        *helpers,
        "\n# ---- data: inputs, weights, expected values (base64 npz, exact) ----",
        _blob(rep.arrays),
        "\n" + "\n\n".join(steps),
        f"\nSTEPS = [{', '.join(f'step_{n}' for n in range(len(steps)))}]\n",
        MAIN,
    ]
    return "\n".join(parts)
