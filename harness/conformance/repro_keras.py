"""Standalone reproductions of Keras 3 conformance results.

For a failed or errored Keras result, a script that sets ``KERAS_BACKEND``, builds the layer with
``keras.layers.<Name>(**config)``, builds it on the case's inputs, sets the case's weights, runs
the check's steps with Keras alone and prints each step's difference from the oracle values
stored in it (exit 1 while the failure persists). The data comes from the Keras target on that
backend and from the oracle, here; each check's steps from ``repro_keras_values`` (the value
checks), ``repro_keras_runs`` (determinism, batch_invariance, compiled) and
``repro_keras_saving`` (serialization, portability); the text from ``repro_keras_script``.

Keras binds its backend at import, so ``write_scripts`` makes each backend's scripts in a
process of its own (``python -m harness.conformance.repro_keras``, one per backend).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.conformance import data
from harness.conformance import repro_keras_runs as runs
from harness.conformance import repro_keras_saving as saving
from harness.conformance import repro_keras_values as values
from harness.conformance.cases import plain_config
from harness.conformance.repro_builder import requested_layer_case
from harness.conformance.repro_keras_builder import Builder, BuildFailed, KerasReproduction
from harness.conformance.tolerances import Tol, lookup
from harness.errors import UsageError

#: each check's steps: a function adding them to a Builder, given the check's tolerance
_STEPS: dict[str, Callable[[Builder, Tol], None]] = {**values.STEPS, **runs.STEPS,
                                                    **saving.STEPS}

#: the checks a Keras script reproduces
SUPPORTED_CHECKS = tuple(_STEPS)

#: checks a Dropout case in training mode can still reproduce: they need no oracle values
_RANDOM_OK = ("shape", "determinism")


def build(case_id: str, check: str = "forward", backend: str = "jax", dtype: str = "float32",
          result: dict[str, Any] | None = None, device: str = "cpu") -> KerasReproduction:
    """The data and steps of a script reproducing ``check`` of ``case_id`` with Keras on
    ``backend`` (imported here: this process must not run Keras on another backend).
    UsageError for an unknown case, a check the case lacks or no script reproduces, an
    unknown dtype, or Keras or the backend missing."""
    from harness.conformance.targets import DeviceUnavailable, make_target
    from harness.conformance.targets.keras3_backends import device_name

    case = requested_layer_case(case_id, check, SUPPORTED_CHECKS,
                                "standalone Keras reproduction")
    if dtype not in ("float16", "bfloat16", "float32", "float64"):
        raise UsageError(f"unknown dtype {dtype!r}")
    if case.layer == "Dropout" and case.training and check not in _RANDOM_OK:
        raise UsageError(f"case {case_id!r} draws a random dropout mask: no fixed oracle values "
                         "to reproduce against")
    try:
        target = make_target("keras", backend, device)
    except DeviceUnavailable as exc:
        raise UsageError(str(exc)) from None
    rep = KerasReproduction(case, check, backend, dtype, device, device_name(device),
                            target.versions(), plain_config(case.config), result=result)
    builder = Builder(rep, target)
    rep.build_inputs = builder.inputs("build_x", data.inputs(case, dtype), dtype)
    try:
        _STEPS[check](builder, lookup(dtype, check, case))
    except BuildFailed:
        pass  # the script's one step replays the build that raised
    return rep


def reproduction(case_id: str, check: str = "forward", backend: str = "jax",
                 dtype: str = "float32", result: dict[str, Any] | None = None,
                 device: str = "cpu") -> str:
    """The source of a standalone Keras script for ``check`` of ``case_id`` on ``backend``;
    it exits 0 when every step is within tolerance, 1 when not (or Keras raises)."""
    from harness.conformance.repro_keras_script import render

    return render(build(case_id, check, backend, dtype, result, device))


def default_backend() -> str:
    """The first of jax, tensorflow, torch importable here (numpy if none is)."""
    for name in ("jax", "tensorflow", "torch"):
        if importlib.util.find_spec(name) is not None:
            return name
    return "numpy"


def repro_command(args: argparse.Namespace) -> int:
    """``harness conform --repro CASE_ID --library keras``: print the script; exit 0."""
    backends = args.backends or [default_backend()]
    dtypes = args.dtypes or ["float32"]
    if len(backends) > 1 or len(dtypes) > 1:
        raise UsageError("--repro takes one --backend and one --dtype")
    print(reproduction(args.repro, args.check or "forward", backends[0], dtypes[0],
                       device=args.device or "cpu"), end="")
    return 0


def write_scripts(results: list[dict[str, Any]], folder: str | Path
                  ) -> tuple[list[Path], list[str]]:
    """Write a script into ``folder`` for each Keras result (failed or errored), with one
    process per backend; the paths written and a README line per result."""
    if importlib.util.find_spec("keras") is None:
        return [], [f"- {_name(r)}: not written: keras is not installed here" for r in results]
    written: list[Path] = []
    notes: list[str] = []
    for backend in sorted({r["backend"] for r in results}):
        mine = [r for r in results if r["backend"] == backend]
        with tempfile.TemporaryDirectory(prefix="harness-repro-keras-") as scratch:
            answer = Path(scratch) / "answer.json"
            request = {"results": mine, "folder": str(folder), "answer": str(answer)}
            proc = subprocess.run([sys.executable, "-m", __name__], input=json.dumps(request),
                                  text=True, capture_output=True,
                                  env={**os.environ, "KERAS_BACKEND": backend})
            if proc.returncode != 0 or not answer.is_file():
                why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                notes += [f"- {_name(r)}: not written: Keras on {backend} failed ({why})"
                          for r in mine]
                continue
            done = json.loads(answer.read_text(encoding="utf-8"))
        written += [Path(p) for p in done["written"]]
        notes += done["notes"]
    return written, notes


def _name(r: dict[str, Any]) -> str:
    from harness.conformance.repro import file_name

    return file_name(r["case"], r["check"], r["backend"], r["dtype"])


def _write_here(results: list[dict[str, Any]], folder: Path) -> tuple[list[str], list[str]]:
    """Write the scripts of ``results`` (one backend: this process's) into ``folder``."""
    written, notes = [], []
    for r in results:
        name = _name(r)
        try:
            text = reproduction(r["case"], r["check"], r["backend"], r["dtype"], result=r,
                                device=r.get("device") or "cpu")
        except UsageError as exc:
            notes.append(f"- {name}: not written: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - the other scripts are still written
            notes.append(f"- {name}: not written: {type(exc).__name__}: {exc}")
            continue
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
        written.append(str(folder / name))
        notes.append(f"- {name}: `python {name}`")
    return written, notes


def main() -> int:
    """The per-backend process of ``write_scripts``: a JSON request on stdin."""
    request = json.loads(sys.stdin.read())
    written, notes = _write_here(request["results"], Path(request["folder"]))
    Path(request["answer"]).write_text(json.dumps({"written": written, "notes": notes}),
                                       encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
