"""Deterministic inputs, weights, masks and cotangents for a case.

Everything is drawn in float64 from a generator seeded by the case id, then rounded to the
dtype under test; the oracle receives the rounded values, so a comparison measures the
computation and not the rounding of its inputs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from harness.conformance.cases import Case, InputSpec

NUMPY_DTYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


def seed_of(*parts: object) -> int:
    """A 32-bit seed derived from the parts' text (stable across processes and runs)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def round_to(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` rounded to ``dtype`` and returned as float64 (bfloat16 by truncating mantissa)."""
    if dtype == "bfloat16":
        as32 = np.asarray(x, dtype=np.float32)
        bits = as32.view(np.uint32)
        # round to nearest even on the 16 dropped bits
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
        return rounded.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.asarray(x, dtype=NUMPY_DTYPES[dtype]).astype(np.float64)


def draw_input(spec: InputSpec, rng: np.random.Generator, batch: int | None = None) -> np.ndarray:
    shape = (batch, *spec.shape[1:]) if batch is not None else spec.shape
    if spec.kind == "int":
        return rng.integers(int(spec.low), int(spec.high), size=shape).astype(np.int64)
    if spec.kind == "uniform":
        return rng.uniform(spec.low, spec.high, size=shape)
    if spec.kind == "positive":
        return rng.uniform(0.5, 2.0, size=shape)
    return rng.normal(size=shape)


# Generated values, per case object (compared by identity: cases are frozen) and arguments.
# Every check of a case asks for the same inputs; callers get copies, as some mutate them.
_generated: dict[tuple[Any, ...], tuple[object, Any]] = {}
_GENERATED_MAX = 4096  # entries; far above the catalogue's size, a bound for long sessions


def clear_cache() -> None:
    """Forget the inputs, masks and cotangents generated so far in this process."""
    _generated.clear()


def _remember(owner: object, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """The value cached under ``key`` for ``owner`` (the same object, or None when the key
    says it all), made on first use."""
    entry = _generated.get(key)
    if entry is not None and entry[0] is owner:
        return entry[1]
    value = make()
    if len(_generated) >= _GENERATED_MAX:
        _generated.clear()
    _generated[key] = (owner, value)
    return value


def _copies(arrays: list[np.ndarray]) -> list[np.ndarray]:
    return [a.copy() for a in arrays]


def inputs(case: Case, dtype: str, batch: int | None = None) -> list[np.ndarray]:
    """The case's inputs: float inputs rounded to ``dtype`` (as float64), int inputs as int64.

    Steps past a sample's mask length are set to the Masking layer's ``mask_value`` so that a
    ``Masking`` case masks exactly those steps. Fresh arrays on every call (the values are
    drawn once per case and batch in a process, and rounded once per dtype).
    """
    return _copies(_remember(case, ("inputs", id(case), dtype, batch),
                             lambda: _round_inputs(case, dtype, batch)))


def _round_inputs(case: Case, dtype: str, batch: int | None) -> list[np.ndarray]:
    drawn = _remember(case, ("drawn-inputs", id(case), batch), lambda: _draw_inputs(case, batch))
    return [a if a.dtype.kind == "i" else round_to(a, dtype) for a in drawn]


def _draw_inputs(case: Case, batch: int | None) -> list[np.ndarray]:
    """The case's inputs in float64 (int64 for int inputs), before rounding to a dtype: every
    dtype rounds the same draw."""
    rng = np.random.default_rng(seed_of(case.id, "inputs"))
    arrays = [draw_input(spec, rng, batch) for spec in case.inputs]
    if case.layer == "Masking" and case.mask_lengths is not None:
        value = float(case.config.get("mask_value", 0.0))
        for b, length in enumerate(case.mask_lengths[: arrays[0].shape[0]]):
            arrays[0][b, length:] = value
    return arrays


def mask(case: Case, batch: int | None = None) -> np.ndarray | None:
    """The (batch, time) boolean mask of the case, or None (Masking/Embedding make their own);
    a fresh array on every call."""
    if case.mask_lengths is None or case.layer in ("Masking", "Embedding"):
        return None
    made = _remember(case, ("mask", id(case), batch), lambda: _draw_mask(case, batch))
    return made.copy()


def _draw_mask(case: Case, batch: int | None) -> np.ndarray:
    assert case.mask_lengths is not None
    steps = case.inputs[0].shape[1]
    lengths = case.mask_lengths if batch is None else case.mask_lengths[:batch]
    return np.array([[t < n for t in range(steps)] for n in lengths], dtype=bool)


def weights(case_id: str, shapes: Sequence[tuple[int, ...]], names: Sequence[str],
            dtype: str) -> list[np.ndarray]:
    """Weights for the case: uniform in [-0.5, 0.5), variances in [0.5, 1.5), rounded; fresh
    arrays on every call."""
    if len(shapes) != len(names):
        raise ValueError(f"{len(shapes)} weight shapes but {len(names)} names")
    # the names only choose the range (layer instance names differ from build to build)
    key = (case_id, str(list(shapes)), tuple("variance" in n for n in names))
    return _copies(_remember(None, ("weights", *key, dtype),
                             lambda: _round_weights(key, case_id, shapes, names, dtype)))


def _round_weights(key: tuple[Any, ...], case_id: str, shapes: Sequence[tuple[int, ...]],
                   names: Sequence[str], dtype: str) -> list[np.ndarray]:
    drawn = _remember(None, ("drawn-weights", *key),
                      lambda: _draw_weights(case_id, shapes, names))
    return [round_to(w, dtype) for w in drawn]


def _draw_weights(case_id: str, shapes: Sequence[tuple[int, ...]], names: Sequence[str]
                  ) -> list[np.ndarray]:
    """Weights in float64, before rounding to a dtype: every dtype rounds the same draw."""
    rng = np.random.default_rng(seed_of(case_id, "weights"))
    out = []
    for shape, name in zip(shapes, names, strict=True):
        if "variance" in name:
            out.append(rng.uniform(0.5, 1.5, size=shape))
        else:
            out.append(rng.uniform(-0.5, 0.5, size=shape))
    return out


def cotangent(case_id: str, shape: tuple[int, ...]) -> np.ndarray:
    """A fixed random cotangent: the backward check differentiates sum(output * cotangent).
    A fresh array on every call."""
    # keyed by the seed's own text of the shape, so the cache never changes a value
    made = _remember(None, ("cotangent", case_id, str(shape)),
                     lambda: np.random.default_rng(seed_of(case_id, "cotangent", shape))
                     .normal(size=shape))
    return made.copy()


def cast(x: np.ndarray, dtype: str) -> np.ndarray:
    """``x`` as an array of ``dtype`` for the library (ints stay ints; bfloat16 stays float32
    here and is cast by the backend)."""
    if x.dtype.kind in "iub":
        return x
    return x.astype(NUMPY_DTYPES.get(dtype, np.float32))
