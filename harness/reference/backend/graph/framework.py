"""What the graph backends need from their framework: the part where Theano and PyTensor differ.

PyTensor is Theano's maintained line: both build symbolic graphs of ``TensorVariable``s with
nearly the same ``tensor`` module. The shared op implementations (this package) are written
against a ``Framework`` object; ``pytensor/framework.py`` and ``theano/framework.py`` each
provide one. A method whose framework has no native op returns ``NotImplemented`` and the
shared code composes the op from primitives instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: compile mode used when ``compile`` is given none: no C or Numba compilation, fast to build
DEFAULT_MODE = "FAST_COMPILE"


class Framework:
    """Adapter for one graph framework; subclasses fill in the framework-specific parts."""

    #: backend name, as ``harness.reference.backend`` knows it
    name = "graph"
    #: the framework's tensor module (``theano.tensor`` / ``pytensor.tensor``)
    T: Any = None
    #: option sets for ``compile`` that the ``compiled`` check compares with the default mode
    compile_variants: dict[str, dict[str, Any]] = {}

    # --- graph classes and building blocks -----------------------------------------------
    def is_variable(self, x: Any) -> bool:
        """True for a symbolic tensor of this framework (constants included)."""
        return isinstance(x, self.T.TensorVariable) or self.is_constant(x)

    def is_constant(self, x: Any) -> bool:
        """True for a tensor constant (its value is known without running anything)."""
        return isinstance(x, self.T.TensorConstant)

    def constant(self, value: Any) -> Any:
        """A tensor constant holding the ndarray ``value`` (dtype kept)."""
        return self.T.constant(value, dtype=str(value.dtype))

    def symbolic(self, dtype: str, shape: Sequence[int]) -> Any:
        """A fresh symbolic input of ``dtype`` and static ``shape`` (length-1 axes broadcast)."""
        raise NotImplementedError

    def like(self, x: Any) -> Any:
        """A fresh symbolic input of exactly ``x``'s type."""
        return x.type()

    def broadcastable(self, x: Any, axes: Sequence[int]) -> Any:
        """``x`` with ``axes`` (of length 1) marked broadcastable."""
        raise NotImplementedError

    def function(self, inputs: list[Any], outputs: list[Any], mode: Any = None,
                 **options: Any) -> Any:
        """A compiled function of ``inputs`` returning ``outputs`` as a list of ndarrays."""
        raise NotImplementedError

    def grad(self, cost: Any, wrt: list[Any]) -> list[Any]:
        """Gradients of the scalar ``cost`` with respect to ``wrt`` (zeros where disconnected)."""
        raise NotImplementedError

    def clone_replace(self, outputs: list[Any], replace: dict[Any, Any]) -> list[Any]:
        """Copies of the graphs of ``outputs`` with the variables of ``replace`` substituted."""
        raise NotImplementedError

    def disconnected_grad(self, x: Any) -> Any:
        """``x`` as a value through which no gradient flows."""
        raise NotImplementedError

    def device_names(self) -> list[str]:
        """Devices the framework computes on."""
        return ["cpu:0"]

    # --- native ops the two frameworks spell differently --------------------------------
    def abs(self, x: Any) -> Any:
        return self.T.abs(x)

    def sign(self, x: Any) -> Any:
        return self.T.sign(x)

    def sigmoid(self, x: Any) -> Any:
        return self.T.sigmoid(x)

    def softplus(self, x: Any) -> Any:
        return self.T.softplus(x)

    def softmax(self, x: Any, axis: int) -> Any:
        """Softmax along ``axis`` (non-negative)."""
        raise NotImplementedError

    def log_softmax(self, x: Any, axis: int) -> Any:
        """Log-softmax along ``axis`` (non-negative)."""
        raise NotImplementedError

    def matmul(self, a: Any, b: Any) -> Any:
        """``np.matmul`` semantics natively, or NotImplemented."""
        return NotImplemented

    def einsum(self, subscripts: str, operands: list[Any]) -> Any:
        """``np.einsum`` natively, or NotImplemented."""
        return NotImplemented
