"""JAX backend, compile: ``jax.jit`` behind the interface's ``compile(fn, **options)``.

A function compiled here cannot read values with ``to_numpy`` while it is being traced (its
tensors have no value yet); that raises TypeError naming ``compile``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpy as np

#: the option sets of ``compile`` that the ``compiled`` check compares with eager execution
COMPILE_VARIANTS: dict[str, dict[str, Any]] = {"jit": {}}

# options that name argument positions: here the leaf types decide what is static
_POSITIONAL_OPTIONS = ("static_argnums", "static_argnames", "donate_argnums", "donate_argnames")


def compile(fn: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """``fn`` compiled with ``jax.jit(**options)``; returns a callable giving concrete arrays.

    Arrays anywhere in the (nested list, tuple or dict) arguments are traced; every other
    leaf (Python and NumPy scalars, strings) is static, as it would be in an eager call, so
    a scalar keeps its weak dtype. One jitted function exists per structure and static
    values; ``jax.jit`` caches one compilation per shape and dtype signature.
    """
    if not callable(fn):
        raise ValueError(f"compile needs a callable, got {type(fn).__name__}")
    positional = sorted(set(options) & set(_POSITIONAL_OPTIONS))
    if positional:
        raise ValueError(f"compile decides static arguments itself; drop {positional}")
    cache: dict[Any, Callable[..., Any]] = {}

    def compiled(*args: Any, **kwargs: Any) -> Any:
        leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
        dynamic = tuple(i for i, leaf in enumerate(leaves) if _is_array(leaf))
        static = tuple((i, leaf) for i, leaf in enumerate(leaves) if not _is_array(leaf))
        # 1, 1.0 and True hash alike but trace differently: the type is part of the key
        key = (treedef, dynamic, tuple((i, type(v), v) for i, v in static))
        try:
            jitted = cache.get(key)
        except TypeError as exc:
            raise TypeError(f"compile: a non-array argument is not hashable ({exc})") from exc
        if jitted is None:
            jitted = cache[key] = jax.jit(
                _rebuild(fn, treedef, len(leaves), dynamic, static), **options
            )
        return jitted([leaves[i] for i in dynamic])

    compiled.__wrapped__ = fn  # type: ignore[attr-defined]
    return compiled


def _is_array(leaf: Any) -> bool:
    return isinstance(leaf, (np.ndarray, jax.Array))


def _rebuild(
    fn: Callable[..., Any],
    treedef: Any,
    n_leaves: int,
    dynamic: tuple[int, ...],
    static: tuple[tuple[int, Any], ...],
) -> Callable[[list[Any]], Any]:
    """A function of the array leaves alone that puts the static leaves back and calls fn."""

    def call(arrays: list[Any]) -> Any:
        leaves: list[Any] = [None] * n_leaves
        for i, value in [*static, *zip(dynamic, arrays, strict=True)]:
            leaves[i] = value
        args, kwargs = jax.tree_util.tree_unflatten(treedef, leaves)
        return fn(*args, **kwargs)

    return call
