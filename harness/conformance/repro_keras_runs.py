"""Keras reproduction steps of ``determinism``, ``batch_invariance`` and ``compiled``, as the
checks compute them (``checks/values.py``) on the Keras target: fresh builds called twice,
each sample alone against the batch, and the layer's ``stateless_call`` compiled by the
framework (``jax.jit``, ``tf.function`` with and without ``jit_compile``, ``torch.compile``)
against eager. None of these checks judges the oracle; the scripts print it for information.
"""

from __future__ import annotations

from harness.conformance import data
from harness.conformance.repro_keras_builder import Builder, src_data, src_list
from harness.conformance.tolerances import Tol, lookup
from harness.errors import UsageError

#: the framework's compiler under Keras, as ``compile_fn(fn, **options)``
COMPILE = {
    "jax": '''
def compile_fn(fn, **options):
    import jax

    return jax.jit(fn, **options)
''',
    "tensorflow": '''
def compile_fn(fn, **options):
    import tensorflow as tf

    return tf.function(fn, **options)
''',
    "torch": '''
def compile_fn(fn, **options):
    import torch

    return torch.compile(fn, **options)
''',
}

COMPILED_HELPERS = '''
def pure_forward(layer, with_mask):
    """forward(xs, trainable, non_trainable[, mask]) -> outputs through the layer's
    ``stateless_call``: a pure function of the variable values, which the compiler traces."""
    takes = inspect.signature(layer.call).parameters

    def forward(xs, trainable, non_trainable, *mask):
        kwargs = {"training": TRAINING} if "training" in takes else {}
        if with_mask:
            kwargs["mask"] = mask[0]
        out, _ = layer.stateless_call(list(trainable), list(non_trainable), arg(list(xs)),
                                      **kwargs)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    return forward


def run_compiled(layer, keys, mask_key, options):
    """The layer's outputs through its compiled stateless call, as NumPy arrays."""
    compiled = compile_fn(pure_forward(layer, mask_key is not None), **options)
    args = [inputs(keys, DTYPE), [v.value for v in layer.trainable_variables],
            [v.value for v in layer.non_trainable_variables]]
    if mask_key is not None:
        args.append(mask_of(mask_key))
    return [as_numpy(o) for o in compiled(*args)]
'''


def _oracle_note(b: Builder, xs: list[str], tol: Tol, outs: str, label: str) -> str:
    """A line printing ``outs`` against the oracle, for information (not judged)."""
    if b.case.layer == "Dropout" and b.case.training:
        return ""  # a random mask: the oracle has no values for it
    inputs, mask = [b.rep.arrays[k] for k in xs], data.mask(b.case)
    want = b.oracle(b.rep.dtype, inputs, mask, "e", training=b.case.training)
    return (f"check_values({label!r}, {outs}, {src_data(want)}, atol={tol.atol!r}, "
            f"rtol={tol.rtol!r})\n")


def _determinism(b: Builder, tol: Tol) -> None:
    case, dtype = b.case, b.rep.dtype
    _, _, layer, xs, m = b.layer_call(dtype)
    # as the check: a Dropout layer in training mode is called once per build
    again = ("runs.append(runs[-1])" if case.training and case.layer == "Dropout"
             else f"runs.append(run(layer, DTYPE, {src_list(xs)}, {m!r}))")
    note = _oracle_note(b, xs, lookup(dtype, "forward", case), "runs[0]",
                        "run 0 vs oracle (for information)")
    b.step("determinism: two fresh builds with the same weights, each called twice, are bit "
           "for bit equal",
           "runs = []\n"
           "for build in range(2):\n"
           f"    layer = {layer}\n"
           f"    runs.append(run(layer, DTYPE, {src_list(xs)}, {m!r}))\n"
           f"    {again}\n"
           "ok = True\n"
           "for i, other in enumerate(runs[1:], start=1):\n"
           "    ok = check_values(f'run {i} vs run 0', other, "
           "[np.asarray(o, dtype=np.float64) for o in runs[0]],\n"
           f"                      atol={tol.atol!r}, rtol={tol.rtol!r}) and ok\n"
           f"{note}return ok\n")


def _batch_invariance(b: Builder, tol: Tol) -> None:
    _, _, layer, xs, m = b.layer_call(b.rep.dtype)
    b.step("batch_invariance: each sample computed alone (a batch of one) equals its rows of "
           "the batched outputs",
           f"layer = {layer}\n"
           f"whole = run(layer, DTYPE, {src_list(xs)}, {m!r})\n"
           "ok = True\n"
           f"for s in range(DATA[{xs[0]!r}].shape[0]):\n"
           f"    alone = run(layer, DTYPE, {src_list(xs)}, {m!r}, rows=slice(s, s + 1))\n"
           "    rows = [np.asarray(o[s:s + 1], dtype=np.float64) for o in whole]\n"
           f"    ok = check_values(f'sample {{s}}', alone, rows, atol={tol.atol!r}, "
           f"rtol={tol.rtol!r}) and ok\n"
           "return ok\n")


def _compiled(b: Builder, tol: Tol) -> None:
    variants = b.target.compile_variants()
    if not variants:
        raise UsageError(f"Keras's {b.rep.backend} backend has no compiler: its compiled check "
                         "is skipped, nothing to reproduce")
    _, _, layer, xs, m = b.layer_call(b.rep.dtype)
    b.helper(COMPILE[b.rep.backend])
    b.helper(COMPILED_HELPERS)
    for name, options in variants.items():
        note = _oracle_note(b, xs, tol, "got", f"compiled ({name}) vs oracle (for information)")
        b.step(f"compiled ({name}): the stateless call compiled with {options!r} against eager",
               f"layer = {layer}\n"
               f"eager = run(layer, DTYPE, {src_list(xs)}, {m!r})\n"
               f"got = run_compiled(layer, {src_list(xs)}, {m!r}, {options!r})\n"
               f"ok = check_values('compiled ({name}) vs eager', got, "
               "[np.asarray(e, dtype=np.float64) for e in eager],\n"
               f"                  atol={tol.atol!r}, rtol={tol.rtol!r})\n"
               f"{note}return ok\n")


STEPS = {"determinism": _determinism, "batch_invariance": _batch_invariance,
         "compiled": _compiled}
