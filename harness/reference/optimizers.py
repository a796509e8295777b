"""Optimizers with Keras 3 names, defaults and update rules: SGD, Adam, RMSprop, Adagrad.

State (the step counter and one slot per weight and kind) lives in ``Variable``s, listed by
``optimizer.variables`` in creation order so it can be saved and restored. Updates are backend
ops only (no values read back to Python), so ``apply_gradients([(grad, var), ...])`` also runs
inside a ``StatelessScope`` in a compiled training step, where its assignments are recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from harness.reference import backend as K
from harness.reference.variables import Variable

# Keras 3 base-optimizer options this library does not implement, with their inert values
_INERT_OPTIONS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                  "loss_scale_factor": None, "gradient_accumulation_steps": None}


class Optimizer:
    """Base class: clipping, weight decay, the step counter and per-weight slots."""

    def __init__(self, learning_rate: float = 0.001, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, name: str | None = None,
                 **kwargs: Any):
        for key, value in kwargs.items():
            if key not in _INERT_OPTIONS:
                raise TypeError(f"{type(self).__name__} got an unexpected argument {key!r}")
            if value != _INERT_OPTIONS[key]:
                raise ValueError(f"{type(self).__name__}: {key}={value!r} is not supported")
        if sum(c is not None for c in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError("only one of clipnorm, clipvalue and global_clipnorm may be set")
        self.name = name or type(self).__name__.lower()
        self.learning_rate = float(learning_rate)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.iterations = Variable(np.zeros((), dtype=np.int64), name=f"{self.name}/iteration",
                                   trainable=False, dtype="int64")
        self._slots: list[Variable] = []
        self._index: dict[int, int] = {}
        self.built = False

    # --- state ---------------------------------------------------------------------------
    @property
    def variables(self) -> list[Variable]:
        """The step counter, then every slot in creation order."""
        return [self.iterations, *self._slots]

    def build(self, variables: Sequence[Variable]) -> None:
        """Create the slots for ``variables`` (subclasses add theirs after calling this)."""
        self._index = {id(v): i for i, v in enumerate(variables)}
        self.built = True

    def add_slots(self, variables: Sequence[Variable], kind: str,
                  fill: float = 0.0) -> list[Variable]:
        """One slot per variable, shaped and typed like it, filled with ``fill``."""
        slots = [Variable(np.full(v.shape, fill), name=f"{v.name.replace('/', '_')}_{kind}",
                          trainable=False, dtype=v.dtype) for v in variables]
        self._slots.extend(slots)
        return slots

    def slot_index(self, variable: Variable) -> int:
        """Position of ``variable`` in the list the optimizer was built on."""
        try:
            return self._index[id(variable)]
        except KeyError:
            raise ValueError(f"{variable.name} was not given to this optimizer when it was "
                             "built") from None

    @property
    def step(self) -> int:
        """Updates applied so far."""
        return int(K.to_numpy(self.iterations.value))

    # --- updates ---------------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars: Iterable[tuple[Any, Variable]]) -> None:
        """Apply one update: ``grads_and_vars`` is (gradient, variable) pairs, Keras order."""
        pairs = [(g, v) for g, v in grads_and_vars if g is not None]
        if not pairs:
            return
        grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
        if not self.built:
            self.build(variables)
        grads = [K.cast(K.convert_to_tensor(g), v.dtype) for g, v in pairs]
        grads = self._clip(grads)
        for grad, var in zip(grads, variables, strict=True):
            if self.weight_decay:
                decay = K.multiply(var.value, self.weight_decay * self.learning_rate)
                var.assign(K.subtract(var.value, decay))
            self.update_step(grad, var, self.learning_rate)
        self.iterations.assign(K.add(self.iterations.value, 1))

    def apply(self, grads: Sequence[Any], variables: Sequence[Variable]) -> None:
        """``apply_gradients(zip(grads, variables))``."""
        self.apply_gradients(zip(grads, variables, strict=True))

    def _clip(self, grads: list[Any]) -> list[Any]:
        if self.clipvalue is not None:
            return [K.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        if self.clipnorm is not None:
            return [_scale_to_norm(g, _l2_norm([g]), self.clipnorm) for g in grads]
        if self.global_clipnorm is not None:
            norm = _l2_norm(grads)
            return [_scale_to_norm(g, norm, self.global_clipnorm) for g in grads]
        return grads

    def update_step(self, gradient: Any, variable: Variable, learning_rate: float) -> None:
        """Update ``variable`` from ``gradient`` (subclasses implement the rule)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement update_step")

    # --- config ----------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Constructor arguments by Keras name."""
        return {"name": self.name, "learning_rate": self.learning_rate,
                "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
                "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        return cls(**config)


def _l2_norm(tensors: Sequence[Any]) -> Any:
    total = K.sum(K.square(tensors[0]))
    for t in tensors[1:]:
        total = K.add(total, K.sum(K.square(t)))
    return K.sqrt(total)


def _scale_to_norm(grad: Any, norm: Any, limit: float) -> Any:
    """``grad`` scaled by limit / max(norm, limit) (unchanged when within the limit)."""
    return K.multiply(grad, K.divide(limit, K.maximum(K.cast(norm, K.dtype(grad)), limit)))


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum, as Keras 3 updates it."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0,
                 nesterov: bool = False, **kwargs: Any):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"`momentum` must be a float in [0, 1], got {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.momentums: list[Variable] = []

    def build(self, variables: Sequence[Variable]) -> None:
        super().build(variables)
        if self.momentum != 0:
            self.momentums = self.add_slots(variables, "momentum")

    def update_step(self, gradient: Any, variable: Variable, learning_rate: float) -> None:
        step = K.multiply(gradient, learning_rate)
        if self.momentum == 0:
            variable.assign(K.subtract(variable.value, step))
            return
        m = self.momentums[self.slot_index(variable)]
        m.assign(K.subtract(K.multiply(m.value, self.momentum), step))
        if self.nesterov:
            delta = K.subtract(K.multiply(m.value, self.momentum), step)
        else:
            delta = m.value
        variable.assign(K.add(variable.value, delta))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with Keras 3's bias correction folded into the step size and epsilon outside the
    square root; ``amsgrad`` keeps the running maximum of the second moment."""

    def __init__(self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs: Any):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.amsgrad = bool(amsgrad)
        self.momentums: list[Variable] = []
        self.velocities: list[Variable] = []
        self.velocity_hats: list[Variable] = []

    def build(self, variables: Sequence[Variable]) -> None:
        super().build(variables)
        self.momentums = self.add_slots(variables, "momentum")
        self.velocities = self.add_slots(variables, "velocity")
        if self.amsgrad:
            self.velocity_hats = self.add_slots(variables, "velocity_hat")

    def update_step(self, gradient: Any, variable: Variable, learning_rate: float) -> None:
        # the step count as a tensor, so the update also runs inside compiled functions
        t = K.cast(K.add(self.iterations.value, 1), variable.dtype)
        alpha = K.divide(K.multiply(learning_rate,
                                    K.sqrt(K.subtract(1.0, K.power(self.beta_2, t)))),
                         K.subtract(1.0, K.power(self.beta_1, t)))
        i = self.slot_index(variable)
        m, v = self.momentums[i], self.velocities[i]
        m.assign(K.add(m.value, K.multiply(K.subtract(gradient, m.value), 1 - self.beta_1)))
        v.assign(K.add(v.value, K.multiply(K.subtract(K.square(gradient), v.value),
                                           1 - self.beta_2)))
        second = v.value
        if self.amsgrad:
            v_hat = self.velocity_hats[i]
            v_hat.assign(K.maximum(v_hat.value, v.value))
            second = v_hat.value
        update = K.divide(K.multiply(m.value, alpha), K.add(K.sqrt(second), self.epsilon))
        variable.assign(K.subtract(variable.value, update))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class RMSprop(Optimizer):
    """RMSprop as Keras 3: epsilon inside the square root, optional momentum and centering."""

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs: Any):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho = float(rho)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.centered = bool(centered)
        self.velocities: list[Variable] = []
        self.momentums: list[Variable] = []
        self.average_gradients: list[Variable] = []

    def build(self, variables: Sequence[Variable]) -> None:
        super().build(variables)
        self.velocities = self.add_slots(variables, "velocity")
        if self.momentum > 0:
            self.momentums = self.add_slots(variables, "momentum")
        if self.centered:
            self.average_gradients = self.add_slots(variables, "average_gradient")

    def update_step(self, gradient: Any, variable: Variable, learning_rate: float) -> None:
        i = self.slot_index(variable)
        velocity = self.velocities[i]
        velocity.assign(K.add(K.multiply(self.rho, velocity.value),
                              K.multiply(1 - self.rho, K.square(gradient))))
        if self.centered:
            average = self.average_gradients[i]
            average.assign(K.add(K.multiply(self.rho, average.value),
                                 K.multiply(1 - self.rho, gradient)))
            denominator = K.add(K.subtract(velocity.value, K.square(average.value)),
                                self.epsilon)
        else:
            denominator = K.add(velocity.value, self.epsilon)
        increment = K.divide(K.multiply(learning_rate, gradient), K.sqrt(denominator))
        if self.momentum > 0:
            momentum = self.momentums[i]
            momentum.assign(K.add(K.multiply(self.momentum, momentum.value), increment))
            increment = momentum.value
        variable.assign(K.subtract(variable.value, increment))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad as Keras 3: accumulate squared gradients (from initial_accumulator_value),
    step lr * g / sqrt(accumulator + epsilon)."""

    def __init__(self, learning_rate: float = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs: Any):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.epsilon = float(epsilon)
        self.accumulators: list[Variable] = []

    def build(self, variables: Sequence[Variable]) -> None:
        super().build(variables)
        self.accumulators = self.add_slots(variables, "accumulator",
                                           self.initial_accumulator_value)

    def update_step(self, gradient: Any, variable: Variable, learning_rate: float) -> None:
        accumulator = self.accumulators[self.slot_index(variable)]
        accumulator.assign(K.add(accumulator.value, K.square(gradient)))
        step = K.divide(K.multiply(learning_rate, gradient),
                        K.sqrt(K.add(accumulator.value, self.epsilon)))
        variable.assign(K.subtract(variable.value, step))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


_CLASSES: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop,
                                        "adagrad": Adagrad}


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name (``"adam"``, any case, default config), a
    ``{"class_name", "config"}`` dict, or an ``Optimizer`` (returned as is)."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _CLASSES:
        return _CLASSES[identifier.lower()]()
    if isinstance(identifier, dict) and str(identifier.get("class_name", "")).lower() in _CLASSES:
        cls = _CLASSES[identifier["class_name"].lower()]
        return cls.from_config(identifier.get("config", {}))
    raise ValueError(f"unknown optimizer {identifier!r} (known: SGD, Adam, RMSprop, Adagrad)")


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name", "config"}`` of ``optimizer``, what ``get`` rebuilds it from."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}
