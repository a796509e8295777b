"""Data-parallel training of the reference library through each framework's own machinery.

Every step's batch is split over the replicas as ``np.array_split`` splits it (uneven shards
when the batch does not divide). Each replica differentiates ``sum(loss_i * w_i)`` over its
shard, where the per-sample weights ``w_i`` make the *sum* over replicas the loss one device
computes on the whole batch (``w = 1 / batch`` for every sample, whatever the shard's size);
the framework all-reduces (sums) the gradients and the optimizer applies them once.

- tensorflow: ``tf.distribute.MirroredStrategy`` over the logical devices; each replica's
  gradients summed by ``ReplicaContext.all_reduce`` inside ``strategy.run``;
- jax: ``shard_map`` over a one-axis mesh of the devices; gradients summed by ``lax.psum``;
- torch: N gloo processes (``torch.distributed``), see ``parallel_torch``.

``reduction`` picks how the replicas' gradients combine; only ``"weighted"`` is right. The
others reproduce two classic data-parallel bugs, so a test can show the check catches them:
``"unweighted"`` averages the shard means (wrong for uneven shards) and ``"none"`` drops the
all-reduce (replica 0 applies its own shard's gradient).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.conformance.cases import ModelCase

if TYPE_CHECKING:
    from harness.conformance.targets.reference import ReferenceTarget

REDUCTIONS = ("weighted", "unweighted", "none")

#: the framework machinery each backend's data-parallel training runs on
MECHANISMS = {
    "tensorflow": "tf.distribute.MirroredStrategy (ReplicaContext.all_reduce)",
    "jax": "jax shard_map over a device mesh (lax.psum)",
    "torch": "torch.distributed gloo processes (all_reduce)",
}


def mechanism(backend: str) -> str | None:
    """The data-parallel machinery used on ``backend``; None when it has none (one device)."""
    return MECHANISMS.get(backend)


def requested_devices(environ: Any = os.environ) -> int:
    """The device count asked for by ``HARNESS_DEVICES`` (0 when unset or not an int)."""
    try:
        return int(str(environ.get("HARNESS_DEVICES", "")).strip() or 0)
    except ValueError:
        return 0


def devices(backend: str, seen: list[str], environ: Any = os.environ) -> list[str]:
    """The devices data-parallel training can use on ``backend``, given those it ``seen``.

    On torch the CPU "devices" are gloo process ranks: with ``HARNESS_DEVICES=N`` (N >= 2)
    they are ``cpu:0`` .. ``cpu:N-1``, one process each (GPUs follow as seen). Other backends
    use the devices they see (virtual ones included)."""
    count = requested_devices(environ)
    if backend != "torch" or count < 2:
        return list(seen)
    return [f"cpu:{rank}" for rank in range(count)] + [d for d in seen if not
                                                         d.startswith("cpu")]


def shard_sizes(batch: int, parts: int) -> list[int]:
    """Rows of each of ``parts`` shards of a ``batch``-row batch, as ``np.array_split``."""
    return [batch // parts + (1 if i < batch % parts else 0) for i in range(parts)]


def sample_weights(sizes: list[int], reduction: str = "weighted") -> list[np.ndarray]:
    """Per-sample loss weights of each shard (float32) for ``reduction``: summing the
    replicas' weighted losses gives the whole batch's mean loss for ``"weighted"``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    total, parts = sum(sizes), len(sizes)
    out = []
    for n in sizes:
        if reduction == "weighted":
            share = 1.0 / total
        elif reduction == "unweighted":  # the mean of the shard means
            share = 1.0 / (n * parts) if n else 0.0
        else:  # each replica's own shard mean, never combined
            share = 1.0 / n if n else 0.0
        out.append(np.full((n,), share, dtype=np.float32))
    return out


