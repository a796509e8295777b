"""PyTorch backend, core: tensors and conversion, dtypes, autodiff, compile, devices.

The tensor type is ``torch.Tensor``. Gradients come from ``torch.autograd.grad`` on leaf
clones of the values; ``compile`` is ``torch.compile``. New tensors are placed on the device
chosen by ``set_device`` (the CPU by default); the default float dtype stays float32.
"""

from __future__ import annotations

import builtins
import functools
import types
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from harness.reference.backend.common.dtypes import DEFAULT_FLOAT, DEFAULT_INT, standardize_dtype

# float32 matmuls and cuDNN convolutions in full float32 on CUDA: TF32 (the cuDNN default on
# Ampere+) keeps a 10-bit mantissa and would miss the float32 oracle tolerance
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

TORCH_DTYPES: dict[str, torch.dtype] = {
    "bool": torch.bool,
    "int32": torch.int32,
    "int64": torch.int64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
}
_NAMES = {dt: name for name, dt in TORCH_DTYPES.items()}
_INT32 = np.iinfo(np.int32)

# where new tensors go (set_device)
_device = torch.device("cpu")


def torch_dtype(dtype: Any) -> torch.dtype:
    """torch dtype of an interface dtype name (or of a torch/NumPy dtype)."""
    if isinstance(dtype, torch.dtype):
        if dtype not in _NAMES:
            raise ValueError(
                f"unsupported dtype {dtype}; expected one of {', '.join(TORCH_DTYPES)}"
            )
        return dtype
    return TORCH_DTYPES[standardize_dtype(dtype)]


def dtype_name(dt: torch.dtype) -> str:
    """Interface name of a torch dtype (ValueError for one the interface does not know)."""
    if dt not in _NAMES:
        raise ValueError(f"unsupported dtype {dt}; expected one of {', '.join(TORCH_DTYPES)}")
    return _NAMES[dt]


def current_device() -> torch.device:
    """The device new tensors are placed on."""
    return _device


def is_tensor(x: Any) -> bool:
    """True for a backend tensor."""
    return isinstance(x, torch.Tensor)


def convert_to_tensor(x: Any, dtype: Any = None) -> torch.Tensor:
    """Return ``x`` as a tensor; Python floats become float32 and ints int32 unless ``dtype``
    is given; a NumPy array or tensor keeps its dtype unless ``dtype`` is given."""
    target = None if dtype is None else torch_dtype(dtype)
    if isinstance(x, torch.Tensor):
        return x if target is None or x.dtype == target else x.to(target)
    if isinstance(x, (list, tuple)) and builtins.any(map(_holds_tensor, x)):
        # a list of tensors (maybe requiring grad): stack them so the gradient flows to each
        return torch.stack([convert_to_tensor(item, dtype) for item in x])
    arr = np.asarray(x)
    if arr.dtype.name == "bfloat16":  # ml_dtypes' bfloat16, which torch cannot read
        arr, target = arr.astype(np.float32), target or torch.bfloat16
    if target is None and not _holds_numpy(x):
        if arr.dtype.kind == "f":
            target = TORCH_DTYPES[DEFAULT_FLOAT]
        elif arr.dtype.kind == "i" and (
            arr.size == 0 or _INT32.min <= arr.min() <= arr.max() <= _INT32.max
        ):
            target = TORCH_DTYPES[DEFAULT_INT]
    if target is not None and target != torch.bfloat16:
        # cast in NumPy first: one rounding from the source values, as the NumPy backend
        arr = arr.astype(_numpy_of(target))
    # a fresh C-ordered copy: later changes to ``x`` must not reach the tensor
    out = torch.from_numpy(np.array(arr, order="C", copy=True)).to(_device)
    return out if target is None or out.dtype == target else out.to(target)


def _numpy_of(dt: torch.dtype) -> np.dtype:
    return np.dtype(_NAMES[dt])


