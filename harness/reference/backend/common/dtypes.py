"""dtype names of the op interface and conversions between them and NumPy dtypes."""

from __future__ import annotations

from typing import Any

import numpy as np

#: every dtype name the op interface knows, in promotion order within a kind.
DTYPE_NAMES = ("bool", "int32", "int64", "float16", "bfloat16", "float32", "float64")
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int32", "int64")

#: the dtype a Python float or int becomes when converted to a tensor (as Keras).
DEFAULT_FLOAT = "float32"
DEFAULT_INT = "int32"

# spellings NumPy or users produce that name the same dtype
_ALIASES = {"float": "float32", "int": "int32", "half": "float16", "double": "float64"}


def standardize_dtype(dtype: Any) -> str:
    """Return the interface name (e.g. ``"float32"``) of a dtype given as name, type or np.dtype.

    Raises ValueError for a dtype the interface does not know.
    """
    if dtype is None:
        raise ValueError("dtype is None; expected one of " + ", ".join(DTYPE_NAMES))
    if isinstance(dtype, str):
        name = _ALIASES.get(dtype, dtype)
    elif getattr(dtype, "name", None) == "bfloat16" or getattr(dtype, "__name__", "") == "bfloat16":
        name = "bfloat16"
    else:
        try:
            name = np.dtype(dtype).name
        except TypeError as exc:
            raise ValueError(f"not a dtype: {dtype!r}") from exc
    if name not in DTYPE_NAMES:
        raise ValueError(f"unsupported dtype {name!r}; expected one of " + ", ".join(DTYPE_NAMES))
    return name


def is_float(dtype: Any) -> bool:
    """True when ``dtype`` is a floating-point dtype of the interface."""
    return standardize_dtype(dtype) in FLOAT_DTYPES


def is_int(dtype: Any) -> bool:
    """True when ``dtype`` is an integer dtype of the interface."""
    return standardize_dtype(dtype) in INT_DTYPES
