"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate and Dot.

Shapes follow Keras 3: elementwise merges broadcast dimensions of size 1 and, for inputs of
lower rank, insert axes after the batch axis; masks of the inputs combine with logical and.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from harness.reference import backend as K
from harness.reference.layers.base import Layer
from harness.reference.layers.core import cast_floating

Shape = tuple[int | None, ...]
_LETTERS = "acdefghijklmnopqrstuvwxyz"  # 'b' is the batch axis in einsum subscripts


def _require_shape_list(layer: Layer, input_shape: Any) -> list[Shape]:
    if not isinstance(input_shape, (list, tuple)) or not input_shape or not all(
        isinstance(s, (list, tuple)) for s in input_shape
    ):
        raise ValueError(
            f"A merge layer should be called on a list of inputs. Received: "
            f"input_shape={input_shape} (not a list of shapes)"
        )
    return [tuple(s) for s in input_shape]


def _check_batch_sizes(shapes: Sequence[Shape]) -> int | None:
    sizes = {s[0] for s in shapes if s} - {None}
    if len(sizes) > 1:
        raise ValueError(
            f"Cannot merge tensors with different batch sizes. Received tensors with shapes "
            f"{list(shapes)}"
        )
    return sizes.pop() if sizes else None


def broadcast_shapes(shape1: Shape, shape2: Shape) -> Shape:
    """Keras' elementwise merge shape of two non-batch shapes (size-1 dims broadcast)."""
    if len(shape1) < len(shape2):
        shape1, shape2 = shape2, shape1
    if not shape2:
        return shape1
    out = list(shape1[: len(shape1) - len(shape2)])
    for i, j in zip(shape1[len(shape1) - len(shape2):], shape2, strict=True):
        if i is None or j is None:
            out.append(None)
        elif i == 1:
            out.append(j)
        elif j == 1 or i == j:
            out.append(i)
        else:
            raise ValueError(
                f"Inputs have incompatible shapes. Received shapes {shape1} and {shape2}"
            )
    return tuple(out)


def _merge_masks(inputs: Any, mask: Any) -> Any:
    """Keras 3's merge mask: a step is kept when any input keeps it; no mask at all when
    some input carries none."""
    if mask is None:
        return None
    if not isinstance(mask, (list, tuple)) or not isinstance(inputs, (list, tuple)):
        raise ValueError(f"`mask` and `inputs` should be lists. Received: mask={mask}")
    if len(mask) != len(inputs):
        raise ValueError(
            f"The lists `inputs` and `mask` should have the same length. Received "
            f"{len(inputs)} inputs and {len(mask)} masks"
        )
    if any(m is None for m in mask):
        return None
    return functools.reduce(K.logical_or, mask)


