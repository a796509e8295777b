"""Training for models: compile, train_on_batch, fit, evaluate, predict (Keras 3 semantics).

A training step differentiates a pure function of the trainable values with
``K.value_and_grad``: inside ``StatelessScope({variable: value})`` the forward pass
(training=True) and the loss run; the non-trainable assignments the scope collected
(BatchNormalization's moving statistics) and the predictions leave through ``aux`` as concrete
tensors. The optimizer then applies the gradients and the collected assignments are made
(``steps.py`` holds the steps, compiled on graph backends).
Losses are reduced as Keras 3's ``"sum_over_batch_size"``; epoch logs are means weighted by
batch size (losses) or by value count (metrics), as Keras's trackers weigh them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.reference import backend as K
from harness.reference import losses, metrics, optimizers
from harness.reference import random as reference_random
from harness.reference.metrics import Mean
from harness.reference.models.steps import StepRunner, use_compiled


class History:
    """What ``fit`` returns: ``history`` (name -> per-epoch values), ``epoch`` (indices),
    ``batch_losses`` (the loss of every step, before its update) and ``params``."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []
        self.batch_losses: list[float] = []
        self.params: dict[str, Any] = {}

    def record(self, epoch: int, logs: dict[str, float]) -> None:
        """Append one epoch's logs."""
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)


def _name_of(identifier: Any) -> str:
    if isinstance(identifier, str):
        return identifier
    if isinstance(identifier, losses.Loss):
        return identifier.name
    return str(getattr(identifier, "__name__", type(identifier).__name__))


