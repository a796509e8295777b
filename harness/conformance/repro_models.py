"""Standalone reproductions of the model-level checks: ``training`` and ``data_parallel`` of
model cases (``repro_training``), ``serialization`` and ``portability`` of layer cases (save,
load, predict: ``repro_state``).

Like the layer reproductions of ``repro``, a script replays backend op calls recorded from one
run of the reference library (``repro_trace``) through copies of the backend's own functions
(``repro_inline``), so it runs the framework alone. This module routes a (case, check) to the
right builder and holds what both share: the recording session on one backend and the script
skeleton (header, embedded data, the oracle's numbers as readable literals).
"""

from __future__ import annotations

import base64
import contextlib
import io
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import __version__
from harness.conformance.cases import Case, ModelCase, get
from harness.conformance.repro_trace import Recorder
from harness.errors import UsageError

#: the checks whose scripts this module (and its two builders) writes
MODEL_CHECKS = ("training", "data_parallel")
STATE_CHECKS = ("serialization", "portability")
CHECKS = MODEL_CHECKS + STATE_CHECKS

#: names the scripts of this module define at top level (inlined backend code avoids them)
SCRIPT_NAMES = frozenset({
    "os", "tempfile", "h5py", "ORACLE_LOSSES", "ORACLE_WEIGHTS", "ORACLE_OUTPUTS", "STEPS",
    "LOSS_BY_ROWS", "SHARD_LOSS_BY_ROWS", "STATE_DTYPES", "WEIGHT_DTYPES", "WEIGHT_NAMES",
    "DEVICES", "ATOL", "RTOL",
    "FILES", "loss_and_grads", "train", "sharded_grads", "usable_devices", "tensors",
    "predict", "read_weights", "write_weights", "materialise", "check_file", "as64", "INPUTS",
    "MASK", "NPZ_KEYS", "H5_LAYER", "H5_SAVED", "H5_PATHS", "WRITE_HERE", "layer_forward",
    "optimizer_update",
})


def _case(case_id: str) -> Case | ModelCase:
    try:
        return get(case_id)
    except KeyError:
        raise UsageError(f"unknown conformance case {case_id!r}") from None


def handles(case_id: str, check: str) -> bool:
    """True when this module writes the script for ``check`` of ``case_id``: every check of a
    model case, and serialization/portability of layer cases."""
    if check in CHECKS:
        return True
    try:
        return isinstance(get(case_id), ModelCase)
    except KeyError:
        return False


def default_check(case_id: str) -> str:
    """The check ``--repro CASE_ID`` reproduces without ``--check``: training for a model
    case, forward for a layer case (and for an unknown id, which fails later)."""
    try:
        return "training" if isinstance(get(case_id), ModelCase) else "forward"
    except KeyError:
        return "forward"


def reproduction(case_id: str, check: str, backend: str = "numpy", dtype: str = "float32",
                 result: dict[str, Any] | None = None, device: str = "cpu", devices: int = 2,
                 sources: Sequence[str] | None = None) -> str:
    """The source of a standalone script reproducing ``check`` of ``case_id`` on ``backend``.

    ``devices`` is the device count of a data_parallel script; ``sources`` the saving
    backends of a portability script (default: every other installed eager backend).
    UsageError for an unknown case, a check it lacks, or a backend not installed here.
    """
    case = _case(case_id)
    if isinstance(case, ModelCase):
        from harness.conformance import repro_training

        if check not in MODEL_CHECKS:
            raise UsageError(f"case {case_id!r} trains a model: its checks are "
                             f"{', '.join(MODEL_CHECKS)}, not {check!r}")
        if dtype != "float32":
            raise UsageError("model cases train in float32 only")
        return repro_training.reproduction(case, check, backend, result, device, devices)
    if check not in STATE_CHECKS:
        raise UsageError(f"case {case_id!r} is a layer case; {check!r} applies to model cases")
    if check not in case.checks:
        raise UsageError(f"case {case_id!r} has no {check!r} check "
                         f"(it has: {', '.join(case.checks)})")
    from harness.conformance import repro_state

    return repro_state.reproduction(case, check, backend, dtype, result, device, sources)


#: what a script of each check cannot replay without dl-harness (for the README of scripts)
LIMITATIONS = {
    "training": "replays the recorded forward/loss and optimizer calls and the framework's "
                "autodiff; not the trainer's own Python around them",
    "data_parallel": "replays the data-parallel arithmetic (per-shard gradients summed) one "
                     "device after another, not the framework's distribution machinery "
                     "(MirroredStrategy, shard_map, gloo)",
    "serialization": "replays the weight files and the forward pass with the weights read; "
                     "not the config round trip nor the model rebuilt on load",
    "portability": "replays the files the saving backend wrote and the loading backend's "
                   "forward pass; not the config round trip nor the model rebuilt on load",
}


def limitation(check: str) -> str | None:
    """One line on what a ``check`` script cannot replay without dl-harness (None: this
    module does not write that check's scripts)."""
    return LIMITATIONS.get(check)