def split(batch: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """``batch`` cut into consecutive shards of ``sizes`` rows."""
    return np.split(batch, np.cumsum(sizes)[:-1])


def weighted_objective(model: Any, loss_fn: Any, trainable: list[Any]
                       ) -> Callable[[list[Any], Any, Any, Any], Any]:
    """objective(values, x, y, w) -> sum(per-sample loss * w) of ``model`` on one shard, a
    pure function of the trainable values (read through a ``StatelessScope``)."""
    from harness.reference import backend as K
    from harness.reference.variables import StatelessScope

    def objective(values: list[Any], x: Any, y: Any, w: Any) -> Any:
        with StatelessScope(dict(zip(trainable, values, strict=True))):
            per_sample = loss_fn(y, model(x, training=True))
        return K.sum(K.multiply(per_sample, w))

    return objective


def _steps(target: ReferenceTarget, case: ModelCase, x: np.ndarray, y: np.ndarray,
           parts: int, reduction: str
           ) -> Iterator[tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]]:
    """Per step: the x shards, the y shards and the per-sample weights of every replica."""
    for xb, yb in target.batches(case, x, y):
        sizes = shard_sizes(len(xb), parts)
        yield split(xb, sizes), split(yb, sizes), sample_weights(sizes, reduction)


def _final(model: Any, name: str) -> dict[str, Any]:
    return {"weights": [np.asarray(w, np.float64) for w in model.get_weights()],
            "mechanism": name}


def _device_index(name: str, kind: str = "cpu") -> int:
    """'cpu:3' -> 3 (the platform must be ``kind``'s, or any when ``kind`` is '')."""
    platform, _, index = name.strip().lower().partition(":")
    if (kind and platform != kind) or not (index or "0").isdigit():
        raise ValueError(f"device {name!r} is not a {kind or 'device'} name like 'cpu:1'")
    return int(index or 0)


# --- tensorflow ------------------------------------------------------------------------------
@functools.cache
def _mirrored_strategy(tf_devices: tuple[str, ...]) -> Any:
    """One MirroredStrategy per device set and process: a second one over the same devices
    reuses the first one's collective instance keys and its all-reduces meet the wrong peers."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(list(tf_devices))


def train_tensorflow(target: ReferenceTarget, case: ModelCase, weights: list[np.ndarray],
                     x: np.ndarray, y: np.ndarray, device_names: list[str],
                     reduction: str = "weighted") -> dict[str, Any]:
    """Train with ``tf.distribute.MirroredStrategy`` over ``device_names`` (TensorFlow's
    logical devices); ``{"weights": [...], "mechanism": str}``."""
    import tensorflow as tf

    from harness.reference.backend.tensorflow import devices as tf_devices

    K = target.K
    model, optimizer, loss_fn = target.training_setup(case, weights)
    trainable = list(model.trainable_weights)
    objective = weighted_objective(model, loss_fn, trainable)
    strategy = _mirrored_strategy(tuple(
        f"/device:{d.split(':')[0].upper()}:{_device_index(d, '')}" for d in device_names))

    def replica_step(values: list[Any], xs: Any, ys: Any, ws: Any) -> list[Any]:
        _, grads = K.value_and_grad(lambda v: objective(v, xs, ys, ws), values)
        if reduction == "none":
            return list(grads)
        # one flat tensor: one collective per step rather than one per weight
        flat = tf.concat([tf.reshape(g, [-1]) for g in grads], 0)
        total = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM,
                                                               flat)
        parts = tf.split(total, [int(np.prod(g.shape)) for g in grads])
        return [tf.reshape(p, g.shape) for p, g in zip(parts, grads, strict=True)]

    @tf.function
    def step(values: list[Any], xs: Any, ys: Any, ws: Any) -> Any:
        return strategy.run(replica_step, args=(values, xs, ys, ws))

    def per_replica(shards: list[np.ndarray]) -> Any:
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(shards[ctx.replica_id_in_sync_group]))

    # ops must follow the replica's device scope, not the device the target pinned
    with tf_devices.default_placement():
        for xs, ys, ws in _steps(target, case, x, y, len(device_names), reduction):
            out = step([v.value for v in trainable], per_replica(xs), per_replica(ys),
                       per_replica(ws))
            # after the all-reduce every replica holds the same sum: replica 0's copy
            grads = [strategy.experimental_local_results(g)[0] for g in out]
            optimizer.apply_gradients(zip([K.convert_to_tensor(g.numpy()) for g in grads],
                                          trainable, strict=True))
    return _final(model, f"{MECHANISMS['tensorflow']} over {len(device_names)} replicas")


# --- jax -------------------------------------------------------------------------------------
def _shard_map(fn: Callable[..., Any], **specs: Any) -> Any:
    """``shard_map(fn, **specs)`` without replication checks: with them, JAX itself sums the
    gradient of a replicated input over the mesh, and the all-reduce here must be explicit."""
    try:
        from jax import shard_map
    except ImportError:  # JAX before 0.6 keeps it under experimental, as check_rep
        from jax.experimental.shard_map import shard_map  # type: ignore[no-redef]

        return shard_map(fn, check_rep=False, **specs)
    return shard_map(fn, check_vma=False, **specs)


def train_jax(target: ReferenceTarget, case: ModelCase, weights: list[np.ndarray],
              x: np.ndarray, y: np.ndarray, device_names: list[str],
              reduction: str = "weighted") -> dict[str, Any]:
    """Train with ``shard_map`` over a mesh of ``device_names`` (JAX devices), the gradients
    summed by ``lax.psum``; ``{"weights": [...], "mechanism": str}``."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    K = target.K
    platforms = {d.split(":")[0] for d in device_names}
    if len(platforms) != 1:
        raise ValueError(f"one mesh takes devices of one platform, got {device_names}")
    platform = platforms.pop()
    seen = jax.devices(platform)
    mesh = Mesh(np.array([seen[_device_index(d, platform)] for d in device_names]),
                ("replica",))
    model, optimizer, loss_fn = target.training_setup(case, weights)
    trainable = list(model.trainable_weights)
    objective = weighted_objective(model, loss_fn, trainable)

    def local(values: list[Any], xs: Any, ys: Any, ws: Any) -> list[Any]:
        # each replica sees its (1, rows, ...) block of the stacked, padded shards
        _, grads = K.value_and_grad(lambda v: objective(v, xs[0], ys[0], ws[0]), values)
        if reduction != "none":
            grads = [jax.lax.psum(g, "replica") for g in grads]
        return [g[None] for g in grads]

    replicated, sharded = PartitionSpec(), PartitionSpec("replica")
    step = jax.jit(_shard_map(local, mesh=mesh,
                              in_specs=(replicated, sharded, sharded, sharded),
                              out_specs=sharded))
    for xs, ys, ws in _steps(target, case, x, y, len(device_names), reduction):
        rows = max(len(s) for s in xs)
        # equal blocks for the mesh: padding rows weigh 0 so they add nothing to the sum
        blocks = [np.stack([np.concatenate([s, np.zeros((rows - len(s), *s.shape[1:]),
                                                        s.dtype)]) for s in shards])
                  for shards in (xs, ys, ws)]
        put = [jax.device_put(b, NamedSharding(mesh, sharded)) for b in blocks]
        values = [jax.device_put(np.asarray(v.value), NamedSharding(mesh, replicated))
                  for v in trainable]
        out = step(values, *put)
        grads = [K.convert_to_tensor(np.asarray(g)[0]) for g in out]  # replica 0's sum
        optimizer.apply_gradients(zip(grads, trainable, strict=True))
    return _final(model, f"{MECHANISMS['jax']} over {len(device_names)} devices")