class Trainer:
    """Mixin for models: needs ``output_names``, ``input_names``, ``trainable_weights`` and
    ``__call__``."""

    @property
    def input_names(self) -> list[str]:
        """Names of the model inputs (the models implement it)."""
        raise NotImplementedError

    @property
    def output_names(self) -> list[str]:
        """Names of the model outputs, the keys of per-output losses and metrics."""
        raise NotImplementedError

    def _init_trainer(self) -> None:
        self.optimizer: optimizers.Optimizer | None = None
        self.compiled = False
        self._loss_fns: list[Any] = []
        self._loss_weights: list[float] = []
        self._metric_specs: list[list[Any]] = []
        self._metric_fns: list[list[tuple[str, Any]]] | None = None
        self._compile_args: dict[str, Any] = {}
        self._runner: StepRunner | None = None

    # --- compile -------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None,
                loss_weights: Any = None, jit_compile: bool | str = "auto") -> None:
        """Configure training: an optimizer (name, dict or object), a loss (one for every
        output, or a list/dict by output) and metrics (a list for every output, or per output).
        Steps run through ``K.compile`` on graph backends, and on others when
        ``jit_compile=True``."""
        self.optimizer = optimizers.get(optimizer)
        specs = self._per_output(loss, "loss")
        self._loss_fns = [None if s is None else losses.get(s) for s in specs]
        weights = self._per_output(loss_weights, "loss_weights")
        self._loss_weights = [1.0 if w is None else float(w) for w in weights]
        self._metric_specs = self._metrics_per_output(metrics)
        self._metric_fns = None  # resolved on the first batch, when shapes are known
        self._compile_args = {"loss": loss, "metrics": metrics, "loss_weights": loss_weights}
        self._runner = StepRunner(self, use_compiled(jit_compile))
        self.compiled = True

    def _per_output(self, spec: Any, what: str) -> list[Any]:
        names = self.output_names
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - set(names))
            if unknown:
                raise ValueError(f"{what} names outputs {unknown}; the outputs are {names}")
            return [spec.get(n) for n in names]
        if isinstance(spec, (list, tuple)):
            if len(spec) != len(names):
                raise ValueError(f"{what} has {len(spec)} entries for {len(names)} outputs")
            return list(spec)
        return [spec] * len(names)

    def _metrics_per_output(self, spec: Any) -> list[list[Any]]:
        names = self.output_names
        if spec is None:
            return [[] for _ in names]
        if isinstance(spec, dict):
            per = self._per_output(spec, "metrics")
            return [[] if m is None else list(m) if isinstance(m, (list, tuple)) else [m]
                    for m in per]
        if not isinstance(spec, (list, tuple)):
            spec = [spec]
        if len(names) > 1 and spec and all(isinstance(m, (list, tuple)) for m in spec):
            return [list(m) for m in self._per_output(list(spec), "metrics")]
        return [list(spec) for _ in names]

    def get_compile_config(self) -> dict[str, Any] | None:
        """What ``compile`` was given, JSON-able (None when not compiled or not serializable)."""
        if not self.compiled or self.optimizer is None:
            return None
        try:
            loss = _serialize_nested(self._compile_args["loss"], losses.serialize)
            metric_spec = _serialize_nested(self._compile_args["metrics"], _metric_name)
        except ValueError:
            return None
        return {"optimizer": optimizers.serialize(self.optimizer), "loss": loss,
                "metrics": metric_spec, "loss_weights": self._compile_args["loss_weights"]}

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """``compile`` from ``get_compile_config``'s output."""
        self.compile(optimizer=config["optimizer"], loss=config.get("loss"),
                     metrics=config.get("metrics"), loss_weights=config.get("loss_weights"))

    # --- one batch -------------------------------------------------------------------------
    def _forward(self, xs: list[Any], training: bool) -> list[Any]:
        out = self(xs if len(xs) > 1 else xs[0], training=training)  # type: ignore[operator]
        return list(out) if isinstance(out, (list, tuple)) else [out]

    def _loss_terms(self, ys: list[Any], preds: list[Any]) -> tuple[Any, list[Any]]:
        total: Any = None
        parts: list[Any] = []
        per_output = zip(self._loss_fns, self._loss_weights, ys, preds, strict=True)
        for fn, weight, y_true, y_pred in per_output:
            if fn is None or y_true is None:
                parts.append(None)
                continue
            if K.dtype(y_pred) in ("float16", "bfloat16"):
                y_pred = K.cast(y_pred, "float32")  # losses compute in float32, as Keras's do
            value = K.mean(fn(y_true, y_pred))
            parts.append(value)
            term = value if weight == 1.0 else K.multiply(value, weight)
            total = term if total is None else K.add(total, term)
        if total is None:
            raise ValueError("no loss to compute: compile() the model with a loss")
        return total, parts

    def _require_compiled(self) -> None:
        if not self.compiled or self.optimizer is None:
            raise ValueError("the model must be compiled before training or evaluation")

    def _steps(self) -> StepRunner:
        """The compiled model's step runner (a default one for prediction before compile)."""
        if self._runner is None:
            self._runner = StepRunner(self, use_compiled("auto"))
        return self._runner

    def _logs(self, total: Any, parts: list[Any], ys: list[Any], preds: list[Any]
              ) -> dict[str, tuple[float, float]]:
        """Batch logs: name -> (mean value, weight for epoch averaging)."""
        n = float(K.shape(preds[0])[0]) if K.shape(preds[0]) else 1.0
        logs = {"loss": (float(K.to_numpy(total)), n)}
        if len(self.output_names) > 1:
            for name, part in zip(self.output_names, parts, strict=True):
                if part is not None:
                    logs[f"{name}_loss"] = (float(K.to_numpy(part)), n)
        for name, fn, y_true, y_pred in self._resolved_metrics(ys, preds):
            values = np.asarray(K.to_numpy(fn(y_true, y_pred)), dtype=np.float64)
            logs[name] = (float(values.mean()) if values.size else 0.0, float(values.size))
        return logs

    def _resolved_metrics(self, ys: list[Any], preds: list[Any]) -> list[tuple[str, Any, Any,
                                                                                Any]]:
        if self._metric_fns is None:
            multi = len(self.output_names) > 1
            self._metric_fns = [
                [(f"{out}_{_metric_name(m)}" if multi else _metric_name(m),
                  metrics.resolve_accuracy(m, tuple(K.shape(y)), tuple(K.shape(p))))
                 for m in specs]
                for out, specs, y, p in zip(self.output_names, self._metric_specs, ys, preds,
                                            strict=True)]
        return [(name, fn, y, p) for fns, y, p in zip(self._metric_fns, ys, preds, strict=True)
                for name, fn in fns if y is not None]

    def train_on_batch(self, x: Any, y: Any, return_dict: bool = False) -> Any:
        """One update on one batch; the loss (and metrics) measured before the update: a float
        when there is only the loss, else a list in log order (a dict with return_dict)."""
        self._require_compiled()
        xs, ys = self._arrays(x, self.input_names, "x"), self._targets(y)
        total, parts, preds = self._steps().train(xs, ys)
        return _result({k: v for k, (v, _) in self._logs(total, parts, ys, preds).items()},
                       return_dict)

    def test_on_batch(self, x: Any, y: Any, return_dict: bool = False) -> Any:
        """Loss (and metrics) of one batch in inference mode, without updating."""
        self._require_compiled()
        xs, ys = self._arrays(x, self.input_names, "x"), self._targets(y)
        total, parts, preds = self._steps().evaluate(xs, ys)
        return _result({k: v for k, (v, _) in self._logs(total, parts, ys, preds).items()},
                       return_dict)

    # --- data --------------------------------------------------------------------------------
    def _arrays(self, data: Any, names: list[str], what: str) -> list[Any]:
        if isinstance(data, dict):
            missing = [n for n in names if n not in data]
            if missing and what == "x":
                raise ValueError(f"{what} lacks entries for {missing}")
            items = [data.get(n) for n in names]
        elif isinstance(data, (list, tuple)):
            items = list(data)
        else:
            items = [data]
        if len(items) != len(names):
            raise ValueError(f"{what} has {len(items)} arrays; the model has {len(names)} "
                             f"{'inputs' if what == 'x' else 'outputs'}")
        return [None if a is None else _numpy(a) for a in items]

    def _targets(self, y: Any) -> list[Any]:
        return self._arrays(y, self.output_names, "y")

    # --- loops -----------------------------------------------------------------------------
    def fit(self, x: Any, y: Any, batch_size: int | None = 32, epochs: int = 1,
            verbose: int = 0, validation_split: float = 0.0, validation_data: Any = None,
            shuffle: bool = True, seed: int | None = None) -> History:
        """Train for ``epochs`` passes over (x, y) in batches; validation on the LAST
        ``validation_split`` fraction (before shuffling) or on ``validation_data``; shuffling
        draws from ``harness.reference.random.generator(seed)``. Returns the ``History``."""
        self._require_compiled()
        xs, ys = self._arrays(x, self.input_names, "x"), self._targets(y)
        n = _length(xs + ys)
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        val: tuple[list[Any], list[Any]] | None = None
        if validation_data is not None:
            val = (self._arrays(validation_data[0], self.input_names, "x"),
                   self._targets(validation_data[1]))
        elif validation_split:
            split = int(np.floor(n * (1.0 - validation_split)))
            val = ([_rows(a, slice(split, None)) for a in xs],
                   [_rows(a, slice(split, None)) for a in ys])
            xs, ys = [_rows(a, slice(0, split)) for a in xs], [_rows(a, slice(0, split))
                                                               for a in ys]
            n = split
        batch = int(batch_size or 32)
        rng = reference_random.generator(seed)
        history = History()
        history.params = {"epochs": epochs, "steps": -(-n // batch), "verbose": verbose}
        for epoch in range(epochs):
            order = rng.permutation(n) if shuffle else np.arange(n)
            trackers: dict[str, Mean] = {}
            for start in range(0, n, batch):
                rows = order[start:start + batch]
                bx, by = [_rows(a, rows) for a in xs], [_rows(a, rows) for a in ys]
                total, parts, preds = self._steps().train(bx, by)
                logs = self._logs(total, parts, by, preds)
                history.batch_losses.append(logs["loss"][0])
                _accumulate(trackers, logs)
            epoch_logs = {k: t.result() for k, t in trackers.items()}
            if val is not None:
                scores = self._evaluate_arrays(val[0], val[1], batch)
                epoch_logs.update({f"val_{k}": v for k, v in scores.items()})
            history.record(epoch, epoch_logs)
            if verbose:
                shown = " - ".join(f"{k}: {v:.4f}" for k, v in epoch_logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {shown}")
        return history

    def _evaluate_arrays(self, xs: list[Any], ys: list[Any], batch: int) -> dict[str, float]:
        n = _length(xs + ys)
        trackers: dict[str, Mean] = {}
        for start in range(0, n, batch):
            rows = slice(start, start + batch)
            bx, by = [_rows(a, rows) for a in xs], [_rows(a, rows) for a in ys]
            total, parts, preds = self._steps().evaluate(bx, by)
            _accumulate(trackers, self._logs(total, parts, by, preds))
        return {k: t.result() for k, t in trackers.items()}

    def evaluate(self, x: Any, y: Any, batch_size: int | None = 32, verbose: int = 0,
                 return_dict: bool = False) -> Any:
        """Loss (and metrics) over (x, y) in inference mode: a float when there is only the
        loss, else a list in log order (a dict with return_dict)."""
        self._require_compiled()
        scores = self._evaluate_arrays(self._arrays(x, self.input_names, "x"), self._targets(y),
                                       int(batch_size or 32))
        if verbose:
            print(" - ".join(f"{k}: {v:.4f}" for k, v in scores.items()))
        return _result(scores, return_dict)

    def predict(self, x: Any, batch_size: int | None = 32, verbose: int = 0) -> Any:
        """Outputs for ``x`` in inference mode, batch by batch: an array, or a list of arrays
        for a model with several outputs."""
        xs = self._arrays(x, self.input_names, "x")
        n, batch = _length(xs), int(batch_size or 32)
        chunks: list[list[np.ndarray]] = [[] for _ in self.output_names]
        for start in range(0, n, batch):
            preds = self._steps().predict([_rows(a, slice(start, start + batch)) for a in xs])
            for store, p in zip(chunks, preds, strict=True):
                store.append(np.asarray(K.to_numpy(p)))
        outs = [np.concatenate(c, axis=0) for c in chunks]
        return outs[0] if len(outs) == 1 and not getattr(self, "_multi_output", False) else outs


def _numpy(a: Any) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else np.asarray(K.to_numpy(K.convert_to_tensor(a)))


def _rows(a: Any, rows: Any) -> Any:
    return None if a is None else a[rows]


def _length(arrays: Sequence[Any]) -> int:
    sizes = {int(a.shape[0]) for a in arrays if a is not None}
    if len(sizes) != 1:
        raise ValueError(f"all inputs and targets need the same number of samples, got "
                         f"{sorted(sizes)}")
    return sizes.pop()


def _accumulate(trackers: dict[str, Mean], logs: dict[str, tuple[float, float]]) -> None:
    for name, (value, weight) in logs.items():
        trackers.setdefault(name, Mean(name)).update(value, weight)


def _result(logs: dict[str, float], return_dict: bool) -> Any:
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


def _metric_name(identifier: Any) -> str:
    name = _name_of(identifier)
    if not isinstance(identifier, str) and name == "<lambda>":
        raise ValueError("a lambda metric has no name to save it under")
    return name


def _serialize_nested(spec: Any, one: Any) -> Any:
    if spec is None:
        return None
    if isinstance(spec, dict):
        return {k: _serialize_nested(v, one) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_serialize_nested(v, one) for v in spec]
    if isinstance(spec, str):
        return spec
    return one(spec)
