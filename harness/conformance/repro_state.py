"""Standalone scripts reproducing the ``serialization`` and ``portability`` checks: save, load,
predict.

The failing computation is a weights file round trip followed by a prediction. The script holds
the layer's forward pass as the backend calls the reference layer made (recorded, inference
mode, as the checks call it), the case's inputs and weights, and the weight files exactly as
dl-harness's saving formats wrote them (``weights.npz`` of the native format, the HDF5 file).
It reads those files with NumPy and h5py itself, by the names the format gives each weight,
runs the forward pass with the weights it read and prints the differences: from the weights
that were saved, from the predictions before saving, and from the oracle.

Serialization scripts also write the weights themselves in both layouts (``np.savez``; h5py in
Keras 2's ``model_weights/<layer>/<weight>:0`` layout) and read them back, so a failure that
follows the file and not the framework shows up as a difference between the two. Portability
scripts hold the files another backend saved and that backend's predictions; the forward pass
is the loading backend's.

What the script cannot replay, and says so in its header: the reference library's config round
trip (``get_config``/``from_config``) and its model rebuilding on load, which are its own
Python, not the framework's.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.conformance import data, expected
from harness.conformance.cases import Case
from harness.conformance.repro_models import Session, backend_kept, start
from harness.conformance.repro_trace import Program
from harness.conformance.targets import Built, installed_backends, make_target
from harness.conformance.tolerances import Tol, lookup
from harness.errors import UsageError

#: how the script reads each format's weights: the npz inside a native folder, or HDF5
KINDS = {"native": "npz", "hdf5": "hdf5"}


@dataclass
class SavedFile:
    """A weights file as a library saved it, and what its weights must predict."""

    label: str
    kind: str  # npz | hdf5
    key: str  # DATA key of its bytes
    names: list[str]  # where each weight is in the file, in get_weights order
    weights: list[str] | None  # DATA keys of the weights as saved (None: the script's own)
    outputs: list[str] | None  # DATA keys of the saver's predictions (None: the script's own)
    tol: Tol
    compared_with: str = "before saving"  # what the outputs are compared with, in words


@dataclass
class Layout:
    """Where a layer's weights go in each format, in get_weights order."""

    npz_keys: list[str]
    h5_layer: str
    h5_saved_order: list[str]  # dataset names in the order the format writes them
    h5_index: list[int]  # for each of those, its position in get_weights order

    @property
    def h5_paths(self) -> list[str]:
        by_index = dict(zip(self.h5_index, self.h5_saved_order, strict=True))
        return [f"model_weights/{self.h5_layer}/{by_index[i]}" for i in range(len(by_index))]

    def names(self, kind: str) -> list[str]:
        return self.npz_keys if kind == "npz" else self.h5_paths


@dataclass
class StateRun:
    """A recorded save/load/predict reproduction, as plain data for the renderer."""

    case: Case
    check: str
    backend: str
    dtype: str
    device: str
    session: Session
    program: Program
    inputs: list[tuple[str, str | None]]  # (DATA key, dtype) of each input
    mask: str | None
    weight_names: list[str]
    weight_dtypes: list[str]
    layout: Layout
    oracle: list[np.ndarray]
    tol: Tol  # the forward tolerance: judges against the oracle
    files: list[SavedFile]
    arrays: dict[str, np.ndarray]
    write_here: list[str] = field(default_factory=list)  # kinds the script writes itself
    result: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


def layout(layer: Any) -> Layout:
    """The native and HDF5 names of ``layer``'s weights, as the saving formats give them."""
    from harness.reference.saving.common import unique_keys
    from harness.reference.saving.formats.hdf5 import legacy_weights

    variables = list(layer.weights)
    legacy = legacy_weights(layer)
    position = {id(v): i for i, v in enumerate(variables)}
    return Layout(unique_keys([v.name for v in variables]), layer.name,
                  unique_keys([f"{v.name}:0" for v in legacy]),
                  [position[id(v)] for v in legacy])


def _record_forward(session: Session, built: Built, dtype: str, arrays: dict[str, np.ndarray]
                    ) -> tuple[Program, list[tuple[str, str | None]], str | None]:
    """The layer's inference-mode forward as a program (xs, ws, mask) -> outputs."""
    from harness.reference.variables import StatelessScope

    K, case, layer = session.target.K, built.case, built.layer
    cast = [data.cast(x, dtype) for x in data.inputs(case, dtype)]
    dtypes = [None if x.dtype.kind in "iub" else dtype for x in cast]
    xs = [K.convert_to_tensor(x, dtype=d) for x, d in zip(cast, dtypes, strict=True)]
    ws = [v.value for v in layer.weights]
    mask = data.mask(case)
    mask_t = None if mask is None else K.convert_to_tensor(mask, dtype="bool")

    def forward(xs: list[Any], ws: list[Any], mask: Any) -> list[Any]:
        kwargs: dict[str, Any] = {"training": False}
        if mask is not None:
            kwargs["mask"] = mask
        with StatelessScope(dict(zip(layer.weights, ws, strict=True))):
            out = layer(xs if case.multi_input else xs[0], **kwargs)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    program, _, error = session.recorder.record("layer_forward", forward,
                                                [("xs", xs), ("ws", ws), ("mask", mask_t)])
    if error is not None:
        raise UsageError(f"the reference layer raised while recorded: {error}")
    keys = [f"x{i}" for i in range(len(cast))]
    arrays.update(zip(keys, cast, strict=True))
    if mask is not None:
        arrays["mask"] = mask
    return program, list(zip(keys, dtypes, strict=True)), None if mask is None else "mask"


