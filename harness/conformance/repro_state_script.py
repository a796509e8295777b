"""Render a recorded ``repro_state.StateRun`` as the text of a standalone script."""

from __future__ import annotations

import json
from typing import Any

from harness.conformance.cases import plain_config
from harness.conformance.repro_models import assemble, header, literals
from harness.conformance.repro_state import StateRun

_FUNCTIONS = '''

def predict(ws):
    """The layer's outputs (inference mode) with the weights ``ws`` (NumPy arrays), through
    the recorded forward program."""
    xs = [{convert}(DATA[key], dtype=dtype) for key, dtype in INPUTS]
    mask = None if MASK is None else {convert}(DATA[MASK], dtype="bool")
    ws = [{convert}(np.asarray(w), dtype=d) for w, d in zip(ws, WEIGHT_DTYPES)]
    return [{to_numpy}(o) for o in layer_forward(xs, ws, mask)]


def read_weights(path, kind, names):
    """The weights in a file, in get_weights order: ``names`` are the npz keys, or the HDF5
    dataset paths (model_weights/<layer>/<weight>:0)."""
    if kind == "npz":
        with np.load(path, allow_pickle=False) as npz:
            return [npz[name] for name in names]
    import h5py

    with h5py.File(path, "r") as f:
        return [np.asarray(f[name]) for name in names]


def write_weights(folder, kind, ws):
    """Write ``ws`` as the format lays them out: weights.npz keyed by weight name, or an HDF5
    file in Keras 2's layout (trainable weights first); the path written."""
    if kind == "npz":
        path = os.path.join(folder, "weights-written-here.npz")
        np.savez(path, **dict(zip(NPZ_KEYS, ws)))
        return path
    import h5py

    path = os.path.join(folder, "weights-written-here.h5")
    with h5py.File(path, "w") as f:
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = np.asarray([H5_LAYER.encode("utf8")])
        layer = group.create_group(H5_LAYER)
        layer.attrs["weight_names"] = np.asarray([n.encode("utf8") for n, _ in H5_SAVED])
        for name, index in H5_SAVED:
            layer.create_dataset(name, data=np.asarray(ws[index]))
    return path


def materialise(folder, entry):
    """Write an embedded file to ``folder``; its path."""
    suffix = ".npz" if entry["kind"] == "npz" else ".h5"
    path = os.path.join(folder, entry["data"] + suffix)
    with open(path, "wb") as handle:
        handle.write(DATA[entry["data"]].tobytes())
    return path


def as64(arrays):
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def check_file(label, path, kind, names, saved, before, atol, rtol,
               before_label="before saving"):
    """Read a file's weights, predict with them, compare with what was saved and predicted
    before saving (the check's tolerance) and with the oracle (the forward tolerance)."""
    loaded = read_weights(path, kind, names)
    ok = check_values(f"{{label}}: weights", loaded, as64(saved), atol=atol, rtol=rtol)
    outs = predict(loaded)
    ok = check_values(f"{{label}}: outputs vs {{before_label}}", outs, as64(before),
                      atol=atol, rtol=rtol) and ok
    return check_values(f"{{label}}: outputs vs oracle", outs, ORACLE_OUTPUTS, atol=ATOL,
                        rtol=RTOL) and ok


def main():
    ws = [DATA[f"w{{i}}"] for i in range(len(WEIGHT_NAMES))]
    before = predict(ws)
    ok = check_values("{backend} before saving vs oracle", before, ORACLE_OUTPUTS, atol=ATOL,
                      rtol=RTOL)
    with tempfile.TemporaryDirectory() as folder:
        for kind in WRITE_HERE:
            path = write_weights(folder, kind, ws)
            names = NPZ_KEYS if kind == "npz" else H5_PATHS
            ok = check_file(f"{{kind}} written by this script", path, kind, names, ws, before,
                            0.0, 0.0) and ok
        for entry in FILES:
            path = materialise(folder, entry)
            saved = ws if entry["weights"] is None else [DATA[k] for k in entry["weights"]]
            outs = before if entry["outputs"] is None else [DATA[k] for k in entry["outputs"]]
            ok = check_file(entry["label"], path, entry["kind"], entry["names"], saved, outs,
                            entry["atol"], entry["rtol"], entry["compared_with"]) and ok
    print("OK: within tolerance" if ok else "MISMATCH: reproduced the failure")
    return 0 if ok else 1
'''


