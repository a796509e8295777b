"""Models saved by Keras 3 on other backends, for the portability check.

Keras binds its backend once per process (``KERAS_BACKEND`` at import), so a model "saved on
backend A" is saved by another Python process started with ``KERAS_BACKEND=A``. One such
process per source backend serves the whole run: it starts the first time a case needs it,
builds each case it is asked for (the case's own weights), predicts on the case's inputs,
saves a model around the layer in every format into a temporary folder, and answers with the
paths, its predictions and its weights. Answers are cached per (source, case, dtype, device).

Run as ``python -m harness.conformance.targets.keras3_saved`` this module is that process: one
JSON request a line on stdin, one JSON answer a line on the original stdout.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np

from harness.conformance.targets.keras3_backends import KERAS_BACKENDS, framework_importable

#: seconds a source process may take to answer one case (its first answer imports Keras)
ANSWER_TIMEOUT_S = 600.0


@dataclass
class SavedModels:
    """One case saved by Keras on ``source``: a file per format, and what it predicted."""

    source: str
    paths: dict[str, str]  # format -> saved file
    outputs: list[np.ndarray]  # the source's own predictions on the case's inputs
    weights: list[np.ndarray]  # the source's weights, float64, in ``layer.weights`` order
    errors: dict[str, str] = field(default_factory=dict)  # what failed: format (or "build")


def sources(backend: str) -> list[str]:
    """Keras backends other than ``backend`` whose framework is importable here."""
    return [b for b in KERAS_BACKENDS if b != backend and framework_importable(b)]


class _Source:
    """A process running Keras on one backend, saving cases on request."""

    def __init__(self, backend: str):
        self.backend = backend
        self.folder = tempfile.mkdtemp(prefix=f"harness-keras-{backend}-")
        self.log: IO[bytes] = open(os.path.join(self.folder, "stderr.log"), "w+b")  # noqa: SIM115
        env = {**os.environ, "KERAS_BACKEND": backend}
        self.proc = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     text=True, bufsize=1)
        self.asked = 0

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one request; its answer (RuntimeError when the process dies or hangs)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.asked += 1
        request = {**request, "folder": os.path.join(self.folder, f"c{self.asked}")}
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise RuntimeError(self._ended()) from None
        ready, _, _ = select.select([self.proc.stdout], [], [], ANSWER_TIMEOUT_S)
        if not ready:
            self.close()
            raise RuntimeError(f"Keras on {self.backend} gave no answer in "
                               f"{ANSWER_TIMEOUT_S:g} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(self._ended())
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _ended(self) -> str:
        self.proc.wait(timeout=30)
        self.log.seek(0)
        tail = self.log.read().decode("utf-8", "replace").strip().splitlines()[-3:]
        return (f"the process saving models with Keras on {self.backend} ended "
                f"(exit {self.proc.returncode}): {' | '.join(tail)}")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        """End the process and remove its folder."""
        if self.proc.poll() is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.folder, ignore_errors=True)


_SOURCES: dict[str, _Source] = {}
_SAVED: dict[tuple[str, str, str, str], SavedModels | None] = {}


def _source(backend: str) -> _Source:
    process = _SOURCES.get(backend)
    if process is None or not process.alive():
        process = _SOURCES[backend] = _Source(backend)
    return process


@atexit.register
def close_all() -> None:
    """End every source process of this run and remove the models they saved."""
    for process in _SOURCES.values():
        process.close()
    _SOURCES.clear()
    _SAVED.clear()


def saved_on(source: str, case_id: str, dtype: str, device: str = "cpu") -> SavedModels | None:
    """The case saved by Keras on ``source`` in every format, from the case's weights; None
    when Keras on ``source`` does not compute in ``dtype`` or does not see ``device``.
    RuntimeError when the source process dies or hangs."""
    key = (source, case_id, dtype, device)
    if key not in _SAVED:
        answer = _source(source).ask({"case": case_id, "dtype": dtype, "device": device})
        _SAVED[key] = _from_answer(source, answer)
    return _SAVED[key]


def _from_answer(source: str, answer: dict[str, Any]) -> SavedModels | None:
    if answer["status"] == "unsupported":
        return None
    if answer["status"] == "error":
        return SavedModels(source, {}, [], [], {"build": answer["message"]})
    with np.load(answer["arrays"]) as npz:
        outputs = [npz[f"o{i}"] for i in range(answer["outputs"])]
        weights = [npz[f"w{i}"] for i in range(answer["weights"])]
    return SavedModels(source, dict(answer["paths"]), outputs, weights, dict(answer["errors"]))


# --- the source process ------------------------------------------------------------------------
def _save(backend: str, request: dict[str, Any], targets: dict[str, Any]) -> dict[str, Any]:
    """Build, predict and save one case on this process's Keras backend; the answer."""
    from harness.conformance import data
    from harness.conformance.cases import Case, get
    from harness.conformance.targets.keras3 import KerasTarget
    from harness.errors import UsageError

    dtype, device = request["dtype"], request["device"]
    try:
        if device not in targets:
            targets[device] = KerasTarget(backend, device)
    except UsageError as exc:
        return {"status": "unsupported", "reason": str(exc)}
    target = targets[device]
    if not target.supports(dtype):
        return {"status": "unsupported", "reason": f"Keras on {backend} has no {dtype}"}
    try:
        case = get(request["case"])
        if not isinstance(case, Case):
            raise TypeError(f"{case.id} is not a layer case")
        built = target.build(case, dtype)
        outputs = target.forward(built, data.inputs(case, dtype), mask=data.mask(case))
        weights = target.get_weights(built)
    except Exception as exc:  # noqa: BLE001 - Keras's failure is the answer
        return {"status": "error", "message": f"{type(exc).__name__}: {exc}"}
    folder = request["folder"]
    os.makedirs(folder, exist_ok=True)
    paths, errors = {}, {}
    for fmt in target.formats():
        try:
            paths[fmt] = target.save(built, fmt, folder)
        except Exception as exc:  # noqa: BLE001 - one format failing leaves the others
            errors[fmt] = f"{type(exc).__name__}: {exc}"
    arrays = os.path.join(folder, "arrays.npz")
    np.savez(arrays, **{f"o{i}": o for i, o in enumerate(outputs)},
             **{f"w{i}": w for i, w in enumerate(weights)})
    return {"status": "saved", "paths": paths, "errors": errors, "arrays": arrays,
            "outputs": len(outputs), "weights": len(weights)}


def main() -> int:
    """Serve save requests on the backend named by ``KERAS_BACKEND`` until stdin closes."""
    backend = os.environ["KERAS_BACKEND"]
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever else prints (Keras, TensorFlow, C code) goes to stderr
    sys.stdout = sys.stderr
    targets: dict[str, Any] = {}
    for line in sys.stdin:
        answers.write(json.dumps(_save(backend, json.loads(line), targets)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
