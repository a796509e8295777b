"""Keras reproduction steps of ``serialization`` and ``portability``, as the checks compute them
on the Keras target (``checks/serialization.py``, ``checks/portability.py``).

Serialization scripts save a functional model around the layer in every format the target
saves (``.keras``, ``.h5``, ``.weights.h5``) themselves, load it and compare config, weights and
outputs with the layer before saving, bit for bit. Portability scripts embed the files Keras on
each other backend saved (in its own process, as the check has them saved) and load them under
the script's ``KERAS_BACKEND``: weights and outputs against that backend's, outputs against the
oracle. Both also judge the outputs before saving / as saved against the oracle.
"""

from __future__ import annotations

import numpy as np

from harness.conformance import data, expected
from harness.conformance.repro_keras_builder import Builder, src_data, src_list
from harness.conformance.targets.keras3 import FORMATS
from harness.conformance.targets.keras3_saved import SavedModels
from harness.conformance.tolerances import Tol, lookup
from harness.errors import UsageError

SAVING_HELPERS = '''
def model_around(layer):
    """A functional model whose only layer is ``layer`` (Keras saves models, not layers)."""
    ins = [keras.Input(shape=shape, dtype=dtype) for shape, dtype in INPUT_SPECS]
    return keras.Model(ins, layer(ins if MULTI_INPUT else ins[0]))


def load_layer(path):
    """The layer of the model saved at ``path``; a ``.weights.h5`` file holds weights only,
    so the layer is made from the case's config and its weights are loaded into it."""
    if path.endswith(".weights.h5"):
        layer = make_layer(DTYPE)
        model_around(layer).load_weights(path)
        return layer
    model = keras.saving.load_model(path)
    (layer,) = [la for la in model.layers if not isinstance(la, keras.layers.InputLayer)]
    return layer


def weights_of(layer):
    return [as_numpy(v.value).astype(np.float64) for v in layer.weights]


def same_config(label, got, want):
    """True when two layers' configs are equal (their names aside); prints the difference."""
    import json

    def canonical(layer):
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        return json.dumps(config, sort_keys=True, default=str)

    ok = canonical(got) == canonical(want)
    print(f"{label}: config {'unchanged' if ok else 'changed'}")
    if not ok:
        print(f"  before: {canonical(want)}")
        print(f"  after:  {canonical(got)}")
    return ok
'''


def _input_specs(b: Builder) -> list[tuple[tuple[int, ...], str]]:
    """Each model input's shape (batch-less) and dtype, as the Keras target declares them."""
    return [(tuple(spec.shape[1:]), "int32" if spec.kind == "int" else b.rep.dtype)
            for spec in b.case.inputs]


def _serialization(b: Builder, tol: Tol) -> None:
    case, dtype = b.case, b.rep.dtype
    inputs, mask, layer, xs, m = b.layer_call(dtype)
    want = b.oracle(dtype, inputs, mask, "e", training=False)
    fwd = lookup(dtype, "forward", case)
    b.rep.constants["INPUT_SPECS"] = _input_specs(b)
    b.helper(SAVING_HELPERS)
    exact = "atol=0.0, rtol=0.0"
    before = (f"layer = {layer}\n"
              f"before = run(layer, DTYPE, {src_list(xs)}, {m!r}, training=False)\n"
              "before64 = [np.asarray(o, dtype=np.float64) for o in before]\n")
    b.step("config round trip: from_config(get_config()) with the same weights gives the same "
           "config and outputs bit for bit",
           before +
           f"ok = check_values('before saving vs oracle', before, {src_data(want)}, "
           f"atol={fwd.atol!r}, rtol={fwd.rtol!r})\n"
           "clone = type(layer).from_config(layer.get_config())\n"
           "clone(arg(inputs(BUILD_INPUTS, DTYPE)))\n"
           "clone.set_weights(layer.get_weights())\n"
           "ok = same_config('from_config', clone, layer) and ok\n"
           f"outs = run(clone, DTYPE, {src_list(xs)}, {m!r}, training=False)\n"
           f"return check_values('from_config outputs vs before', outs, before64, {exact}) "
           "and ok\n")
    for fmt, suffix in FORMATS.items():
        save = ("model_around(layer).save_weights(path)" if fmt == "weights.h5"
                else "model_around(layer).save(path)")
        b.step(f"{fmt}: save a model around the layer as {suffix}, load it, compare with the "
               "layer before saving bit for bit",
               before +
               "with tempfile.TemporaryDirectory() as folder:\n"
               f"    path = os.path.join(folder, 'model{suffix}')\n"
               f"    {save}\n"
               "    loaded = load_layer(path)\n"
               f"    ok = check_values('{fmt} weights', weights_of(loaded), weights_of(layer), "
               f"{exact})\n"
               f"    outs = run(loaded, DTYPE, {src_list(xs)}, {m!r}, training=False)\n"
               f"    ok = check_values('{fmt} outputs', outs, before64, {exact}) and ok\n"
               f"    return same_config('{fmt}', loaded, layer) and ok\n")


