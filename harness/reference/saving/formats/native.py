"""The native format: a folder (or, for a ``.zip`` path, a zip file) holding

* ``config.json``   the model config, ``{"class_name", "config"}``;
* ``metadata.json`` format name and version, the backend that saved it;
* ``weights.npz``   the weights in ``get_weights`` order, keyed by weight name;
* ``compile.json`` and ``optimizer.npz`` when the model was compiled (and trained).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.reference import backend as K
from harness.reference.saving import common

NAME = "native"
EXTENSIONS = (".zip",)
FORMAT_VERSION = 1


def _npz_bytes(items: list[tuple[str, np.ndarray]]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **dict(items))  # type: ignore[arg-type]
    return buffer.getvalue()


def _members(model: Any) -> dict[str, bytes]:
    members = {
        "config.json": json.dumps(common.model_spec(model), indent=1).encode(),
        "metadata.json": json.dumps({"format": "harness.native", "version": FORMAT_VERSION,
                                     "backend": K.name()}).encode(),
        "weights.npz": _npz_bytes(common.weight_items(model)),
    }
    training = common.compile_config(model)
    if training is not None:
        members["compile.json"] = json.dumps(training).encode()
        state = common.optimizer_items(model)
        if state:
            members["optimizer.npz"] = _npz_bytes(state)
    return members


def save(model: Any, path: str) -> None:
    """Write ``model`` at ``path``: a zip file when it ends in ``.zip``, else a folder."""
    members = _members(model)
    if path.lower().endswith(".zip"):
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{path!r} exists and is not a folder")
    os.makedirs(path, exist_ok=True)
    for stale in ("compile.json", "optimizer.npz"):  # from an earlier save at this path
        if stale not in members and os.path.exists(os.path.join(path, stale)):
            os.remove(os.path.join(path, stale))
    for name, data in members.items():
        with open(os.path.join(path, name), "wb") as handle:
            handle.write(data)


def _reader(path: str) -> tuple[Callable[[str], bytes | None], Callable[[], None]]:
    """A function reading a member by name (None when absent), and one closing the source."""
    if os.path.isdir(path):
        def read_file(name: str) -> bytes | None:
            member = os.path.join(path, name)
            if not os.path.exists(member):
                return None
            with open(member, "rb") as handle:
                return handle.read()

        return read_file, lambda: None
    archive = zipfile.ZipFile(path)
    names = set(archive.namelist())

    def read_member(name: str) -> bytes | None:
        return archive.read(name) if name in names else None

    return read_member, archive.close


def _arrays(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def load(path: str) -> Any:
    """The model saved at ``path`` (folder or zip), with its weights (and compile state)."""
    read, close = _reader(path)
    try:
        config, weights = read("config.json"), read("weights.npz")
        if config is None or weights is None:
            raise ValueError(f"{path!r} is not a native model: config.json or weights.npz "
                             "is missing")
        model = common.rebuild(json.loads(config))
        common.set_weights_by_key(model, _arrays(weights))
        training, optimizer = read("compile.json"), read("optimizer.npz")
    finally:
        close()
    state = _arrays(optimizer) if optimizer is not None else {}
    common.restore_training(model, json.loads(training) if training else None, state)
    return model


def detect(path: str) -> bool:
    """True for a folder or zip file holding ``config.json`` and ``weights.npz``."""
    if os.path.isdir(path):
        return all(os.path.exists(os.path.join(path, n)) for n in ("config.json",
                                                                  "weights.npz"))
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return {"config.json", "weights.npz"} <= set(archive.namelist())
    return False