class Merge(Layer):
    """Base of the elementwise merge layers: shape checks, rank alignment, masks."""

    supports_masking = True
    min_inputs = 1
    max_inputs: int | None = None

    def _check_count(self, count: int) -> None:
        name = type(self).__name__
        if self.max_inputs is not None and count > self.max_inputs or count < self.min_inputs:
            exact = self.min_inputs == self.max_inputs
            need = f"exactly {self.min_inputs}" if exact else f"at least {self.min_inputs}"
            raise ValueError(f"A `{name}` layer should be called on {need} inputs. "
                             f"Received {count} inputs")

    def build(self, input_shape: Any) -> None:
        shapes = _require_shape_list(self, input_shape)
        self._check_count(len(shapes))
        self.compute_output_shape(shapes)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = _require_shape_list(self, input_shape)
        batch = _check_batch_sizes(shapes)
        out = functools.reduce(broadcast_shapes, (s[1:] for s in shapes))
        return (batch, *out)

    def _merge(self, inputs: list[Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define _merge")

    def call(self, inputs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"A merge layer should be called on a list of inputs. "
                             f"Received: inputs={inputs} (not a list of tensors)")
        self._check_count(len(inputs))
        tensors = [cast_floating(x, self.dtype) for x in inputs]
        rank = max(len(K.shape(x)) for x in tensors)
        aligned = []
        for x in tensors:
            # Keras inserts the missing axes right after the batch axis
            for _ in range(rank - len(K.shape(x))):
                x = K.expand_dims(x, 1)
            aligned.append(x)
        return self._merge(aligned)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The logical or of the input masks that exist (Keras 3), or None."""
        return _merge_masks(inputs, mask)


class Add(Merge):
    """Elementwise sum of the inputs."""

    def _merge(self, inputs: list[Any]) -> Any:
        return functools.reduce(K.add, inputs)


class Subtract(Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""

    min_inputs = 2
    max_inputs = 2

    def _merge(self, inputs: list[Any]) -> Any:
        return K.subtract(inputs[0], inputs[1])


class Multiply(Merge):
    """Elementwise product of the inputs."""

    def _merge(self, inputs: list[Any]) -> Any:
        return functools.reduce(K.multiply, inputs)


class Average(Merge):
    """Elementwise mean of the inputs."""

    def _merge(self, inputs: list[Any]) -> Any:
        total = functools.reduce(K.add, inputs)
        return K.divide(total, K.convert_to_tensor(float(len(inputs)), dtype=K.dtype(total)))


class Maximum(Merge):
    """Elementwise maximum of the inputs."""

    def _merge(self, inputs: list[Any]) -> Any:
        return functools.reduce(K.maximum, inputs)


class Minimum(Merge):
    """Elementwise minimum of the inputs."""

    def _merge(self, inputs: list[Any]) -> Any:
        return functools.reduce(K.minimum, inputs)


class Concatenate(Merge):
    """Concatenates the inputs along ``axis``; other dimensions must match."""

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _check_shapes(self, shapes: list[Shape]) -> None:
        error = ("A `Concatenate` layer requires inputs with matching shapes except for the "
                 f"concatenation axis. Received: input_shape={shapes}")
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(error)
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError(f"Concatenate axis {self.axis} is out of bounds for rank {rank}")
        axis = self.axis % rank
        for dim in range(rank):
            known = {s[dim] for s in shapes if s[dim] is not None}
            if dim != axis and len(known) > 1:
                raise ValueError(error)

    def build(self, input_shape: Any) -> None:
        shapes = _require_shape_list(self, input_shape)
        self._check_shapes(shapes)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = _require_shape_list(self, input_shape)
        self._check_shapes(shapes)
        axis = self.axis % len(shapes[0])
        out = list(shapes[0])
        for dim in range(len(out)):
            if dim != axis and out[dim] is None:
                # another input may know this dimension
                out[dim] = next((s[dim] for s in shapes if s[dim] is not None), None)
        sizes = [s[axis] for s in shapes]
        out[axis] = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
        return tuple(out)

    def call(self, inputs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)):
            raise ValueError("A `Concatenate` layer should be called on a list of inputs.")
        tensors = [cast_floating(x, self.dtype) for x in inputs]
        return K.concatenate(tensors, axis=self.axis)

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Per-position masks concatenated along ``axis`` and or-reduced over the last axis
        (an input without a mask counts as all True); None when no input has a mask."""
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
            raise ValueError("The lists `inputs` and `mask` should have the same length.")
        if all(m is None for m in mask):
            return None
        full = []
        for x, m in zip(inputs, mask, strict=True):
            shape = tuple(K.shape(x))
            no_mask = K.zeros(shape, "bool")
            if m is None:
                full.append(K.logical_not(no_mask))
            elif len(K.shape(m)) < len(shape):
                full.append(K.logical_or(K.expand_dims(m, -1), no_mask))
            else:
                full.append(m)
        return K.any(K.concatenate(full, axis=self.axis), axis=-1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """Per-sample dot product of two inputs along ``axes`` (cosine similarity when
    ``normalize``)."""

    min_inputs = 2
    max_inputs = 2

    def __init__(self, axes: int | Sequence[int], normalize: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if not isinstance(axes, int):
            if not isinstance(axes, (list, tuple)):
                raise TypeError(f"Invalid type for argument `axes`: it should be a list or an "
                                f"int. Received: axes={axes}")
            if len(axes) != 2:
                raise ValueError(f"Invalid format for argument `axes`: it should contain two "
                                 f"elements. Received: axes={axes}")
            if not all(isinstance(a, int) for a in axes):
                raise ValueError(f"Invalid format for argument `axes`: list elements should "
                                 f"be integers. Received: axes={axes}")
            axes = tuple(axes)
        self.axes = axes
        self.normalize = bool(normalize)

    def _resolved_axes(self, shapes: Sequence[Shape]) -> tuple[int, int]:
        pair = (self.axes, self.axes) if isinstance(self.axes, int) else self.axes
        resolved = tuple(a % len(s) if a < 0 else a for a, s in zip(pair, shapes, strict=True))
        for a, s in zip(resolved, shapes, strict=True):
            if len(s) < 2:
                raise ValueError(f"Cannot do batch_dot on inputs with rank < 2. Received "
                                 f"inputs with shapes {list(shapes)}.")
            if a == 0 or a >= len(s):
                raise ValueError(f"Invalid axes {self.axes} for input shapes {list(shapes)}: "
                                 "the batch axis 0 cannot be reduced")
        return resolved  # type: ignore[return-value]

    def _checked(self, input_shape: Any) -> tuple[list[Shape], tuple[int, int]]:
        shapes = _require_shape_list(self, input_shape)
        if len(shapes) != 2:
            raise ValueError(f"A `Dot` layer should be called on a list of 2 inputs. "
                             f"Received: input_shape={input_shape}")
        _check_batch_sizes(shapes)
        a0, a1 = self._resolved_axes(shapes)
        d0, d1 = shapes[0][a0], shapes[1][a1]
        if d0 is not None and d1 is not None and d0 != d1:
            raise ValueError(f"Incompatible input shapes: axis values {d0} (at axis {a0}) != "
                             f"{d1} (at axis {a1}). Full input shapes: {shapes[0]}, "
                             f"{shapes[1]}")
        return shapes, (a0, a1)

    def build(self, input_shape: Any) -> None:
        self._checked(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes, (a0, a1) = self._checked(input_shape)
        first = [d for i, d in enumerate(shapes[0]) if i != a0]
        second = [d for i, d in enumerate(shapes[1]) if i not in (0, a1)]
        out = first + second
        return tuple(out + [1] if len(out) == 1 else out)

    def _l2_normalize(self, x: Any, axis: int) -> Any:
        dtype = K.dtype(x)
        # computed in at least float32: the 1e-7 floor on the norm underflows float16
        work = K.cast(x, "float32") if dtype in ("float16", "bfloat16") else x
        squares = K.sum(K.square(work), axis=axis, keepdims=True)
        floor = K.convert_to_tensor(1e-14, dtype=K.dtype(work))
        return K.cast(K.divide(work, K.sqrt(K.maximum(squares, floor))), dtype)

    def _merge(self, inputs: list[Any]) -> Any:
        x, y = inputs
        shapes = [tuple(K.shape(x)), tuple(K.shape(y))]
        a0, a1 = self._checked(shapes)[1]
        if self.normalize:
            x, y = self._l2_normalize(x, a0), self._l2_normalize(y, a1)
        x_sub = ["b"] + [_LETTERS[i] for i in range(1, len(shapes[0]))]
        y_sub = ["b"] + [_LETTERS[len(shapes[0]) + i] for i in range(1, len(shapes[1]))]
        y_sub[a1] = x_sub[a0]  # the contracted axis shares its letter
        out = [c for i, c in enumerate(x_sub) if i != a0]
        out += [c for i, c in enumerate(y_sub) if i not in (0, a1)]
        result = K.einsum(f"{''.join(x_sub)},{''.join(y_sub)}->{''.join(out)}", x, y)
        return K.expand_dims(result, 1) if len(out) == 1 else result

    def call(self, inputs: Any) -> Any:
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("A `Dot` layer should be called on exactly 2 inputs.")
        return self._merge([cast_floating(x, self.dtype) for x in inputs])

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Dot emits no mask, as in Keras."""
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}