def _saved_bytes(path: str, kind: str) -> bytes:
    """The weights file a format wrote at ``path``: a native folder's npz, or the HDF5 file."""
    target = Path(path) / "weights.npz" if kind == "npz" else Path(path)
    return target.read_bytes()


def _save_all(target: Any, built: Built, folder: str, prefix: str, label: str,
              arrays: dict[str, np.ndarray], notes: list[str], tol: Tol,
              weights: list[str] | None, outputs: list[str] | None,
              compared_with: str = "before saving") -> list[SavedFile]:
    """Save ``built`` in every format ``target`` has; one ``SavedFile`` per format read here."""
    where = layout(built.layer)
    files = []
    for fmt in target.formats():
        if fmt not in KINDS:
            notes.append(f"format {fmt!r}: no standalone reader in these scripts")
            continue
        kind = KINDS[fmt]
        key = f"{prefix}_{fmt}"
        raw = _saved_bytes(target.save(built, fmt, folder), kind)
        arrays[key] = np.frombuffer(raw, dtype=np.uint8)
        files.append(SavedFile(f"{fmt} file {label}", kind, key, where.names(kind), weights,
                               outputs, tol, compared_with))
    return files


def build(case: Case, check: str, backend: str, dtype: str = "float32", device: str = "cpu",
          result: dict[str, Any] | None = None, sources: list[str] | None = None) -> StateRun:
    """Record the save/load/predict reproduction of ``check`` for ``case`` on ``backend``."""
    if dtype not in ("float16", "float32", "float64"):
        raise UsageError(f"save/load scripts hold weights in NumPy arrays, which have no "
                         f"{dtype}")
    with backend_kept(), tempfile.TemporaryDirectory(prefix="harness-repro-") as folder:
        session = start(backend, device)
        if not session.target.supports(dtype):
            raise UsageError(f"backend {backend!r} does not compute in {dtype}")
        built = session.target.build(case, dtype)
        arrays: dict[str, np.ndarray] = {}
        program, inputs, mask = _record_forward(session, built, dtype, arrays)
        weights64 = session.target.get_weights(built)
        oracle = expected.forward(case, weights64, data.inputs(case, dtype), False,
                                  data.mask(case))
        dtypes = [str(v.dtype) for v in built.layer.weights]
        for i, (w, d) in enumerate(zip(weights64, dtypes, strict=True)):
            arrays[f"w{i}"] = data.cast(w, d)
        tol = lookup(dtype, "forward", case)
        run = StateRun(case, check, backend, dtype, device, session, program, inputs, mask,
                       list(built.weight_names), dtypes, layout(built.layer), oracle, tol, [],
                       arrays, result=result)
        if check == "serialization":
            run.files = _save_all(session.target, built, folder, "saved", "as dl-harness saved "
                                  f"it on {backend}", arrays, run.notes, Tol(0.0, 0.0), None,
                                  None)
            run.write_here = sorted({KINDS[f] for f in session.target.formats() if f in KINDS})
        else:
            run.files = _from_sources(case, backend, dtype, device, folder, arrays, run.notes,
                                      tol, sources)
            if not run.files:
                raise UsageError(f"no other backend saved {case.id!r} here: portability "
                                 "needs a second installed backend")
        return run


def _from_sources(case: Case, backend: str, dtype: str, device: str, folder: str,
                  arrays: dict[str, np.ndarray], notes: list[str], tol: Tol,
                  sources: list[str] | None) -> list[SavedFile]:
    """Build, predict and save ``case`` on every saving backend (as the check does)."""
    names = sources if sources is not None else [b for b in installed_backends()
                                                 if b != backend]
    files: list[SavedFile] = []
    inputs, mask = data.inputs(case, dtype), data.mask(case)
    for n, source in enumerate(names):
        if source == backend:
            raise UsageError(f"portability loads on {backend}: save on another backend")
        try:
            there = make_target("reference", source, device)
        except UsageError as exc:
            notes.append(f"{source} could not save here: {exc}")
            continue
        if not there.supports(dtype):
            notes.append(f"{source} does not compute in {dtype}")
            continue
        built = there.build(case, dtype)
        outputs = there.forward(built, inputs, mask=mask)
        weights = there.get_weights(built)
        w_keys = [f"p{n}_w{i}" for i in range(len(weights))]
        o_keys = [f"p{n}_o{i}" for i in range(len(outputs))]
        arrays.update(zip(w_keys, weights, strict=True))
        arrays.update(zip(o_keys, (np.asarray(o, np.float64) for o in outputs), strict=True))
        version = there.versions().get(source, "unknown")
        files += _save_all(there, built, folder, f"p{n}",
                           f"saved on {source} {version}", arrays, notes, tol, w_keys, o_keys,
                           f"{source}'s predictions before saving")
    return files


def reproduction(case: Case, check: str, backend: str, dtype: str,
                 result: dict[str, Any] | None, device: str,
                 sources: Any = None) -> str:
    """The script reproducing ``check`` (serialization or portability) of ``case``."""
    from harness.conformance.repro_state_script import render

    return render(build(case, check, backend, dtype, device, result,
                        None if sources is None else list(sources)))
