"""The Keras 3 target: the reference library and Keras agree layer for layer, and the adapter's
gradients, saving, training and backend handling are right (hand-computed expectations).

Runs where Keras and one of its backends are installed; Keras picks its backend at import, so
this module picks one first (``KERAS_BACKEND`` if set, else the first installed of jax,
tensorflow, torch).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from kerasenv import keras_backend

from harness.conformance import cases, data
from harness.conformance.compare import compare
from harness.conformance.tolerances import lookup
from harness.errors import UsageError

BACKEND = keras_backend()
if BACKEND is None or importlib.util.find_spec("keras") is None:
    pytest.skip("needs keras and one of jax, tensorflow, torch", allow_module_level=True)
os.environ.setdefault("KERAS_BACKEND", BACKEND)  # before Keras is first imported
keras = pytest.importorskip("keras")

from harness.conformance.targets import keras3, make_target  # noqa: E402


@pytest.fixture(scope="module")
def target():
    return make_target("keras", BACKEND)


@pytest.fixture(scope="module")
def reference():
    return make_target("reference", "numpy")


# --- the reference library and Keras 3 compute the same thing --------------------------------
SAME_AS_KERAS = ["Dense-linear", "Dense-tanh-3d", "Conv2D-same-s2", "Conv2D-dilation2-same",
                 "LSTM-seq", "LSTM-mask", "GRU-last", "GRU-reset_before",
                 "BatchNormalization-inference", "BatchNormalization-training",
                 "Bidirectional-LSTM-concat", "Bidirectional-GRU-sum"]


@pytest.mark.parametrize("case_id", SAME_AS_KERAS)
def test_reference_and_keras_agree_given_the_same_weights(case_id, target, reference):
    case = cases.get(case_id)
    ours = reference.build(case, "float32")
    theirs = target.build(case, "float32")
    # the same variables in the same (Keras) order
    assert [w.shape for w in reference.get_weights(ours)] == \
        [w.shape for w in target.get_weights(theirs)]
    assert ours.trainable == theirs.trainable
    # Keras gets the reference layer's weights, scaled so that nothing matches by accident
    weights = [data.round_to(1.5 * w if "variance" not in n else w, "float32")
               for w, n in zip(reference.get_weights(ours), ours.weight_names,
                               strict=True)]
    reference.set_weights(ours, weights)
    target.set_weights(theirs, weights)
    inputs, mask = data.inputs(case, "float32"), data.mask(case)
    got = target.forward(theirs, inputs, training=case.training, mask=mask)
    want = reference.forward(ours, inputs, training=case.training, mask=mask)
    result = compare(got, want, lookup("float32", "forward", case))
    assert result.ok, result.message
    assert all(o.dtype == np.float32 for o in got)


# --- adapter mechanics ---------------------------------------------------------------------
def test_keras_object_names_the_module_of_every_nested_layer():
    config = {"layer": {"class_name": "LSTM", "config": {"units": 3}}, "merge_mode": "sum"}
    obj = keras3.keras_object("Bidirectional", config)
    assert obj["module"] == "keras.layers"
    assert obj["config"]["layer"] == {"class_name": "LSTM", "config": {"units": 3},
                                      "module": "keras.layers"}
    assert "module" not in config["layer"]  # the case's config is left alone


def test_one_process_runs_one_keras_backend(target):
    other = "tensorflow" if BACKEND != "tensorflow" else "jax"
    with pytest.raises(UsageError, match=f"already runs on {BACKEND}"):
        make_target("keras", other)
    with pytest.raises(UsageError, match="no 'theano' backend"):
        make_target("keras", "theano")
    assert make_target("keras", BACKEND).backend == BACKEND
    with pytest.raises(UsageError, match="no device 'gpu:7'"):
        make_target("keras", BACKEND, "gpu:7")


def test_backend_comes_from_the_target_not_the_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    code = textwrap.dedent(f"""
        from harness.conformance.targets import make_target
        t = make_target("keras", {BACKEND!r})
        import keras, os
        print(keras.backend.backend(), os.environ["KERAS_BACKEND"])
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-2:] == [BACKEND, BACKEND]


def test_dense_gradients_equal_the_hand_derived_ones(target):
    case = cases.get("Dense-linear")  # y = x W + b, W: 3x4
    built = target.build(case, "float32")
    w, b = target.get_weights(built)
    (x,) = data.inputs(case, "float32")
    c = data.round_to(np.arange(8, dtype=np.float64).reshape(2, 4) / 8 - 0.5, "float32")
    gx, (gw, gb) = target.gradients(built, [x], [c], [0])
    tol = lookup("float32", "backward")
    # d/dx sum(y*c) = c W^T; d/dW = x^T c; d/db = column sums of c
    for got, want in ((gx[0], c @ w.T), (gw, x.T @ c), (gb, c.sum(axis=0))):
        np.testing.assert_allclose(got, want, atol=tol.atol, rtol=tol.rtol)
    np.testing.assert_allclose(target.forward(built, [x])[0], x @ w + b, atol=1e-5, rtol=1e-5)