def _holds_tensor(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return True
    return isinstance(x, (list, tuple)) and builtins.any(map(_holds_tensor, x))


def _holds_numpy(x: Any) -> bool:
    # numpy values carry their own dtype; only pure Python data gets the defaults
    if isinstance(x, (np.ndarray, np.generic)):
        return True
    return isinstance(x, (list, tuple)) and builtins.any(map(_holds_numpy, x))


def tensor(x: Any) -> torch.Tensor:
    """``x`` unchanged when it is a tensor, else converted with the default dtypes."""
    return x if isinstance(x, torch.Tensor) else convert_to_tensor(x)


def float_tensor(x: Any) -> torch.Tensor:
    """``x`` as a tensor, integer and bool tensors cast to float32 (for float-only math)."""
    x = tensor(x)
    return x if x.is_floating_point() else x.to(torch.float32)


def result_dtype(*dts: torch.dtype) -> torch.dtype:
    """The dtype two or more tensors promote to: NumPy's rule (the interface's reference),
    torch's where bfloat16, which NumPy lacks, is involved."""
    out = dts[0]
    for dt in dts[1:]:
        if dt == out:
            continue
        if torch.bfloat16 in (dt, out) or dt not in _NAMES or out not in _NAMES:
            out = torch.promote_types(out, dt)
        else:
            out = TORCH_DTYPES.get(np.result_type(_numpy_of(out), _numpy_of(dt)).name, None) or (
                torch.promote_types(out, dt)
            )
    return out


def promote(*xs: torch.Tensor) -> list[torch.Tensor]:
    """The tensors ``xs`` cast to their common dtype (see ``result_dtype``); when they live on
    different devices, all are moved to the current one (torch would refuse to mix them)."""
    target = result_dtype(*(x.dtype for x in xs))
    if builtins.any(x.device != xs[0].device for x in xs[1:]):
        return [x.to(device=_device, dtype=target) for x in xs]
    return [x if x.dtype == target else x.to(target) for x in xs]


def pair(a: Any, b: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """Operands of a binary op as tensors of a common dtype.

    A Python or NumPy scalar beside a tensor is weak: it takes the tensor's dtype (so a
    float16 tensor times 0.5 stays float16), except that a float scalar beside an integer or
    bool tensor makes both float32. Two tensors follow NumPy promotion.
    """
    a_weak, b_weak = _is_scalar(a), _is_scalar(b)
    if a_weak and b_weak:
        a, a_weak = convert_to_tensor(a), False
    if not a_weak and not b_weak:
        a, b = promote(tensor(a), tensor(b))
        return a, b
    if a_weak:
        b, a = _with_weak(tensor(b), a)
        return a, b
    return _with_weak(tensor(a), b)


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (bool, int, float, np.generic))


def _with_weak(t: torch.Tensor, s: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(tensor, scalar as a tensor) with the scalar made to match the tensor's dtype."""
    s_kind = np.asarray(s).dtype.kind
    if s_kind == "f" and not t.is_floating_point():
        t = t.to(torch.float32)
    elif s_kind in "iu" and t.dtype == torch.bool:
        t = t.to(torch.int32)
    value = s.item() if isinstance(s, np.generic) else s
    return t, torch.tensor(value, dtype=t.dtype, device=t.device)


def to_numpy(x: Any) -> np.ndarray:
    """The value of ``x`` (a tensor, one requiring grad, anything array-like) as an ndarray
    of its own (changing it leaves the tensor alone); bfloat16 comes back as float32, which
    NumPy can hold."""
    if not isinstance(x, torch.Tensor):
        return np.asarray(x)
    x = x.detach()
    if x.dtype == torch.bfloat16:
        x = x.to(torch.float32)
    return np.array(x.cpu().numpy(), copy=True)


def cast(x: Any, dtype: Any) -> torch.Tensor:
    """``x`` converted to ``dtype`` (differentiable between float dtypes)."""
    target = torch_dtype(dtype)
    x = tensor(x)
    return x if x.dtype == target else x.to(target)


def shape(x: Any) -> tuple[int, ...]:
    """Static shape of ``x`` as a tuple of ints."""
    if isinstance(x, torch.Tensor):
        return tuple(int(d) for d in x.shape)
    return tuple(int(d) for d in np.shape(x))


def dtype(x: Any) -> str:
    """Interface dtype name of ``x`` (e.g. ``"float32"``)."""
    return dtype_name(tensor(x).dtype)


def zeros(shape: Sequence[int], dtype: Any = "float32") -> torch.Tensor:
    """A tensor of zeros on the current device."""
    return torch.zeros(tuple(shape), dtype=torch_dtype(dtype), device=_device)


def ones(shape: Sequence[int], dtype: Any = "float32") -> torch.Tensor:
    """A tensor of ones on the current device."""
    return torch.ones(tuple(shape), dtype=torch_dtype(dtype), device=_device)


def stop_gradient(x: Any) -> torch.Tensor:
    """``x`` with no gradient flowing back through it."""
    return tensor(x).detach()


# --- compile --------------------------------------------------------------------------

# (fn, options) -> wrapper around torch.compile(fn): compiling again would retrace (~seconds)
_compiled: dict[Any, Callable[..., Any]] = {}


def compile(fn: Callable[..., Any], **options: Any) -> Callable[..., Any]:
    """``torch.compile(fn, **options)`` (e.g. ``backend="eager"``; ``dynamic`` defaults to False)
    behind a wrapper that converts NumPy arrays (and nested lists or tuples of them) to
    tensors; returns the same callable for the same fn and options. The results are concrete
    tensors."""
    if not callable(fn):
        raise ValueError(f"compile needs a callable, got {type(fn).__name__}")
    # one graph per argument signature, as the interface asks: no dynamic-shape graphs, whose
    # use dynamo decides from earlier calls of functions with the same name and line
    options = {"dynamic": False, **options}
    key = (fn, repr(sorted(options.items())))
    if key not in _compiled:
        compiled = torch.compile(_own_code(fn), **options)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            return compiled(*_tensors(args), **{k: _tensors(v) for k, v in kwargs.items()})

        _compiled[key] = run
    return _compiled[key]


def _own_code(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as a function with a code object of its own.

    Dynamo caches compiled graphs per code object and, past a small recompile limit, silently
    runs eagerly; closures made by one ``def`` (one per layer) share a code object, so each
    compiled callable gets a copy.
    """
    if isinstance(fn, types.MethodType):
        return types.MethodType(_own_code(fn.__func__), fn.__self__)
    if not isinstance(fn, types.FunctionType):
        return fn
    copy = types.FunctionType(
        fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
    )
    copy.__kwdefaults__ = fn.__kwdefaults__
    copy.__qualname__, copy.__module__ = fn.__qualname__, fn.__module__
    return copy


def _tensors(tree: Any) -> Any:
    """``tree`` with every NumPy array converted to a tensor, lists and tuples kept."""
    if isinstance(tree, (np.ndarray, np.generic)):
        return convert_to_tensor(tree)
    if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
        return type(tree)(_tensors(v) for v in tree)
    return tree


# --- devices --------------------------------------------------------------------------


def device_names() -> list[str]:
    """Devices torch sees: ``cpu:0`` and ``gpu:N`` for each CUDA device."""
    return ["cpu:0"] + [f"gpu:{i}" for i in range(torch.cuda.device_count())]


def set_device(name: str) -> None:
    """Place tensors created from now on on ``'cpu'``, ``'cpu:0'``, ``'gpu'`` or ``'gpu:N'``
    (ValueError naming the devices seen when that device is absent)."""
    global _device
    text = str(name).strip().lower()
    kind, _, index = text.partition(":")
    full = f"{kind}:{index or 0}"
    if kind not in ("cpu", "gpu") or not (index or "0").isdigit() or full not in device_names():
        raise ValueError(f"torch has no device {name!r}; it sees {device_names()}")
    _device = torch.device("cpu") if kind == "cpu" else torch.device("cuda", int(index or 0))


# --- autodiff -------------------------------------------------------------------------


def value_and_grad(
    fn: Callable[[list[Any]], Any], values: Sequence[Any], has_aux: bool = False
) -> Any:
    """Evaluate ``fn(values)`` and its gradient with respect to each of ``values``.

    ``fn`` takes a list of tensors and returns a scalar (or ``(scalar, aux)`` with
    ``has_aux``). Returns ``(value, grads)`` or ``((value, aux), grads)``; ``grads`` is a
    list matching ``values``, each of its value's dtype; ``aux`` holds detached tensors.
    """
    if not callable(fn):
        raise ValueError(f"value_and_grad needs a callable, got {type(fn).__name__}")
    # leaves on the current device: a data-parallel shard differentiates where it computes
    leaves = [tensor(v).detach().to(_device).clone() for v in values]
    for leaf in leaves:
        # integer and bool values cannot carry a gradient: theirs is zero
        leaf.requires_grad_(leaf.is_floating_point())
    with torch.enable_grad():
        out = fn(list(leaves))
        aux = None
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ValueError("with has_aux=True, fn must return (value, aux)")
            out, aux = out
        out = tensor(out)
        if out.numel() != 1:
            raise ValueError(f"fn must return a scalar, got shape {shape(out)}")
        wrt = [leaf for leaf in leaves if leaf.requires_grad]
        found: Sequence[torch.Tensor | None] = (
            torch.autograd.grad(out.sum(), wrt, allow_unused=True)
            if out.requires_grad and wrt
            else [None] * len(wrt)
        )
    by_leaf = dict(zip(map(id, wrt), found, strict=True))
    grads = [_grad_or_zeros(by_leaf.get(id(leaf)), leaf) for leaf in leaves]
    value = out.detach()
    if has_aux:
        return (value, _concrete(aux)), grads
    return value, grads


def _grad_or_zeros(grad: torch.Tensor | None, leaf: torch.Tensor) -> torch.Tensor:
    """The gradient in the leaf's dtype (zeros when the output does not depend on the leaf)."""
    if grad is None:
        return torch.zeros_like(leaf).detach()
    return grad.detach().to(leaf.dtype)


def _concrete(tree: Any) -> Any:
    """``tree`` with every tensor detached from the autograd graph, structure kept."""
    if isinstance(tree, torch.Tensor):
        return tree.detach()
    if isinstance(tree, dict):
        return {k: _concrete(v) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(_concrete(v) for v in tree))
    if isinstance(tree, (list, tuple)):
        return type(tree)(_concrete(v) for v in tree)
    return tree


# --- axes -------------------------------------------------------------------------------


def axis_index(x: torch.Tensor, axis: int) -> int:
    """``axis`` made non-negative for ``x`` (ValueError when out of range)."""
    ndim = x.dim()
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


def axes_of(x: torch.Tensor, axis: int | Sequence[int] | None) -> tuple[int, ...]:
    """``axis`` (int, sequence or None for all) as a tuple of non-negative axes of ``x``."""
    if axis is None:
        return tuple(range(x.dim()))
    items = axis if isinstance(axis, Sequence) else [axis]
    return tuple(axis_index(x, int(a)) for a in items)
