"""The reference layer library (``harness.reference``) on one of its backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from harness.conformance import data
from harness.conformance.cases import Case, ModelCase, config_in_dtype, plain_config
from harness.conformance.targets import Built, DeviceUnavailable, distribution_version
from harness.errors import UsageError


def make(backend: str, device: str = "cpu") -> ReferenceTarget:
    return ReferenceTarget(backend, device)


class ReferenceTarget:
    library = "reference"

    def __init__(self, backend: str, device: str = "cpu"):
        from harness.reference import backend as K

        try:
            K.set_backend(backend)
        except K.BackendUnavailable as exc:
            raise UsageError(str(exc)) from exc
        self.K = K
        self.backend = backend
        self.device = device
        try:
            K.set_device(device)
        except ValueError as exc:  # e.g. --device gpu on a machine without one
            raise DeviceUnavailable(str(exc)) from exc

    # --- environment -----------------------------------------------------------------
    def versions(self) -> dict[str, str]:
        return {self.backend: distribution_version(self.backend) or "unknown"}

    # --- layers ----------------------------------------------------------------------
    def _layer(self, case: Case, dtype: str) -> Any:
        from harness.reference import layers

        config = config_in_dtype(case, dtype)
        return layers.get(case.layer).from_config(config)

    def _tensors(self, arrays: list[np.ndarray], dtype: str) -> list[Any]:
        return [self.K.convert_to_tensor(data.cast(a, dtype),
                                         dtype=None if a.dtype.kind in "iub" else dtype)
                for a in arrays]

    def _arg(self, built: Built, tensors: list[Any]) -> Any:
        return tensors if built.case.multi_input else tensors[0]

    def build(self, case: Case, dtype: str) -> Built:
        """Build the case's layer on its input shapes and give it the case's weights."""
        layer = self._layer(case, dtype)
        sample = data.inputs(case, dtype)
        arg = self._tensors(sample, dtype)
        layer(arg if case.multi_input else arg[0])  # builds
        variables = layer.weights
        built = Built(layer, case, dtype, [v.name for v in variables],
                      [bool(v.trainable) and layer.trainable for v in variables])
        shapes = [tuple(v.shape) for v in variables]
        self.set_weights(built, data.weights(case.id, shapes, built.weight_names, dtype))
        return built

    def get_weights(self, built: Built) -> list[np.ndarray]:
        return [np.asarray(w, dtype=np.float64) for w in built.layer.get_weights()]

    def set_weights(self, built: Built, weights: list[np.ndarray]) -> None:
        built.layer.set_weights([data.cast(np.asarray(w), built.dtype) for w in weights])

    @property
    def graph(self) -> bool:
        """True for backends whose ops only build a graph (Theano, PyTensor)."""
        return getattr(self.K.active(), "EXECUTION", "eager") == "graph"

    def _pure_forward(self, built: Built, training: bool, with_mask: bool) -> Any:
        """forward(xs, ws[, mask]) -> outputs: a pure function of inputs and weight values."""
        from harness.reference.variables import StatelessScope

        layer, variables = built.layer, built.layer.weights

        def forward(xs: list[Any], ws: list[Any], *mask: Any) -> list[Any]:
            with StatelessScope(dict(zip(variables, ws, strict=True))):
                kwargs: dict[str, Any] = {"training": training}
                if with_mask:
                    kwargs["mask"] = mask[0]
                out = layer(self._arg(built, list(xs)), **kwargs)
            return list(out) if isinstance(out, (list, tuple)) else [out]

        return forward

    def compile_variants(self) -> dict[str, dict[str, Any]]:
        """Named option sets for ``compile`` (e.g. TensorFlow with and without XLA); empty when
        the backend has no compiler (NumPy)."""
        module = self.K.active()
        return dict(getattr(module, "COMPILE_VARIANTS", {}))

    def compiled(self, built: Built, training: bool, with_mask: bool, **options: Any) -> Any:
        """The backend's compiled forward, one per layer, mode and options (cached)."""
        key = ("compiled", training, with_mask, tuple(sorted(options.items())))
        if key not in built.extra:
            built.extra[key] = self.K.compile(self._pure_forward(built, training, with_mask),
                                              **options)
        return built.extra[key]

    def compiled_forward(self, built: Built, inputs: list[np.ndarray], training: bool = False,
                         mask: np.ndarray | None = None, **options: Any) -> list[np.ndarray]:
        """Outputs of the compiled forward (tf.function, jax.jit, torch.compile, a graph)."""
        fn = self.compiled(built, training, mask is not None, **options)
        xs: list[Any] = [data.cast(x, built.dtype) for x in inputs]
        ws: list[Any] = [w.numpy() for w in built.layer.weights]
        if built.dtype == "bfloat16":  # NumPy has no bfloat16: hand the backend its tensors
            xs = self._tensors(inputs, built.dtype)
            ws = [w.value for w in built.layer.weights]
        outs = fn(xs, ws, mask) if mask is not None else fn(xs, ws)
        return [np.asarray(self.K.to_numpy(o)) for o in outs]

    def forward(self, built: Built, inputs: list[np.ndarray], training: bool = False,
                mask: np.ndarray | None = None) -> list[np.ndarray]:
        if self.graph:
            return self.compiled_forward(built, inputs, training, mask)
        arg = self._arg(built, self._tensors(inputs, built.dtype))
        kwargs: dict[str, Any] = {"training": training}
        if mask is not None:
            kwargs["mask"] = self.K.convert_to_tensor(mask, dtype="bool")
        out = built.layer(arg, **kwargs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        return [self.K.to_numpy(o) for o in outs]

    def output_shape(self, built: Built, input_shapes: list[tuple[int | None, ...]]
                     ) -> list[tuple[int | None, ...]]:
        arg = input_shapes if built.case.multi_input else input_shapes[0]
        shape = built.layer.compute_output_shape(arg)
        if isinstance(shape, list):
            return [tuple(s) for s in shape]
        return [tuple(shape)]

    def output_mask(self, built: Built, inputs: list[np.ndarray],
                    mask: np.ndarray | None) -> np.ndarray | None:
        arg = self._arg(built, self._tensors(inputs, built.dtype))
        m = None if mask is None else self.K.convert_to_tensor(mask, dtype="bool")
        out = built.layer.compute_mask(arg, m)
        if isinstance(out, (list, tuple)):
            out = out[0]
        return None if out is None else np.asarray(self.K.to_numpy(out), dtype=bool)

    def gradients(self, built: Built, inputs: list[np.ndarray], cotangents: list[np.ndarray],
                  wrt_inputs: list[int], training: bool = False,
                  mask: np.ndarray | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradients of sum(output * cotangent) by the backend's own autodiff."""
        K = self.K
        trainable_idx = [i for i, t in enumerate(built.trainable) if t]
        forward = self._pure_forward(built, training, mask is not None)
        n_in = len(wrt_inputs)

        def grads_of(xs: list[Any], ws: list[Any], cots: list[Any], *mask_arg: Any) -> list[Any]:
            def objective(values: list[Any]) -> Any:
                x_now = list(xs)
                for k, i in enumerate(wrt_inputs):
                    x_now[i] = values[k]
                w_now = list(ws)
                for k, i in enumerate(trainable_idx):
                    w_now[i] = values[n_in + k]
                total = None
                for o, c in zip(forward(x_now, w_now, *mask_arg), cots, strict=False):
                    term = K.sum(K.multiply(o, c))
                    total = term if total is None else K.add(total, term)
                return total

            start = [xs[i] for i in wrt_inputs] + [ws[i] for i in trainable_idx]
            return list(K.value_and_grad(objective, start)[1])

        xs = [data.cast(x, built.dtype) for x in inputs]
        ws = [w.numpy() for w in built.layer.weights]
        cots = [data.cast(c, built.dtype) for c in cotangents]
        args: list[Any] = [xs, ws, cots] + ([mask] if mask is not None else [])
        if self.graph:
            key = ("grads", training, mask is not None, tuple(wrt_inputs))
            if key not in built.extra:
                built.extra[key] = K.compile(grads_of)
            grads = built.extra[key](*args)
        else:
            args[0] = self._tensors(inputs, built.dtype)
            args[2] = [K.convert_to_tensor(c) for c in cots]
            if mask is not None:
                args[3] = K.convert_to_tensor(mask, dtype="bool")
            grads = grads_of(*args)
        as_np = [np.asarray(K.to_numpy(g), dtype=np.float64) for g in grads]
        return as_np[:n_in], as_np[n_in:]

    # --- serialization ---------------------------------------------------------------
    def config(self, built: Built) -> dict[str, Any]:
        return built.layer.get_config()

    def from_config(self, built: Built) -> Built:
        layer = type(built.layer).from_config(built.layer.get_config())
        clone = Built(layer, built.case, built.dtype, built.weight_names, built.trainable)
        sample = self._tensors(data.inputs(built.case, built.dtype), built.dtype)
        layer(self._arg(built, sample))
        self.set_weights(clone, self.get_weights(built))
        return clone

    def formats(self) -> list[str]:
        from harness.reference import saving

        return sorted(saving.formats())

    def _model(self, built: Built) -> Any:
        from harness.reference import layers, models

        inputs = [layers.Input(shape=tuple(spec.shape[1:]),
                               dtype="int64" if spec.kind == "int" else built.dtype)
                  for spec in built.case.inputs]
        out = built.layer(inputs if built.case.multi_input else inputs[0])
        return models.Model(inputs, out)

    def save(self, built: Built, fmt: str, folder: str) -> str:
        """Save a model around the layer in ``fmt`` under ``folder``; the saved path."""
        from harness.reference import saving

        path = os.path.join(folder, f"model-{self.backend}-{fmt}")
        saving.save_model(self._model(built), path, format=fmt)
        return path

    def load(self, path: str, like: Built) -> Built:
        """Load a saved model on this target's backend; the layer that ``like`` was."""
        from harness.reference import saving

        self.K.set_backend(self.backend)
        loaded = saving.load_model(path)
        layer = next(lyr for lyr in loaded.layers if lyr.name == like.layer.name)
        return Built(layer, like.case, like.dtype, like.weight_names, like.trainable)

    def save_and_load(self, built: Built, fmt: str, folder: str) -> Built:
        """Save a model around the layer in ``fmt`` and load it back; the loaded layer."""
        return self.load(self.save(built, fmt, folder), built)

    def supports(self, dtype: str) -> bool:
        """Whether this backend computes in ``dtype`` (bfloat16 is not everywhere)."""
        try:
            self.K.cast(self.K.zeros((1,)), dtype)
        except (TypeError, ValueError):
            return False
        return True

    # --- training and losses ---------------------------------------------------------
    def training_setup(self, case: ModelCase, weights: list[np.ndarray]
                       ) -> tuple[Any, Any, Any]:
        """(model with the case's weights, optimizer, loss function) for a model case."""
        from harness.reference import layers, losses, models, optimizers

        stack = [layers.get(name).from_config({**plain_config(cfg), "dtype": "float32"})
                 for name, cfg in case.layers]
        model = models.Sequential([layers.Input(shape=case.input_shape[1:]), *stack])
        model.set_weights([data.cast(w, "float32") for w in weights])
        optimizer = getattr(optimizers, case.optimizer)(**plain_config(case.optimizer_config))
        base = losses.get(case.loss)
        loss_config = plain_config(case.loss_config)

        def loss_fn(y_true: Any, y_pred: Any) -> Any:
            return base(y_true, y_pred, **loss_config)

        return model, optimizer, loss_fn

    @staticmethod
    def batches(case: ModelCase, x: np.ndarray, y: np.ndarray
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The (x, y) batch of every step: consecutive batches, wrapping around."""
        batch = case.batch_size or x.shape[0]
        n_batches = -(-x.shape[0] // batch)
        for step in range(case.steps):
            i = step % n_batches
            yield (data.cast(x[i * batch:(i + 1) * batch], "float32"),
                   data.cast(y[i * batch:(i + 1) * batch], "float32"))

    def train(self, case: ModelCase, weights: list[np.ndarray], x: np.ndarray, y: np.ndarray
              ) -> dict[str, Any]:
        """Train the case's model from ``weights``; losses before each step, final weights."""
        model, optimizer, loss_fn = self.training_setup(case, weights)
        model.compile(optimizer=optimizer, loss=loss_fn)
        history = [float(model.train_on_batch(xb, yb)) for xb, yb in self.batches(case, x, y)]
        return {"losses": history, "weights": [np.asarray(w, np.float64)
                                                for w in model.get_weights()]}

    def devices(self) -> list[str]:
        """Devices this backend offers data-parallel training: those it sees (virtual CPUs
        included) and, on torch, the gloo process ranks ``cpu:0`` .. ``cpu:N-1`` that
        ``HARNESS_DEVICES=N`` asks for (one process per rank, all on the CPU)."""
        from harness.conformance.targets import parallel

        return parallel.devices(self.backend, list(self.K.device_names()))

    def train_data_parallel(self, case: ModelCase, weights: list[np.ndarray], x: np.ndarray,
                            y: np.ndarray, devices: list[str]) -> dict[str, Any]:
        """Data-parallel training with the backend's own machinery (MirroredStrategy on
        TensorFlow, shard_map + psum on JAX, gloo processes on torch): each step's batch is
        split over ``devices``, the replicas' gradients are all-reduced (weighted by shard
        size) and applied once. ``{"weights": [final weights], "mechanism": what ran}``."""
        from harness.conformance.targets import parallel

        try:
            return parallel.train(self, case, weights, x, y, devices)
        finally:
            self.K.set_device(self.device)

    def loss(self, name: str, y_true: np.ndarray, y_pred: np.ndarray, config: dict[str, Any],
             dtype: str) -> tuple[float, np.ndarray]:
        """The library's loss value and its gradient w.r.t. y_pred."""
        from harness.reference import losses

        K = self.K
        fn = losses.get(name)
        yt = K.convert_to_tensor(data.cast(y_true, dtype))
        yp = K.convert_to_tensor(data.cast(y_pred, dtype))

        def objective(values: list[Any]) -> Any:
            return K.mean(fn(yt, values[0], **config))

        value, grads = K.value_and_grad(objective, [yp])
        return float(K.to_numpy(value)), np.asarray(K.to_numpy(grads[0]), np.float64)