# --- dispatch --------------------------------------------------------------------------------
def train(target: ReferenceTarget, case: ModelCase, weights: list[np.ndarray], x: np.ndarray,
          y: np.ndarray, device_names: list[str], reduction: str = "weighted",
          timeout_s: float = 180.0) -> dict[str, Any]:
    """Train ``case`` data-parallel over ``device_names`` with the target backend's own
    machinery; ``{"weights": [final weights, float64], "mechanism": what ran}``.
    ValueError on a backend with no data-parallel machinery (NumPy, Theano, PyTensor)."""
    if len(device_names) < 2:
        raise ValueError(f"data-parallel training needs >= 2 devices, got {device_names}")
    if target.backend == "tensorflow":
        return train_tensorflow(target, case, weights, x, y, device_names, reduction)
    if target.backend == "jax":
        return train_jax(target, case, weights, x, y, device_names, reduction)
    if target.backend == "torch":
        from harness.conformance.targets import parallel_torch

        ranks = [_device_index(d) for d in device_names]
        if ranks != list(range(len(ranks))):
            raise ValueError(f"torch data-parallel devices are gloo ranks cpu:0..cpu:N-1, "
                             f"got {device_names}")
        final = parallel_torch.train(case, weights, x, y, len(ranks), reduction, timeout_s)
        return {"weights": final,
                "mechanism": f"{MECHANISMS['torch']}, {len(ranks)} ranks"}
    raise ValueError(f"the {target.backend} backend has one device and no data-parallel "
                     "machinery")
