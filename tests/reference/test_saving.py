"""Saving and loading: both formats round trip exactly, the HDF5 layout is Keras 2's, and a
format module dropped into ``formats/`` is discovered."""

from __future__ import annotations

import importlib
import json
import os
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest

from harness.reference import backend as K
from harness.reference import layers, models, optimizers, saving
from harness.reference.saving.formats import hdf5

# ``saving.formats`` is the function listing formats; the package of format modules is this
formats_package = importlib.import_module("harness.reference.saving.formats")

F32 = np.float32


def value(x):
    return np.asarray(K.to_numpy(x))


def branching_model():
    """Two inputs, a shared Dense, BatchNormalization statistics moved by one training step."""
    a, b = layers.Input(shape=(4,)), layers.Input(shape=(4,))
    shared = layers.Dense(3, activation="tanh")
    merged = layers.Add()([shared(a), shared(b)])
    out1 = layers.Dense(2)(layers.BatchNormalization()(merged))
    out2 = layers.Dense(1, activation="sigmoid")(shared(b))
    model = models.Model([a, b], [out1, out2])
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(6, 4)).astype(F32) for _ in range(2)]
    model.compile(optimizer=optimizers.Adam(0.01), loss=["mse", "binary_crossentropy"])
    model.train_on_batch(xs, [rng.normal(size=(6, 2)).astype(F32), np.ones((6, 1), F32)])
    return model, xs


@pytest.mark.parametrize("filename, fmt", [("m.zip", None), ("folder", "native"),
                                           ("m.h5", None), ("m.hdf5", None),
                                           ("no_extension", "hdf5")])
def test_round_trip_gives_identical_predictions(tmp_path, filename, fmt):
    model, xs = branching_model()
    path = str(tmp_path / filename)
    saving.save_model(model, path, format=fmt)
    loaded = saving.load_model(path)  # the format found from the extension or the contents
    for got, want in zip(loaded.predict(xs), model.predict(xs), strict=True):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
    assert json.dumps(loaded.get_config(), sort_keys=True) == \
        json.dumps(model.get_config(), sort_keys=True)


@pytest.mark.parametrize("fmt", ["native", "hdf5"])
def test_training_state_survives_saving(tmp_path, fmt):
    model, xs = branching_model()
    path = str(tmp_path / "trained")
    saving.save_model(model, path, format=fmt)
    loaded = saving.load_model(path)
    assert type(loaded.optimizer) is optimizers.Adam
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.step == 1
    ys = [np.zeros((6, 2), F32), np.zeros((6, 1), F32)]
    # the next step is the same, so the Adam moments and step counter came back
    assert loaded.train_on_batch(xs, ys) == model.train_on_batch(xs, ys)
    for got, want in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["float16", "float64"])
@pytest.mark.parametrize("filename", ["s.zip", "s.h5"])
def test_sequential_keeps_its_dtype(tmp_path, dtype, filename):
    model = models.Sequential([layers.Input(shape=(3,), dtype=dtype),
                               layers.Dense(2, activation="relu", dtype=dtype),
                               layers.Dense(1, dtype=dtype)])
    path = str(tmp_path / filename)
    saving.save_model(model, path)
    loaded = saving.load_model(path)
    assert isinstance(loaded, models.Sequential)
    assert [w.dtype for w in loaded.get_weights()] == [np.dtype(dtype)] * 4
    x = np.linspace(-1, 1, 9).reshape(3, 3).astype(dtype)
    np.testing.assert_array_equal(value(loaded(x)), value(model(x)))


def test_native_folder_contents(tmp_path):
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(3, name="nat_dense")])
    saving.save_model(model, str(tmp_path / "out"), format="native")
    assert sorted(os.listdir(tmp_path / "out")) == ["config.json", "metadata.json",
                                                    "weights.npz"]
    with np.load(tmp_path / "out" / "weights.npz") as npz:
        assert npz.files == ["nat_dense/kernel", "nat_dense/bias"]
        np.testing.assert_array_equal(npz["nat_dense/kernel"], model.get_weights()[0])
    spec = json.loads((tmp_path / "out" / "config.json").read_text())
    assert spec["class_name"] == "Sequential"
    assert spec["config"] == model.get_config()
    saving.save_model(model, str(tmp_path / "out.zip"))
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "weights.npz"]