# --- recording ---------------------------------------------------------------------------
@dataclass
class Session:
    """A reference target on one eager backend, with the recorder and the inliner that copy
    its functions into a script."""

    target: Any
    module: Any  # the active backend module
    recorder: Recorder
    inliner: Any  # repro_inline.Inliner
    version: str

    def names(self, ops: set[str]) -> dict[str, str]:
        """Op name -> the name the script calls the inlined backend function by."""
        return {op: self.inliner.function(getattr(self.module, op), self.module.__name__)
                for op in sorted(ops)}


@contextlib.contextmanager
def backend_kept() -> Iterator[None]:
    """Leave the reference library's active backend as it was (recording switches it)."""
    from harness.reference import backend as K

    saved = (K._active, K._active_name)
    try:
        yield
    finally:
        K._active, K._active_name = saved


def start(backend: str, device: str) -> Session:
    """A recording session on ``backend`` (UsageError when absent, or a graph backend)."""
    from harness.conformance.repro_inline import Inliner
    from harness.conformance.repro_script import RESERVED
    from harness.conformance.targets import DeviceUnavailable, make_target

    try:
        target: Any = make_target("reference", backend, device)
    except DeviceUnavailable as exc:
        raise UsageError(str(exc)) from None
    module = target.K.active()
    if getattr(module, "EXECUTION", "eager") != "eager":
        raise UsageError(f"backend {backend!r} builds graphs; these reproductions need an "
                         "eager backend (numpy, tensorflow, jax, torch)")
    inliner = Inliner(RESERVED | SCRIPT_NAMES)
    inliner.adopt_import("numpy", "np")  # the script's own code uses np
    convert = inliner.function(module.convert_to_tensor, module.__name__)
    version = target.versions().get(backend, "unknown")
    return Session(target, module, Recorder(module, convert), inliner, version)


# --- script pieces -----------------------------------------------------------------------
def embed(arrays: dict[str, np.ndarray]) -> str:
    """``DATA_NPZ = [...]``: the arrays as a base64 npz in lines of 88 characters."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    text = base64.b64encode(buffer.getvalue()).decode("ascii")
    return "DATA_NPZ = [\n" + "".join(f'    "{c}",\n' for c in textwrap.wrap(text, 88)) + "]\n"


def _number(value: float) -> str:
    if np.isnan(value):
        return "float('nan')"
    if np.isinf(value):
        return "float('inf')" if value > 0 else "-float('inf')"
    return repr(float(value))


def literal(array: np.ndarray) -> str:
    """Source text of a float64 array, its numbers written out (editable, diffable)."""
    flat = np.asarray(array, dtype=np.float64).ravel()
    numbers = ", ".join(_number(v) for v in flat)
    return f"np.array([{numbers}], dtype=np.float64).reshape({tuple(np.shape(array))!r})"


def literals(arrays: Sequence[np.ndarray]) -> str:
    """Source text of a list of float64 arrays, one per line."""
    return "[\n" + "".join(f"    {literal(a)},\n" for a in arrays) + "]"


def header(title: str, details: Sequence[str], replayed: Sequence[str],
           not_replayed: Sequence[str], tolerances: Sequence[tuple[str, float, float]],
           result: dict[str, Any] | None, command: str) -> str:
    """The script's docstring: what it reproduces, how, what it cannot, and how it judges."""
    lines = [title, "", *details]
    if result:
        lines.append(f"Recorded outcome: {result.get('outcome')}"
                     + (f" - {result['message']}" if result.get("message") else ""))
    lines += ["", "Replayed here with the framework alone (nothing imports dl-harness):"]
    lines += [f"  - {r}" for r in replayed]
    if not_replayed:
        lines += ["Not replayed (dl-harness's own Python, or machinery the script replaces):"]
        lines += [f"  - {n}" for n in not_replayed]
    lines += ["Expected values come from dl-harness's independent float64 NumPy oracle and are "
              "written", "out as ORACLE_* below."]
    for label, atol, rtol in tolerances:
        lines.append(f"{label}: passes when |got - expected| <= {atol:g} + {rtol:g} * "
                     "|expected|.")
    lines += ["", "Exit status: 0 when everything is within tolerance, 1 when not (or when the "
              "backend", "raises).", f"Made by dl-harness {__version__}: {command}"]
    return '"""' + "\n".join(lines).replace('"""', "'''") + '\n"""'


def assemble(doc: str, imports: Sequence[str], inlined: str, programs: Sequence[str],
             arrays: dict[str, np.ndarray], body: Sequence[str], prelude: str = "") -> str:
    """The whole script: docstring, imports, copied backend functions, recorded programs,
    data, the comparison helpers, the script's own functions and ``main``."""
    from harness.conformance.repro_script import HELPERS

    parts = [
        "#!/usr/bin/env python3",
        doc,
        "from __future__ import annotations\n\n" + "\n".join(
            ["import base64", "import io", "import sys", *imports]) + "\n",
        prelude,
        "# ---- the backend's functions, copied from the dl-harness reference library ----",
        inlined,
        "\n# ---- the computation: the backend calls the reference library made (recorded) ----"
        "\n",
        "\n\n".join(programs),
        "\n\n# ---- data: inputs, initial weights and state, files (base64 npz) ----",
        embed(arrays),
        HELPERS,
        *body,
        "\nDATA = load_data()\n\nif __name__ == '__main__':\n    sys.exit(main())\n",
    ]
    return "\n".join(p for p in parts if p is not None)
