"""The HDF5 format in Keras 2's layout (``model.save("m.h5")`` of Keras 2 / tf.keras):

* root attributes ``model_config`` (JSON ``{"class_name", "config"}``), ``keras_version``,
  ``backend`` and, when compiled, ``training_config``;
* group ``model_weights`` with attributes ``layer_names``, ``backend``, ``keras_version``, and
  one group per layer holding the attribute ``weight_names`` (``"<layer>/<weight>:0"``,
  trainable weights first) and a dataset at each of those names;
* group ``optimizer_weights`` (attribute ``weight_names`` and datasets) once an optimizer has
  stepped.

Attributes too large for an HDF5 object header are split into ``name0``, ``name1``, ... as
Keras splits them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np

from harness.reference import backend as K
from harness.reference.saving import common

NAME = "hdf5"
EXTENSIONS = (".h5", ".hdf5")
#: the Keras release whose HDF5 layout this follows (Keras reads it to pick conversions)
KERAS_VERSION = "2.15.0"
HEADER_LIMIT = 64512  # bytes an attribute may take in an HDF5 object header (Keras's figure)


def save_attribute(group: Any, name: str, values: Sequence[str]) -> None:
    """Store a list of strings as bytes, split into ``name0``, ``name1``... when too large."""
    data = np.asarray([v.encode("utf8") for v in values]) if values else np.asarray([])
    chunks = 1
    parts = np.array_split(data, chunks) if data.size else [data]
    while any(p.nbytes > HEADER_LIMIT for p in parts):
        chunks += 1
        parts = np.array_split(data, chunks)
    if chunks == 1:
        group.attrs[name] = data
    else:
        for i, part in enumerate(parts):
            group.attrs[f"{name}{i}"] = part


def load_attribute(group: Any, name: str) -> list[str]:
    """A list of strings stored by ``save_attribute`` (whole or in chunks)."""
    if name in group.attrs:
        raw = list(group.attrs[name])
    else:
        raw, i = [], 0
        while f"{name}{i}" in group.attrs:
            raw.extend(group.attrs[f"{name}{i}"])
            i += 1
    return [v.decode("utf8") if hasattr(v, "decode") else str(v) for v in raw]


def legacy_weights(layer: Any) -> list[Any]:
    """A layer's weights in Keras 2's saved order: trainable, then non-trainable."""
    trainable = layer.trainable_weights
    ids = {id(v) for v in trainable}
    return [*trainable, *(v for v in layer.weights if id(v) not in ids)]


def _write_weights(group: Any, variables: Sequence[Any], values: Sequence[np.ndarray]) -> None:
    names = common.unique_keys([f"{v.name}:0" for v in variables])
    save_attribute(group, "weight_names", names)
    for name, value in zip(names, values, strict=True):
        group.create_dataset(name, data=np.asarray(value))


def _save_model_weights(group: Any, model: Any) -> None:
    save_attribute(group, "layer_names", [layer.name for layer in model.layers])
    group.attrs["backend"] = K.name().encode("utf8")
    group.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
    for layer in sorted(model.layers, key=lambda lyr: lyr.name):
        variables = legacy_weights(layer)
        _write_weights(group.create_group(layer.name), variables,
                       [K.to_numpy(v.value) for v in variables])


def save(model: Any, path: str) -> None:
    """Write ``model`` to the HDF5 file ``path`` (replacing it)."""
    spec = common.model_spec(model)
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["backend"] = K.name()
        f.attrs["model_config"] = json.dumps(spec).encode("utf8")
        _save_model_weights(f.create_group("model_weights"), model)
        training = common.compile_config(model)
        if training is None:
            return
        f.attrs["training_config"] = json.dumps({
            "loss": training["loss"], "metrics": training["metrics"],
            "weighted_metrics": None, "loss_weights": training["loss_weights"],
            "optimizer_config": training["optimizer"]}).encode("utf8")
        state = common.optimizer_items(model)
        if state:
            group = f.create_group("optimizer_weights")
            save_attribute(group, "weight_names", [f"{k}:0" for k, _ in state])
            for key, value in state:
                group.create_dataset(f"{key}:0", data=value)


def _json_attr(f: Any, name: str) -> Any:
    raw = f.attrs.get(name)
    if raw is None:
        return None
    return json.loads(raw.decode("utf8") if hasattr(raw, "decode") else raw)


def _load_layer(group: Any, layer: Any) -> None:
    variables = legacy_weights(layer)
    if not variables:
        return
    if layer.name not in group:
        raise ValueError(f"the file has no weights for layer {layer.name!r}")
    names = load_attribute(group[layer.name], "weight_names")
    if len(names) != len(variables):
        raise ValueError(f"layer {layer.name!r} has {len(variables)} weights, the file "
                         f"{len(names)}")
    by_id = {id(v): np.asarray(group[layer.name][n]) for v, n in zip(variables, names, strict=True)}
    layer.set_weights([by_id[id(v)] for v in layer.weights])


def load(path: str) -> Any:
    """The model saved in the HDF5 file ``path``, with its weights (and compile state)."""
    with h5py.File(path, "r") as f:
        spec = _json_attr(f, "model_config")
        if spec is None or "model_weights" not in f:
            raise ValueError(f"{path!r} holds no model (model_config or model_weights missing)")
        model = common.rebuild(spec)
        for layer in model.layers:
            _load_layer(f["model_weights"], layer)
        training = _json_attr(f, "training_config")
        state: dict[str, np.ndarray] = {}
        if "optimizer_weights" in f:
            group = f["optimizer_weights"]
            state = {n.removesuffix(":0"): np.asarray(group[n])
                     for n in load_attribute(group, "weight_names")}
    if training is not None:
        config = {"optimizer": training["optimizer_config"], "loss": training.get("loss"),
                  "metrics": training.get("metrics"),
                  "loss_weights": training.get("loss_weights")}
        common.restore_training(model, config, state)
    return model


def detect(path: str) -> bool:
    """True for an HDF5 file."""
    try:
        return bool(h5py.is_hdf5(path))
    except OSError:
        return False
