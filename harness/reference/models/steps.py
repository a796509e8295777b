"""Training, evaluation and prediction steps as pure functions of variable values.

As in Keras 3, a step takes the values of the model's variables (and the optimizer's) as
arguments and returns the new values instead of assigning them, so that a backend can compile
it: ``K.compile`` (tf.function, jax.jit, torch.compile, a PyTensor graph). Graph backends,
whose ops only build a graph, always run steps compiled; eager backends run them directly
unless ``jit_compile=True``. Inside a step, ``StatelessScope`` substitutes the values and
records assignments (BatchNormalization statistics, optimizer slots); ``StepRunner`` reads the
variables, calls the step and assigns what it returns.

Randomness (dropout masks) is drawn with NumPy when a step is traced, so a compiled step reuses
the masks of its first trace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.reference import backend as K
from harness.reference.variables import StatelessScope, Variable


def use_compiled(jit_compile: bool | str) -> bool:
    """Whether steps run compiled: always on graph backends; on eager ones when asked."""
    if getattr(K.active(), "EXECUTION", "eager") == "graph":
        return True
    return jit_compile is True


def _scope(variables: list[Variable], values: list[Any]) -> StatelessScope:
    return StatelessScope(dict(zip(variables, values, strict=True)))


class StepRunner:
    """Builds a model's steps once per compile and runs them on NumPy batches."""

    def __init__(self, model: Any, compiled: bool):
        self.model = model
        self.compiled = compiled
        self._cache: dict[tuple[str, tuple[int, ...]], Callable[..., Any]] = {}

    def _fn(self, name: str, variables: list[Variable],
            make: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
        """The step ``name`` for these variables (rebuilt when the model's variables change)."""
        key = (name, tuple(id(v) for v in variables))
        if key not in self._cache:
            fn = make()
            self._cache[key] = K.compile(fn) if self.compiled else fn
        return self._cache[key]

    def _batch(self, arrays: list[Any]) -> list[Any]:
        if self.compiled:
            return list(arrays)  # compiled functions take NumPy arrays
        return [None if a is None else K.convert_to_tensor(a) for a in arrays]

    # --- the pure functions ------------------------------------------------------------------
    def _split(self) -> tuple[list[Variable], list[Variable]]:
        trainable = list(self.model.trainable_weights)
        ids = {id(v) for v in trainable}
        return trainable, [v for v in self.model.weights if id(v) not in ids]

    def _make_train(self, trainable: list[Variable], others: list[Variable],
                    slots: list[Variable]) -> Callable[..., Any]:
        model, optimizer = self.model, self.model.optimizer

        def train_step(t_vals: list[Any], o_vals: list[Any], s_vals: list[Any],
                       xs: list[Any], ys: list[Any]) -> Any:
            def objective(values: list[Any]) -> Any:
                with _scope(trainable + others, [*values, *o_vals]) as scope:
                    preds = model._forward(xs, training=True)
                    total, parts = model._loss_terms(ys, preds)
                assigned = {id(v): val for v, val in scope.updates()}
                new_others = [assigned.get(id(v), old)
                              for v, old in zip(others, o_vals, strict=True)]
                return total, (new_others, parts, preds)

            if trainable:
                (total, (new_o, parts, preds)), grads = K.value_and_grad(
                    objective, list(t_vals), has_aux=True)
            else:
                total, (new_o, parts, preds) = objective([])
                grads = []
            with _scope(trainable + slots, [*t_vals, *s_vals]) as scope:
                optimizer.apply_gradients(zip(grads, trainable, strict=True))
            new_t = [scope.values[id(v)] for v in trainable]
            new_s = [scope.values[id(v)] for v in slots]
            return total, parts, preds, new_t, new_o, new_s

        return train_step

    def _make_eval(self, variables: list[Variable]) -> Callable[..., Any]:
        model = self.model

        def eval_step(values: list[Any], xs: list[Any], ys: list[Any]) -> Any:
            with _scope(variables, values):
                preds = model._forward(xs, training=False)
                total, parts = model._loss_terms(ys, preds)
            return total, parts, preds

        return eval_step

    def _make_predict(self, variables: list[Variable]) -> Callable[..., Any]:
        model = self.model

        def predict_step(values: list[Any], xs: list[Any]) -> Any:
            with _scope(variables, values):
                return model._forward(xs, training=False)

        return predict_step

    # --- running -------------------------------------------------------------------------------
    def train(self, xs: list[Any], ys: list[Any]) -> tuple[Any, list[Any], list[Any]]:
        """One update on a batch; (loss before it, per-output losses, predictions)."""
        trainable, others = self._split()
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(trainable)  # slots are created outside any compiled function
        slots = optimizer.variables
        fn = self._fn("train", trainable + others + slots,
                      lambda: self._make_train(trainable, others, slots))
        total, parts, preds, new_t, new_o, new_s = fn(
            [v.value for v in trainable], [v.value for v in others],
            [v.value for v in slots], self._batch(xs), self._batch(ys))
        for variables, values in ((trainable, new_t), (others, new_o), (slots, new_s)):
            for variable, value in zip(variables, values, strict=True):
                variable.assign(value)
        return total, parts, preds

    def evaluate(self, xs: list[Any], ys: list[Any]) -> tuple[Any, list[Any], list[Any]]:
        """(loss, per-output losses, predictions) of a batch in inference mode."""
        variables = list(self.model.weights)
        fn = self._fn("evaluate", variables, lambda: self._make_eval(variables))
        result: tuple[Any, list[Any], list[Any]] = fn([v.value for v in variables],
                                                      self._batch(xs), self._batch(ys))
        return result

    def predict(self, xs: list[Any]) -> list[Any]:
        """The model's outputs for a batch in inference mode."""
        variables = list(self.model.weights)
        fn = self._fn("predict", variables, lambda: self._make_predict(variables))
        return list(fn([v.value for v in variables], self._batch(xs)))