def _doc(run: StateRun) -> str:
    case = run.case
    if run.check == "serialization":
        replayed = ["the weights written by this script (np.savez; h5py in Keras 2's layout) "
                    "and read back", "the weight files exactly as dl-harness's formats "
                    f"({', '.join(f.label.split()[0] for f in run.files)}) wrote them on "
                    f"{run.backend}, read with NumPy/h5py", f"the layer's forward pass on "
                    f"{run.backend} with the weights read (the recorded backend calls)"]
        judged = [("weights and outputs after the round trip vs before (exact, as the "
                   "check)", 0.0, 0.0)]
    else:
        replayed = [f"the weight files as other backends saved them ({f.label})"
                    for f in run.files]
        replayed += [f"the forward pass of the loading backend, {run.backend}, with the "
                     "weights read from each (the recorded backend calls)"]
        judged = [("weights and outputs vs the saving backend's", run.tol.atol, run.tol.rtol)]
    not_replayed = ["the config round trip (get_config/from_config) and the model rebuilt "
                    "from the file's config on load: the reference library's own Python; "
                    "this script replays the layer as built, with the weights from the file",
                    *run.notes]
    judged.append(("outputs vs the oracle (the forward tolerance)", run.tol.atol,
                   run.tol.rtol))
    flags = f" --check {run.check}" + (f" --device {run.device}" if run.device != "cpu"
                                       else "")
    return header(
        f"Standalone reproduction: {case.id} ({case.layer}), check {run.check!r}, backend "
        f"{run.backend} {run.session.version}, dtype {run.dtype}, device {run.device}.",
        [f"Layer config: {json.dumps(plain_config(case.config), sort_keys=True)}",
         f"Inputs: {[tuple(s.shape) for s in case.inputs]}; weights: "
         f"{', '.join(run.weight_names) or 'none'}."],
        replayed, not_replayed, judged, run.result,
        f"harness conform --repro {case.id} --backend {run.backend} --dtype {run.dtype}"
        + flags)


def _files(run: StateRun) -> str:
    rows = []
    for f in run.files:
        entry: dict[str, Any] = {"label": f.label, "kind": f.kind, "data": f.key,
                                 "names": f.names, "weights": f.weights,
                                 "outputs": f.outputs, "compared_with": f.compared_with,
                                 "atol": f.tol.atol, "rtol": f.tol.rtol}
        rows.append(f"    {entry!r},")
    return "FILES = [\n" + "\n".join(rows) + "\n]"


def render(run: StateRun) -> str:
    """The script's source text."""
    ops = {"convert_to_tensor", "to_numpy"} | run.program.ops()
    names: dict[str, str] = run.session.names(ops)
    lay = run.layout
    constants = "\n".join([
        "\n",
        f"INPUTS = {run.inputs!r}  # (DATA key, dtype)",
        f"MASK = {run.mask!r}",
        f"WEIGHT_NAMES = {run.weight_names!r}",
        f"WEIGHT_DTYPES = {run.weight_dtypes!r}",
        "# where each weight goes: the native format's npz keys, the HDF5 layer group and",
        "# its datasets in the order the format writes them (with their get_weights index)",
        f"NPZ_KEYS = {lay.npz_keys!r}",
        f"H5_LAYER = {lay.h5_layer!r}",
        f"H5_SAVED = {list(zip(lay.h5_saved_order, lay.h5_index, strict=True))!r}",
        f"H5_PATHS = {lay.h5_paths!r}",
        f"WRITE_HERE = {run.write_here!r}",
        _files(run),
        f"ATOL, RTOL = {run.tol.atol!r}, {run.tol.rtol!r}  # the forward tolerance",
        "# the oracle's float64 outputs for these inputs and weights",
        f"ORACLE_OUTPUTS = {literals(run.oracle)}",
    ])
    body = [constants, _FUNCTIONS.format(convert=names["convert_to_tensor"],
                                         to_numpy=names["to_numpy"], backend=run.backend)]
    arrays = {**run.arrays, **run.session.recorder.constants}
    return assemble(_doc(run), ["import os", "import tempfile"], run.session.inliner.source(),
                    ["\n".join(run.program.render(names))], arrays, body)
