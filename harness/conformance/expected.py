"""Expected values from the float64 oracle (layer outputs, gradients and training
trajectories), computed once per case, dtype and weights.

Results are cached in memory per process (and in the store when one is configured), keyed by
the case digest, the oracle version and a hash of the exact inputs and weights, so every check
and every later call reuses them.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from harness.conformance import oracle
from harness.conformance.cases import Case, ModelCase, plain_config

_cache: dict[str, Any] = {}
_store: Any = None  # a harness.store.Store shared by every run and backend, when configured


_digests: dict[int, tuple[Case | ModelCase, str]] = {}  # id(case) -> (case, digest)


def _digest(case: Case | ModelCase) -> str:
    """The case's digest, computed once per case object (cases are frozen)."""
    entry = _digests.get(id(case))
    if entry is None or entry[0] is not case:
        digest = case.digest if isinstance(case, Case) else _model_digest(case)
        entry = _digests[id(case)] = (case, digest)
    return entry[1]


def _model_digest(case: ModelCase) -> str:
    """Stable hash of every field of a model case but its id and checks."""
    fields = {f.name: getattr(case, f.name) for f in dataclasses.fields(case)
              if f.name not in ("id", "checks")}
    payload = json.dumps(fields, sort_keys=True,
                         default=lambda v: dict(v) if isinstance(v, Mapping) else list(v))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _key(case: Case | ModelCase, purpose: str, arrays: list[np.ndarray],
         extra: object = None) -> str:
    h = hashlib.sha256(f"{_digest(case)}|{oracle.VERSION}|{purpose}|{extra}".encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def use_store(store: Any) -> None:
    """Persist oracle results in ``store`` (reused by every backend, library and later run)."""
    global _store
    _store = store


# A payload is MAGIC, one line of JSON naming each array's dtype and shape, then the arrays'
# bytes in C order: read back with one np.frombuffer per array (an npz archive, the format
# of older stores, still reads; it costs a zip file per read).
MAGIC = b"harness-oracle/2\n"
_NPZ_MAGIC = b"PK"


def _pack(value: Any) -> bytes:
    """Arrays, lists of arrays and pairs of lists of arrays, as one payload."""
    pair = isinstance(value, tuple)
    groups = [list(g) for g in value] if pair else [list(value)]
    arrays = [[np.asarray(a) for a in group] for group in groups]  # tobytes() is C order
    for group in arrays:
        for a in group:
            if a.dtype.hasobject:
                raise TypeError("oracle values are numeric arrays, not Python objects")
    header = {"pair": pair,
              "groups": [[[a.dtype.str, list(a.shape)] for a in group] for group in arrays]}
    parts = [MAGIC, json.dumps(header, separators=(",", ":")).encode(), b"\n"]
    parts += [a.tobytes() for group in arrays for a in group]
    return b"".join(parts)


def _unpack(payload: bytes) -> Any:
    if payload.startswith(_NPZ_MAGIC):
        return _unpack_npz(payload)
    if not payload.startswith(MAGIC):
        raise ValueError("not an oracle payload")
    end = payload.index(b"\n", len(MAGIC))
    pair, layout = _layout(payload[len(MAGIC):end])
    buffer = bytearray(payload)  # writable arrays, as computed ones are
    offset = end + 1
    groups = []
    for group in layout:
        arrays = []
        for dtype, shape, count in group:
            arrays.append(np.frombuffer(buffer, dtype, count, offset).reshape(shape))
            offset += count * dtype.itemsize
        groups.append(arrays)
    if offset != len(payload):
        raise ValueError("oracle payload size does not match its header")
    return tuple(groups) if pair else groups[0]


_Layout = tuple[tuple[tuple[np.dtype, tuple[int, ...], int], ...], ...]


@functools.lru_cache(maxsize=4096)
def _layout(header: bytes) -> tuple[bool, _Layout]:
    """A payload header read: whether the value is a pair, and each group's arrays as (dtype,
    shape, element count). Many payloads share a header (same shapes): read once."""
    parsed = json.loads(header)
    return bool(parsed["pair"]), tuple(
        tuple((np.dtype(dtype_str), tuple(shape), math.prod(shape)) for dtype_str, shape in group)
        for group in parsed["groups"])


def _unpack_npz(payload: bytes) -> Any:
    with np.load(io.BytesIO(payload)) as npz:
        # only our own array names: anything else (numpy < 2.1 stored a stray keyword as an
        # array) is not part of the value
        names = sorted(n for n in npz.files if re.fullmatch(r"a_\d{4}|g[01]_\d{4}", n))
        if bool(npz["pair"]):
            groups: dict[int, list[np.ndarray]] = {}
            for name in names:
                groups.setdefault(int(name[1:name.index("_")]), []).append(npz[name])
            return tuple(groups.get(g, []) for g in range(2))
        return [npz[name] for name in names]


def _cached(key: str, compute: Callable[[], Any]) -> Any:
    if key in _cache:
        return _cache[key]
    if _store is not None:
        from harness.store import oracle_get, oracle_put

        payload = oracle_get(_store, key)
        if payload is None:
            value = compute()
            oracle_put(_store, key, _pack(value))
        else:
            value = _unpack(payload)
    else:
        value = compute()
    _cache[key] = value
    return value


def forward(case: Case, weights: list[np.ndarray], inputs: list[np.ndarray],
            training: bool | None = None, mask: np.ndarray | None = None) -> list[np.ndarray]:
    """Oracle outputs (always a list) for the case's layer."""
    training = case.training if training is None else training
    extra = (training, None if mask is None else mask.tobytes())

    def compute() -> list[np.ndarray]:
        arg: Any = inputs if case.multi_input else inputs[0]
        out = oracle.forward(case.layer, plain_config(case.config), weights, arg,
                             training=training, mask=mask)
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [np.asarray(o, dtype=np.float64) for o in outs]

    return _cached(_key(case, "forward", [*weights, *inputs], extra), compute)


def output_mask(case: Case, inputs: list[np.ndarray], mask: np.ndarray | None
                ) -> np.ndarray | None:
    """The mask the oracle says the layer emits."""
    arg: Any = inputs if case.multi_input else inputs[0]
    out = oracle.compute_mask(case.layer, plain_config(case.config), arg, mask)
    return None if out is None else np.asarray(out, dtype=bool)


def gradients(case: Case, weights: list[np.ndarray], inputs: list[np.ndarray],
              cotangents: list[np.ndarray], wrt_inputs: list[int], trainable: list[bool],
              mask: np.ndarray | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Gradients of sum(oracle_output * cotangent) w.r.t. the chosen inputs and the trainable
    weights, by central finite differences in float64."""
    from harness.conformance.oracle.numeric import central_difference

    train_idx = [i for i, t in enumerate(trainable) if t]

    def objective(*arrays: np.ndarray) -> float:
        xs = list(inputs)
        for k, i in enumerate(wrt_inputs):
            xs[i] = arrays[k]
        ws = list(weights)
        for k, i in enumerate(train_idx):
            ws[i] = arrays[len(wrt_inputs) + k]
        arg: Any = xs if case.multi_input else xs[0]
        out = oracle.forward(case.layer, plain_config(case.config), ws, arg,
                             training=case.training, mask=mask)
        outs = out if isinstance(out, (list, tuple)) else [out]
        return float(sum(np.sum(o * c) for o, c in zip(outs, cotangents, strict=False)))

    def compute() -> tuple[list[np.ndarray], list[np.ndarray]]:
        points = [inputs[i] for i in wrt_inputs] + [weights[i] for i in train_idx]
        grads = central_difference(objective, points)
        return list(grads[: len(wrt_inputs)]), list(grads[len(wrt_inputs):])

    extra = (tuple(wrt_inputs), tuple(trainable), None if mask is None else mask.tobytes())
    return _cached(_key(case, "fd-grad", [*weights, *inputs, *cotangents], extra), compute)


def trajectory(case: ModelCase, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray
               ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The oracle's float64 training trajectory of a model case from ``weights`` on
    ``(x, y)``: ``([losses before every step], final weights, flat)``."""

    def compute() -> tuple[list[np.ndarray], list[np.ndarray]]:
        from harness.conformance.checks.training import flatten_weights, oracle_trajectory

        got = oracle_trajectory(case, weights, x, y)
        return [np.asarray(got["losses"], dtype=np.float64)], flatten_weights(got["weights"])

    return _cached(_key(case, "trajectory", [*weights, x, y]), compute)
