"""What every format shares: the model's config, unique weight keys, and training state
(compile arguments and optimizer variables) going out of and back into a model."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.reference import backend as K


def model_spec(model: Any) -> dict[str, Any]:
    """``{"class_name", "config"}`` of a Sequential or functional model."""
    from harness.reference.models import Model, serialize_layer

    if not isinstance(model, Model):
        raise ValueError(f"only Sequential and functional models can be saved, got "
                         f"{type(model).__name__}")
    if getattr(model, "_graph", None) is None:
        raise ValueError(f"model {model.name!r} is not built yet: call it on data, or give "
                         "it an Input, before saving")
    return serialize_layer(model)


def rebuild(spec: dict[str, Any]) -> Any:
    """A new model from ``model_spec``'s output."""
    from harness.reference.models import model_from_config

    return model_from_config(spec)


def unique_keys(names: Sequence[str]) -> list[str]:
    """``names`` made unique in order: a repeat gets ``#1``, ``#2``, ... appended."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        k = seen.get(name, 0)
        seen[name] = k + 1
        out.append(name if k == 0 else f"{name}#{k}")
    return out


def weight_items(model: Any) -> list[tuple[str, np.ndarray]]:
    """(unique key, array) for each model weight, in ``get_weights`` order."""
    keys = unique_keys([v.name for v in model.weights])
    return list(zip(keys, model.get_weights(), strict=True))


def set_weights_by_key(model: Any, arrays: dict[str, Any]) -> None:
    """Set every weight of ``model`` from ``arrays`` (saved in ``get_weights`` order, keyed
    as ``weight_items`` keys them): by key when every key is there, else by position when
    the counts agree (a layer renamed its weights), shapes checked either way."""
    keys = unique_keys([v.name for v in model.weights])
    if all(k in arrays for k in keys):
        model.set_weights([np.asarray(arrays[k]) for k in keys])
    elif len(arrays) == len(keys):
        model.set_weights([np.asarray(a) for a in arrays.values()])
    else:
        missing = [k for k in keys if k not in arrays]
        raise ValueError(f"the saved weights lack {missing[:5]} (the file does not match its "
                         "config)")


def compile_config(model: Any) -> dict[str, Any] | None:
    """The model's compile arguments, JSON-able (None when not compiled or unserializable)."""
    getter = getattr(model, "get_compile_config", None)
    return getter() if getter is not None else None


def optimizer_items(model: Any) -> list[tuple[str, np.ndarray]]:
    """(unique key, array) of the optimizer's variables once it has stepped, else []."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not optimizer.built:
        return []
    variables = optimizer.variables
    keys = unique_keys([v.name for v in variables])
    return [(k, np.asarray(K.to_numpy(v.value))) for k, v in zip(keys, variables, strict=True)]


def restore_training(model: Any, config: dict[str, Any] | None,
                     optimizer_arrays: dict[str, np.ndarray]) -> None:
    """Compile ``model`` from ``config`` and give its optimizer the saved variables (keyed
    as ``optimizer_items`` keys them); nothing when ``config`` is None."""
    if config is None:
        return
    model.compile_from_config(config)
    if not optimizer_arrays:
        return
    optimizer = model.optimizer
    optimizer.build(model.trainable_weights)
    variables = optimizer.variables
    keys = unique_keys([v.name for v in variables])
    if sorted(keys) != sorted(optimizer_arrays):
        raise ValueError(f"the saved optimizer variables {sorted(optimizer_arrays)[:5]} do not "
                         f"match the rebuilt optimizer's {sorted(keys)[:5]}")
    for key, variable in zip(keys, variables, strict=True):
        variable.assign(np.asarray(optimizer_arrays[key]))