def test_hdf5_layout_is_keras_2s(tmp_path):
    inp = layers.Input(shape=(4,), name="h_in")
    hidden = layers.Dense(3, name="h_dense")(inp)
    out = layers.BatchNormalization(name="h_bn")(hidden)
    model = models.Model(inp, out)
    path = str(tmp_path / "k2.h5")
    saving.save_model(model, path)
    with h5py.File(path, "r") as f:
        assert set(f.attrs) == {"keras_version", "backend", "model_config"}
        assert f.attrs["backend"] == K.name()
        config = json.loads(f.attrs["model_config"])
        assert config["class_name"] == "Functional"
        assert config["config"]["input_layers"] == ["h_in", 0, 0]
        weights = f["model_weights"]
        assert [n.decode() for n in weights.attrs["layer_names"]] == ["h_in", "h_dense", "h_bn"]
        assert set(weights) == {"h_in", "h_dense", "h_bn"}
        assert len(weights["h_in"].attrs["weight_names"]) == 0
        assert list(weights["h_dense"].attrs["weight_names"]) == [b"h_dense/kernel:0",
                                                                 b"h_dense/bias:0"]
        assert list(weights["h_bn"].attrs["weight_names"]) == [
            b"h_bn/gamma:0", b"h_bn/beta:0", b"h_bn/moving_mean:0", b"h_bn/moving_variance:0"]
        kernel = weights["h_dense"]["h_dense/kernel:0"]  # the dataset at <layer>/<weight>
        assert isinstance(kernel, h5py.Dataset)
        np.testing.assert_array_equal(kernel[()], model.get_weights()[0])
        assert "optimizer_weights" not in f


def test_hdf5_training_config(tmp_path):
    model, _ = branching_model()
    path = str(tmp_path / "trained.h5")
    saving.save_model(model, path)
    with h5py.File(path, "r") as f:
        training = json.loads(f.attrs["training_config"])
        assert training["loss"] == ["mse", "binary_crossentropy"]
        assert training["optimizer_config"]["class_name"] == "Adam"
        assert training["optimizer_config"]["config"]["learning_rate"] == 0.01
        names = [n.decode() for n in f["optimizer_weights"].attrs["weight_names"]]
        assert names[0] == "adam/iteration:0" and len(names) == 1 + 2 * 8  # 8 trainable weights


def test_long_attributes_are_split_like_keras(tmp_path):
    names = [f"layer_{i:05d}/" + "w" * 40 for i in range(3000)]  # ~150 KB, over the limit
    with h5py.File(tmp_path / "a.h5", "w") as f:
        hdf5.save_attribute(f, "weight_names", names)
        assert "weight_names" not in f.attrs and "weight_names0" in f.attrs
        assert hdf5.load_attribute(f, "weight_names") == names


FORMAT_MODULE = '''
"""A test format: the model config and weights as one JSON document."""
import json

import numpy as np

from harness.reference.saving import common

NAME = "jsondoc"
EXTENSIONS = (".jsondoc",)


def save(model, path):
    doc = {"spec": common.model_spec(model),
           "weights": [[k, w.tolist(), str(w.dtype)] for k, w in common.weight_items(model)]}
    with open(path, "w") as handle:
        json.dump(doc, handle)


def load(path):
    with open(path) as handle:
        doc = json.load(handle)
    model = common.rebuild(doc["spec"])
    common.set_weights_by_key(model, {k: np.asarray(w, d) for k, w, d in doc["weights"]})
    return model
'''


def test_a_format_module_dropped_in_is_discovered(tmp_path, monkeypatch):
    (tmp_path / "jsondoc.py").write_text(textwrap.dedent(FORMAT_MODULE))
    (tmp_path / "not_a_format.py").write_text("NAME = 'half'\n")
    (tmp_path / "needs_missing_lib.py").write_text("import no_such_library_anywhere\n")
    monkeypatch.setattr(formats_package, "__path__", [*formats_package.__path__, str(tmp_path)])
    for name in ("jsondoc", "not_a_format", "needs_missing_lib"):
        monkeypatch.delitem(sys.modules, f"{formats_package.__name__}.{name}", raising=False)
    assert saving.formats() == ["hdf5", "jsondoc", "native"]
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(2)])
    path = str(tmp_path / "m.jsondoc")
    saving.save_model(model, path)
    assert json.loads(open(path).read())["spec"]["class_name"] == "Sequential"
    x = np.ones((1, 2), F32)
    np.testing.assert_array_equal(value(saving.load_model(path)(x)), value(model(x)))
    monkeypatch.undo()
    sys.modules.pop(f"{formats_package.__name__}.jsondoc", None)
    assert "jsondoc" not in saving.formats()


def test_usage_errors(tmp_path):
    model = models.Sequential([layers.Input(shape=(2,)), layers.Dense(1)])
    with pytest.raises(ValueError, match="extension"):
        saving.save_model(model, str(tmp_path / "m.unknown"))
    with pytest.raises(ValueError, match="unknown model format"):
        saving.save_model(model, str(tmp_path / "m"), format="pickle")
    with pytest.raises(ValueError, match="no saved model"):
        saving.load_model(str(tmp_path / "missing.h5"))
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a model file"):
        saving.load_model(str(tmp_path / "notes.txt"))
    with pytest.raises(ValueError, match="not built"):
        saving.save_model(models.Sequential([layers.Dense(1)]), str(tmp_path / "u.h5"))