def _key(text: str) -> str:
    return text.replace(".", "_")


def _portability(b: Builder, tol: Tol) -> None:
    case, dtype, backend = b.case, b.rep.dtype, b.rep.backend
    tol = lookup(dtype, "forward", case)  # the check compares with the forward tolerance
    sources = b.target.portability_sources()
    if not sources:
        raise UsageError(f"no Keras backend besides {backend} is installed here: no saved "
                         "models to load")
    inputs, mask = data.inputs(case, dtype), data.mask(case)
    b.layer(dtype)  # the weight names; the scripts load the other backends' layers
    xs, m = b.inputs("x", inputs, dtype), b.mask("mask", mask)
    b.rep.constants["INPUT_SPECS"] = _input_specs(b)
    b.rep.constants["SAVED_ON"] = []
    b.helper(SAVING_HELPERS)
    for source in sources:
        saved = b.target.saved_on(source, case, dtype)
        if saved is None:
            continue  # Keras on the source has no such dtype: the check skips it too
        b.rep.constants["SAVED_ON"].append(source)
        _portability_from(b, source, saved, xs, m, inputs, mask, tol)
    if not b.rep.constants["SAVED_ON"]:
        raise UsageError(f"no other Keras backend computes in {dtype}: nothing to reproduce")


def _portability_from(b: Builder, source: str, saved: SavedModels, xs: list[str], m: str | None,
                      inputs: list[np.ndarray], mask: np.ndarray | None, tol: Tol) -> None:
    """The steps loading what Keras on ``source`` saved: one per format, and one per format
    it could not save (what it raised there, recorded: only that backend can replay it)."""
    pair = f"{source}->{b.rep.backend}"
    for fmt, why in saved.errors.items():
        b.step(f"{pair}: Keras on {source} could not save {fmt} when dl-harness asked",
               f"print({f'{source} raised: {why}'!r})\nreturn False\n")
    if not saved.paths:
        return
    sw = [b.put(f"{source}_w{i}", w) for i, w in enumerate(saved.weights)]
    so = [b.put(f"{source}_out{i}", o) for i, o in enumerate(saved.outputs)]
    oracle = expected.forward(b.case, saved.weights, inputs, False, mask)
    se = [b.put(f"{source}_e{i}", o) for i, o in enumerate(oracle)]
    limits = f"atol={tol.atol!r}, rtol={tol.rtol!r}"
    for fmt, path in sorted(saved.paths.items()):
        with open(path, "rb") as handle:
            key = b.put(_key(f"{source}_file_{fmt}"), np.frombuffer(handle.read(), np.uint8))
        b.step(f"{pair} {fmt}: load the {FORMATS[fmt]} file Keras on {source} saved; weights "
               f"and outputs against {source}'s, outputs against the oracle",
               "with tempfile.TemporaryDirectory() as folder:\n"
               f"    path = os.path.join(folder, 'model{FORMATS[fmt]}')\n"
               "    with open(path, 'wb') as handle:\n"
               f"        handle.write(DATA[{key!r}].tobytes())\n"
               "    layer = load_layer(path)\n"
               f"    ok = check_values('{pair} {fmt} weights', weights_of(layer), "
               f"{src_data(sw)}, {limits})\n"
               f"    got = run(layer, DTYPE, {src_list(xs)}, {m!r}, training=False)\n"
               f"    ok = check_values('{pair} {fmt} outputs', got, {src_data(so)}, {limits}) "
               "and ok\n"
               f"    return check_values('{pair} {fmt} outputs vs oracle', got, {src_data(se)}, "
               f"{limits}) and ok\n")


STEPS = {"serialization": _serialization, "portability": _portability}
