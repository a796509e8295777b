"""Keras 3 as a conformance target, on one of its backends (jax, tensorflow, torch, numpy).

Keras picks its backend once, from ``KERAS_BACKEND``, when it is first imported, so one process
runs one Keras backend: the target sets the variable before the import and refuses another
backend afterwards. Layers come from the case config (already in Keras names) through
``keras.layers.deserialize``; gradients and compilation use the framework under Keras
(``keras3_backends``) over the layer's ``stateless_call``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

from harness.conformance import data
from harness.conformance.cases import Case, ModelCase, config_in_dtype, plain_config
from harness.conformance.targets import Built, keras3_saved
from harness.conformance.targets import keras3_backends as kb
from harness.conformance.targets.keras3_backends import keras_object, load_keras
from harness.errors import UsageError

#: save formats: name -> file suffix (``weights.h5`` keeps weights only; the config rebuilds)
FORMATS = {"keras": ".keras", "h5": ".h5", "weights.h5": ".weights.h5"}


def make(backend: str, device: str = "cpu") -> KerasTarget:
    """The Keras 3 target on ``backend`` (UsageError when Keras or the backend is missing, or
    when this process already runs Keras on another backend)."""
    return KerasTarget(backend, device)


class KerasTarget:
    library = "keras"

    def __init__(self, backend: str, device: str = "cpu"):
        self.keras = load_keras(backend)
        self.ops = self.keras.ops
        self.backend = backend
        self.device = device
        if kb.device_name(device) not in self.devices():
            raise UsageError(f"Keras on {backend} sees no device {device!r} "
                             f"(it sees {', '.join(self.devices())})")

    # --- environment -----------------------------------------------------------------
    def versions(self) -> dict[str, str]:
        """Version of the framework under Keras, and of Keras itself."""
        return {self.backend: kb.framework_version(self.backend),
                "keras": self.keras.__version__}

    def devices(self) -> list[str]:
        """Devices the framework under Keras sees (``cpu:0``, ``gpu:0``...)."""
        return kb.device_names(self.backend)

    def _on_device(self) -> AbstractContextManager[Any]:
        """A ``keras.device`` scope for a device other than the framework's default; none for
        the default (Keras on torch cannot train variables made inside ``keras.device``)."""
        name = kb.device_name(self.device)
        if name == kb.default_device(self.backend):
            return contextlib.nullcontext()
        return self.keras.device(name)

    def supports(self, dtype: str) -> bool:
        """Whether Keras on this backend really computes in ``dtype`` (JAX without x64 turns
        float64 into float32)."""
        try:
            tensor = self.ops.convert_to_tensor(np.zeros((1,), np.float32), dtype=dtype)
        except (TypeError, ValueError):
            return False
        return self.keras.backend.standardize_dtype(tensor.dtype) == dtype

    # --- tensors ---------------------------------------------------------------------
    def _tensor(self, array: np.ndarray, dtype: str) -> Any:
        if array.dtype.kind == "b":
            return self.ops.convert_to_tensor(array, dtype="bool")
        if array.dtype.kind in "iu":  # token ids: int32 is what every backend indexes with
            return self.ops.convert_to_tensor(array, dtype="int32")
        return self.ops.convert_to_tensor(data.cast(array, dtype), dtype=dtype)

    def _tensors(self, arrays: list[np.ndarray], dtype: str) -> list[Any]:
        return [self._tensor(np.asarray(a), dtype) for a in arrays]

    def _mask(self, mask: np.ndarray | None) -> Any:
        return None if mask is None else self.ops.convert_to_tensor(mask, dtype="bool")

    @staticmethod
    def _arg(built: Built, tensors: list[Any]) -> Any:
        return tensors if built.case.multi_input else tensors[0]

    @staticmethod
    def _outputs(out: Any) -> list[Any]:
        return list(out) if isinstance(out, (list, tuple)) else [out]

    # --- layers ----------------------------------------------------------------------
    def _layer(self, case: Case, dtype: str) -> Any:
        config = config_in_dtype(case, dtype)
        return self.keras.layers.deserialize(keras_object(case.layer, config))

    def _wrap(self, layer: Any, case: Case, dtype: str) -> Built:
        """Build ``layer`` by calling it on the case's inputs; the Built that checks use."""
        with self._on_device():
            tensors = self._tensors(data.inputs(case, dtype), dtype)
            layer(tensors if case.multi_input else tensors[0])
        trainable_ids = {id(v) for v in layer.trainable_variables}
        return Built(layer, case, dtype, [v.path for v in layer.weights],
                     [id(v) in trainable_ids for v in layer.weights])

    def build(self, case: Case, dtype: str) -> Built:
        """Build the case's Keras layer on its input shapes and give it the case's weights."""
        built = self._wrap(self._layer(case, dtype), case, dtype)
        shapes = [tuple(v.shape) for v in built.layer.weights]
        self.set_weights(built, data.weights(case.id, shapes, built.weight_names, dtype))
        return built

    def get_weights(self, built: Built) -> list[np.ndarray]:
        # C order: torch hands some variables back transposed (Fortran-ordered views)
        return [np.ascontiguousarray(kb.as_numpy(v.value), dtype=np.float64)
                for v in built.layer.weights]

    def set_weights(self, built: Built, weights: list[np.ndarray]) -> None:
        built.layer.set_weights([data.cast(np.asarray(w), built.dtype) for w in weights])

    def forward(self, built: Built, inputs: list[np.ndarray], training: bool = False,
                mask: np.ndarray | None = None) -> list[np.ndarray]:
        """Eager outputs of ``layer(x, training=..., mask=...)`` as NumPy arrays."""
        kwargs: dict[str, Any] = {"training": training}
        if mask is not None:  # layers without a mask argument refuse the keyword
            kwargs["mask"] = self._mask(mask)
        with self._on_device():
            out = built.layer(self._arg(built, self._tensors(inputs, built.dtype)), **kwargs)
        return [kb.as_numpy(o) for o in self._outputs(out)]

    def output_shape(self, built: Built, input_shapes: list[tuple[int | None, ...]]
                     ) -> list[tuple[int | None, ...]]:
        arg = input_shapes if built.case.multi_input else input_shapes[0]
        shape = built.layer.compute_output_shape(arg)
        # Keras returns one shape as a tuple or a list (Conv2DTranspose), several as a list
        if all(d is None or isinstance(d, (int, np.integer)) for d in shape):
            return [tuple(shape)]
        return [tuple(s) for s in shape]

    def output_mask(self, built: Built, inputs: list[np.ndarray],
                    mask: np.ndarray | None) -> np.ndarray | None:
        with self._on_device():
            out = built.layer.compute_mask(self._arg(built, self._tensors(inputs, built.dtype)),
                                           self._mask(mask))
        if isinstance(out, (list, tuple)):
            out = out[0]
        return None if out is None else np.asarray(kb.as_numpy(out), dtype=bool)

    # --- stateless calls: gradients and compiled forward ------------------------------
    def _pure_forward(self, built: Built, training: bool, with_mask: bool) -> Any:
        """forward(xs, trainable, non_trainable[, mask]) -> outputs, through the layer's
        ``stateless_call`` (a pure function of the variable values)."""
        layer = built.layer
        # stateless_call hands keywords to ``call`` as they are: only those it takes
        takes = inspect.signature(layer.call).parameters

        def forward(xs: list[Any], trainable: list[Any], non_trainable: list[Any],
                    *mask: Any) -> list[Any]:
            kwargs: dict[str, Any] = {"training": training} if "training" in takes else {}
            if with_mask:
                kwargs["mask"] = mask[0]
            out, _ = layer.stateless_call(list(trainable), list(non_trainable),
                                          self._arg(built, list(xs)), **kwargs)
            return self._outputs(out)

        return forward

    def gradients(self, built: Built, inputs: list[np.ndarray], cotangents: list[np.ndarray],
                  wrt_inputs: list[int], training: bool = False,
                  mask: np.ndarray | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradients of sum(output * cotangent) by the backend's autodiff (jax.grad,
        GradientTape, torch.autograd) over the layer's stateless call; weight gradients in the
        order of the trainable entries of ``layer.weights``."""
        layer, ops = built.layer, self.ops
        forward = self._pure_forward(built, training, mask is not None)
        trainable_vars = list(layer.trainable_variables)
        position = {id(v): k for k, v in enumerate(trainable_vars)}
        order = [position[id(v)] for v, t in zip(layer.weights, built.trainable, strict=True)
                 if t]
        n_in = len(wrt_inputs)
        with self._on_device():
            xs = self._tensors(inputs, built.dtype)
            non_trainable = [v.value for v in layer.non_trainable_variables]
            mask_arg = [] if mask is None else [self._mask(mask)]

            def objective(values: list[Any]) -> Any:
                x_now = list(xs)
                for k, i in enumerate(wrt_inputs):
                    x_now[i] = values[k]
                outs = forward(x_now, values[n_in:], non_trainable, *mask_arg)
                total = None
                for o, c in zip(outs, cotangents, strict=True):
                    term = ops.sum(ops.multiply(o, ops.convert_to_tensor(c, dtype=o.dtype)))
                    total = term if total is None else ops.add(total, term)
                return total

            start = [xs[i] for i in wrt_inputs] + [v.value for v in trainable_vars]
            grads = kb.grad(self.backend, objective, start)
        as_np = [np.asarray(kb.as_numpy(g), dtype=np.float64) for g in grads]
        return as_np[:n_in], [as_np[n_in + k] for k in order]

    def compile_variants(self) -> dict[str, dict[str, Any]]:
        """Named option sets of the backend's compiler (empty for Keras's numpy backend)."""
        return dict(kb.COMPILE_VARIANTS[self.backend])

    def compiled_forward(self, built: Built, inputs: list[np.ndarray], training: bool = False,
                         mask: np.ndarray | None = None, **options: Any) -> list[np.ndarray]:
        """Outputs of the layer's stateless call compiled by jax.jit / tf.function / torch
        .compile (one compiled function per layer, mode and options, cached on ``built``)."""
        key = ("compiled", training, mask is not None, tuple(sorted(options.items())))
        if key not in built.extra:
            built.extra[key] = kb.compile(self.backend,
                                          self._pure_forward(built, training, mask is not None),
                                          **options)
        layer = built.layer
        with self._on_device():
            args = [self._tensors(inputs, built.dtype),
                    [v.value for v in layer.trainable_variables],
                    [v.value for v in layer.non_trainable_variables]]
            if mask is not None:
                args.append(self._mask(mask))
            outs = built.extra[key](*args)
        return [kb.as_numpy(o) for o in outs]

    # --- serialization ---------------------------------------------------------------
    def config(self, built: Built) -> dict[str, Any]:
        return built.layer.get_config()

    def _clone(self, built: Built) -> Built:
        """A new layer from the built one's config, built, without its weights yet."""
        layer = type(built.layer).from_config(built.layer.get_config())
        return self._wrap(layer, built.case, built.dtype)

    def from_config(self, built: Built) -> Built:
        clone = self._clone(built)
        self.set_weights(clone, self.get_weights(built))
        return clone

    def formats(self) -> list[str]:
        return sorted(FORMATS)

    def _model(self, layer: Any, case: Case, dtype: str) -> Any:
        """A functional model whose only layer is ``layer``."""
        keras = self.keras
        inputs = [keras.Input(shape=tuple(spec.shape[1:]),
                              dtype="int32" if spec.kind == "int" else dtype)
                  for spec in case.inputs]
        return keras.Model(inputs, layer(inputs if case.multi_input else inputs[0]))

    def save(self, built: Built, fmt: str, folder: str) -> str:
        """Save a model around the layer in ``fmt`` under ``folder``; the saved path."""
        if fmt not in FORMATS:
            raise UsageError(f"unknown Keras save format {fmt!r} (known: {', '.join(FORMATS)})")
        path = os.path.join(folder, f"model-keras-{self.backend}{FORMATS[fmt]}")
        model = self._model(built.layer, built.case, built.dtype)
        if fmt == "weights.h5":
            model.save_weights(path)
        else:
            model.save(path)
        return path

    def load(self, path: str, like: Built) -> Built:
        """Load a saved model on this target's backend; the layer that ``like`` was."""
        with self._on_device():
            if path.endswith(FORMATS["weights.h5"]):
                # weights only: the architecture comes from the layer's config
                layer = type(like.layer).from_config(like.layer.get_config())
                model = self._model(layer, like.case, like.dtype)
                model.load_weights(path)
            else:
                model = self.keras.saving.load_model(path)
                # the model's one layer: its name is the saving process's, not like's
                (layer,) = [la for la in model.layers
                            if not isinstance(la, self.keras.layers.InputLayer)]
        return Built(layer, like.case, like.dtype, list(like.weight_names), list(like.trainable))

    def save_and_load(self, built: Built, fmt: str, folder: str) -> Built:
        """Save a model around the layer in ``fmt`` and load it back; the loaded layer."""
        return self.load(self.save(built, fmt, folder), built)

    def portability_sources(self) -> list[str]:
        """The other Keras backends installed here (each saves models in its own process)."""
        return keras3_saved.sources(self.backend)

    def saved_on(self, source: str, case: Case, dtype: str) -> keras3_saved.SavedModels | None:
        """``case`` saved in every format by Keras on ``source`` (another process), with its
        predictions and weights there; None when Keras on ``source`` lacks ``dtype``."""
        return keras3_saved.saved_on(source, case.id, dtype, self.device)

    # --- training and losses ---------------------------------------------------------
    def _loss_fn(self, name: str, config: dict[str, Any]) -> Any:
        base = self.keras.losses.get(name)

        def loss_fn(y_true: Any, y_pred: Any) -> Any:
            return base(y_true, y_pred, **config)

        return loss_fn

    def _sequential(self, case: ModelCase, weights: list[np.ndarray]) -> Any:
        keras = self.keras
        stack = [keras.layers.deserialize(keras_object(name, {**plain_config(cfg),
                                                              "dtype": "float32"}))
                 for name, cfg in case.layers]
        model = keras.Sequential([keras.Input(shape=case.input_shape[1:]), *stack])
        model.set_weights([data.cast(w, "float32") for w in weights])
        return model

    def train(self, case: ModelCase, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray
              ) -> dict[str, Any]:
        """Train the case's Sequential model from ``weights`` with ``train_on_batch``; the
        loss of every step (before its update) and the final weights."""
        keras = self.keras
        with self._on_device():
            model = self._sequential(case, weights)
            optimizer = getattr(keras.optimizers, case.optimizer)(
                **plain_config(case.optimizer_config))
            model.compile(optimizer=optimizer,
                          loss=self._loss_fn(case.loss, plain_config(case.loss_config)))
            batch = case.batch_size or x.shape[0]
            n_batches = -(-x.shape[0] // batch)
            losses = []
            for step in range(case.steps):
                i = step % n_batches
                xb = data.cast(x[i * batch:(i + 1) * batch], "float32")
                yb = data.cast(y[i * batch:(i + 1) * batch], "float32")
                losses.append(float(model.train_on_batch(xb, yb)))
        return {"losses": losses,
                "weights": [np.asarray(w, np.float64) for w in model.get_weights()]}

    def train_data_parallel(self, case: ModelCase, weights: list[np.ndarray], x: np.ndarray,
                            y: np.ndarray, devices: list[str]) -> dict[str, Any]:
        """Data-parallel training: each step's batch is split over ``devices``, each shard's
        gradient is taken on its device (``keras.device``), the gradients are averaged
        (weighted by shard size) and the optimizer applies them once. The final weights."""
        keras, ops = self.keras, self.ops
        model = self._sequential(case, weights)
        optimizer = getattr(keras.optimizers, case.optimizer)(
            **plain_config(case.optimizer_config))
        loss_fn = self._loss_fn(case.loss, plain_config(case.loss_config))
        trainable = list(model.trainable_variables)
        batch = case.batch_size or x.shape[0]
        n_batches = -(-x.shape[0] // batch)
        for step in range(case.steps):
            i = step % n_batches
            xb, yb = x[i * batch:(i + 1) * batch], y[i * batch:(i + 1) * batch]
            total: list[np.ndarray] | None = None
            for device, xs, ys in zip(devices, np.array_split(xb, len(devices)),
                                      np.array_split(yb, len(devices)), strict=False):
                with keras.device(kb.device_name(device)):
                    x_t, y_t = self._tensor(xs, "float32"), self._tensor(ys, "float32")
                    # a sparse target stays float here: Keras's loss casts it to int itself
                    non_trainable = [v.value for v in model.non_trainable_variables]

                    def objective(values: list[Any], x_t: Any = x_t, y_t: Any = y_t,
                                  non_trainable: list[Any] = non_trainable) -> Any:
                        out, _ = model.stateless_call(values, non_trainable, x_t, training=True)
                        return ops.mean(loss_fn(y_t, out))

                    grads = kb.grad(self.backend, objective, [v.value for v in trainable])
                share = len(xs) / len(xb)
                scaled = [np.asarray(kb.as_numpy(g), np.float64) * share for g in grads]
                total = scaled if total is None else [a + b for a, b in zip(total, scaled,
                                                                            strict=True)]
            assert total is not None
            with self._on_device():
                optimizer.apply_gradients(
                    zip([ops.convert_to_tensor(g.astype(np.float32)) for g in total], trainable,
                        strict=True))
        return {"weights": [np.asarray(w, np.float64) for w in model.get_weights()]}

    def loss(self, name: str, y_true: np.ndarray, y_pred: np.ndarray, config: dict[str, Any],
             dtype: str) -> tuple[float, np.ndarray]:
        """Keras's loss value (mean over the batch) and its gradient w.r.t. y_pred."""
        ops, fn = self.ops, self._loss_fn(name, config)
        yt = self._tensor(np.asarray(y_true, np.float64), dtype)
        yp = self._tensor(np.asarray(y_pred, np.float64), dtype)

        def objective(values: list[Any]) -> Any:
            return ops.mean(fn(yt, values[0]))

        with self._on_device():
            value = float(kb.as_numpy(objective([yp])))
            (grad,) = kb.grad(self.backend, objective, [yp])
        return value, np.asarray(kb.as_numpy(grad), np.float64)