def test_batchnorm_gradients_cover_only_gamma_and_beta(target):
    case = cases.get("BatchNormalization-inference")
    built = target.build(case, "float32")
    assert built.trainable == [True, True, False, False]
    gamma, beta, mean, var = target.get_weights(built)
    (x,) = data.inputs(case, "float32")  # (2, 4, 3): 8 positions per channel
    c = np.ones(x.shape)
    _, grads = target.gradients(built, [x], [c], [0])
    assert len(grads) == 2
    normalized = (x - mean) / np.sqrt(var + 1e-3)  # Keras's default epsilon
    np.testing.assert_allclose(grads[0], normalized.sum(axis=(0, 1)), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(grads[1], [8.0, 8.0, 8.0], atol=1e-5)


def test_output_shape_of_a_layer_keras_answers_with_a_list(target):
    built = target.build(cases.get("Conv2DTranspose-valid"), "float32")
    assert target.output_shape(built, [(None, 4, 4, 3)]) == [(None, 6, 6, 2)]
    added = target.build(cases.get("Add"), "float32")
    assert target.output_shape(added, [(None, 3, 4), (None, 3, 4)]) == [(None, 3, 4)]


def test_emitted_mask_and_masked_steps(target):
    case = cases.get("Embedding-mask_zero")
    built = target.build(case, "float32")
    (ids,) = data.inputs(case, "float32")
    np.testing.assert_array_equal(target.output_mask(built, [ids], None), ids != 0)


@pytest.mark.parametrize("fmt", sorted(keras3.FORMATS))
def test_every_format_round_trips_weights_and_outputs(fmt, target, tmp_path):
    case = cases.get("BatchNormalization-inference")  # trainable and non-trainable weights
    built = target.build(case, "float32")
    path = target.save(built, fmt, str(tmp_path))
    assert path.endswith(keras3.FORMATS[fmt]) and os.path.isfile(path)
    loaded = target.load(path, built)
    assert loaded.layer is not built.layer
    for a, b in zip(target.get_weights(loaded), target.get_weights(built), strict=True):
        np.testing.assert_array_equal(a, b)
    inputs = data.inputs(case, "float32")
    np.testing.assert_array_equal(target.forward(loaded, inputs)[0],
                                  target.forward(built, inputs)[0])


def test_from_config_gives_the_same_config_and_outputs(target):
    case = cases.get("Conv1D-dilation2")
    built = target.build(case, "float32")
    clone = target.from_config(built)
    assert clone.layer is not built.layer
    assert target.config(clone) == target.config(built)
    inputs = data.inputs(case, "float32")
    np.testing.assert_array_equal(target.forward(clone, inputs)[0],
                                  target.forward(built, inputs)[0])


def test_one_sgd_step_matches_the_hand_computed_update(target):
    case = cases.ModelCase("sgd-one-step", (("Dense", cases.freeze({"units": 2})),), (4, 3),
                           "regression", 2, "mean_squared_error", "SGD",
                           cases.freeze({"learning_rate": 0.1}), steps=2)
    rng = np.random.default_rng(0)
    w0 = data.round_to(rng.uniform(-0.5, 0.5, (3, 2)), "float32")
    b0 = data.round_to(rng.uniform(-0.5, 0.5, (2,)), "float32")
    x = data.round_to(rng.normal(size=(4, 3)), "float32")
    y = data.round_to(rng.normal(size=(4, 2)), "float32")
    got = target.train(case, [w0, b0], x, y)
    w, b, losses = w0, b0, []
    for _ in range(2):  # loss = mean((xW+b-y)^2) over all 8 entries
        err = x @ w + b - y
        losses.append(float(np.mean(err ** 2)))
        w, b = w - 0.1 * (2 / err.size) * x.T @ err, b - 0.1 * (2 / err.size) * err.sum(axis=0)
    np.testing.assert_allclose(got["losses"], losses, rtol=1e-5)
    np.testing.assert_allclose(got["weights"][0], w, atol=1e-6)
    np.testing.assert_allclose(got["weights"][1], b, atol=1e-6)


def test_loss_value_and_gradient(target):
    y_true = np.array([[0.0, 1.0], [1.0, 1.0]])
    y_pred = np.array([[0.5, 0.5], [2.0, 1.0]])
    value, grad = target.loss("mean_squared_error", y_true, y_pred, {}, "float32")
    assert value == pytest.approx((0.25 + 0.25 + 1.0 + 0.0) / 4)
    # d/dp of mean over rows of mean over columns of (p - t)^2: 2 (p - t) / 4
    np.testing.assert_allclose(grad, (y_pred - y_true) / 2, atol=1e-6)


def test_supports_says_what_the_layer_really_computes_in(target):
    built = target.build(cases.get("Dense-linear"), "float64")
    out = target.forward(built, data.inputs(cases.get("Dense-linear"), "float64"))[0]
    assert (out.dtype == np.float64) == target.supports("float64")
    assert target.supports("float32")


def test_compiled_forward_equals_eager(target):
    variants = target.compile_variants()
    assert variants, f"Keras on {BACKEND} should have a compiler"
    case = cases.get("LSTM-mask")
    built = target.build(case, "float32")
    inputs, mask = data.inputs(case, "float32"), data.mask(case)
    eager = target.forward(built, inputs, mask=mask)[0]
    for options in variants.values():
        compiled = target.compiled_forward(built, inputs, False, mask, **options)[0]
        np.testing.assert_allclose(compiled, eager, atol=1e-5, rtol=1e-5)


def test_versions_name_keras_and_its_framework(target):
    versions = target.versions()
    assert versions["keras"] == keras.__version__
    assert versions[BACKEND][0].isdigit()


def test_data_parallel_training_equals_single_device_training(target):
    # 5 samples over 2 shards (3 + 2): only a size-weighted average of shard gradients agrees
    case = cases.ModelCase("dp", (("Dense", cases.freeze({"units": 3, "activation": "tanh"})),
                                  ("Dense", cases.freeze({"units": 2}))), (5, 4), "regression",
                           2, "mean_squared_error", "Adam", cases.freeze({"learning_rate": 0.05}),
                           steps=3)
    from harness.conformance.checks.training import model_data, model_weight_shapes

    shapes = model_weight_shapes(case)
    weights = data.weights(case.id, shapes, [f"w{i}" for i in range(len(shapes))], "float32")
    x, y = model_data(case)
    single = target.train(case, weights, x, y)
    device = target.devices()[0]
    parallel = target.train_data_parallel(case, weights, x, y, [device, device])
    for a, b in zip(parallel["weights"], single["weights"], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-4)
    assert not np.allclose(single["weights"][0], weights[0], atol=1e-3)  # it did train


def test_weights_come_back_in_c_order(target):
    # torch keeps some variables transposed; finite differences perturb C-ordered flat views
    built = target.build(cases.get("SimpleRNN-last"), "float32")
    assert all(w.flags.c_contiguous and w.dtype == np.float64
               for w in target.get_weights(built))


def test_one_conform_run_covers_every_installed_keras_backend(tmp_path):
    """Keras fixes its backend per process: the runner gives each backend its own pytest
    process, all recording into one run."""
    import json
    import subprocess
    import sys

    from harness.conformance.runner import KERAS_DEFAULT_BACKENDS
    from harness.conformance.targets import installed_backends

    backends = [b for b in installed_backends() if b in KERAS_DEFAULT_BACKENDS]
    if len(backends) < 2:
        pytest.skip(f"needs two Keras backends installed, found {backends}")
    proc = subprocess.run([sys.executable, "-m", "harness", "conform", "--library", "keras",
                           "--select", "Dense-linear and forward", "--json", "k.json",
                           "--store", "k.db"], capture_output=True, text=True, cwd=tmp_path,
                          timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads((tmp_path / "k.json").read_text())
    assert sorted(r["backend"] for r in doc["results"]) == sorted(backends)
    assert {r["library"] for r in doc["results"]} == {"keras"}
    assert all(r["outcome"] == "passed" for r in doc["results"])
    assert set(backends) <= set(doc["environment"]["backends"])


# --- portability across processes: another Keras backend saves, this one loads --------------
def test_portability_sources_are_the_other_importable_keras_backends(target):
    sources = target.portability_sources()
    assert BACKEND not in sources
    assert all(importlib.util.find_spec(s) is not None for s in sources)
    # Keras's numpy backend imports scipy: without it, numpy cannot save models for us
    has_scipy = importlib.util.find_spec("scipy") is not None
    assert ("numpy" in sources) == (has_scipy and BACKEND != "numpy")


@pytest.fixture(scope="module")
def source(target):
    """A Keras backend other than this one (numpy wherever scipy is installed)."""
    sources = target.portability_sources()
    if not sources:
        pytest.skip(f"no Keras backend besides {BACKEND} is installed")
    return sources[0]


def test_a_model_saved_by_another_process_loads_here_with_its_predictions(target, source):
    from harness.conformance.targets import keras3_saved

    case = cases.get("Dense-relu-nobias")  # y = relu(x W)
    saved = target.saved_on(source, case, "float32")
    assert saved.errors == {} and sorted(saved.paths) == sorted(keras3.FORMATS)
    (x,) = data.inputs(case, "float32")
    (w,) = saved.weights
    np.testing.assert_allclose(saved.outputs[0], np.maximum(x @ w, 0.0), atol=1e-6)
    like = target.build(case, "float32")
    for fmt, path in saved.paths.items():
        assert os.path.isfile(path), fmt
        loaded = target.load(path, like)
        np.testing.assert_array_equal(target.get_weights(loaded)[0], w)
        np.testing.assert_allclose(target.forward(loaded, [x])[0], saved.outputs[0], atol=1e-6)
    # asked once per (source, case, dtype): the second call is the cached answer
    asked = keras3_saved._SOURCES[source].asked
    assert target.saved_on(source, case, "float32") is saved
    assert keras3_saved._SOURCES[source].asked == asked


def test_portability_check_loads_every_other_backends_models(target, source):
    from harness.conformance import checks

    ctx = checks.Context(cases.get("Conv1D-dilation2"), "portability", target, "float32")
    try:
        result = checks.run(ctx)
    finally:
        ctx.close()
    assert result.outcome == "passed", result.message
    assert result.message == f"loaded models saved on {', '.join(target.portability_sources())}"
    assert result.max_abs_err is not None and result.max_abs_err < 1e-5


def test_portability_check_fails_when_a_source_predicted_otherwise(target, source):
    from harness.conformance import checks

    case = cases.get("Dense-relu-nobias")
    saved = target.saved_on(source, case, "float32")
    honest = saved.outputs
    saved.outputs = [o + 0.5 for o in honest]  # as if Keras on the source computed otherwise
    ctx = checks.Context(case, "portability", target, "float32")
    try:
        result = checks.run(ctx)
    finally:
        saved.outputs = honest
        ctx.close()
    assert result.outcome == "failed"
    for fmt in keras3.FORMATS:
        assert f"{source}->{BACKEND} {fmt} outputs[0]" in result.message
    assert "vs oracle" not in result.message  # what loaded here still matches the oracle
    assert result.max_abs_err == pytest.approx(0.5, abs=1e-6)


def _float_datasets(path: str) -> list[np.ndarray]:
    """Every float dataset of an HDF5 file (a ``.keras`` zip: of its ``model.weights.h5``)."""
    import io
    import zipfile

    import h5py

    if path.endswith(".keras"):
        with zipfile.ZipFile(path) as archive:
            handle = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    else:
        handle = h5py.File(path, "r")
    found: list[np.ndarray] = []
    with handle:
        handle.visititems(lambda name, item: found.append(item[()])
                          if isinstance(item, h5py.Dataset) and item.dtype.kind == "f"
                          else None)
    return found


def test_float64_models_from_keras_on_numpy_are_saved_exactly_and_predicted_in_float32(target):
    """The numpy-saver finding behind the float64 portability xfails: the saving process
    hands Keras float64 weights and inputs and the files keep them bit for bit; it is Keras on
    numpy that predicts in float32 (keras.src.backend.common.dtypes.result_type maps float64
    to float32 on every backend but tensorflow)."""
    if "numpy" not in target.portability_sources():
        pytest.skip("Keras's numpy backend (numpy and scipy) cannot save models here")
    case = cases.get("Dense-relu-nobias")
    saved = target.saved_on("numpy", case, "float64")
    (w,) = saved.weights
    assert w.dtype == np.float64
    assert not np.array_equal(w.astype(np.float32).astype(np.float64), w)  # not float32 values
    for fmt, path in saved.paths.items():
        (stored,) = _float_datasets(path)
        assert stored.dtype == np.float64, fmt
        np.testing.assert_array_equal(stored, w, err_msg=fmt)
    # Add: Keras on numpy returns the float32 sum of the float64 inputs it was given
    case = cases.get("Add")
    saved = target.saved_on("numpy", case, "float64")
    x1, x2 = data.inputs(case, "float64")
    (out,) = saved.outputs
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x1.astype(np.float32) + x2.astype(np.float32))
    assert np.abs(out - (x1 + x2)).max() > 1e-9  # outside the float64 tolerance of the check
