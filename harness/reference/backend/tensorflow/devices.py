"""TensorFlow backend, devices: which devices TensorFlow sees, where tensors and ops go, and
virtual CPU devices for data-parallel tests.

``HARNESS_DEVICES=N`` (N >= 2) in the environment splits the CPU into N logical devices when
this module is imported, before TensorFlow starts its runtime (``harness conform --devices N``
sets it).
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import tensorflow as tf


class _Placement:
    """The TensorFlow device string tensors and ops are pinned to (None: TF's default)."""

    device: str | None = None


placement = _Placement()


def placed(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate an op so that it runs on the device chosen by ``set_device``."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        device = placement.device
        if device is None:
            return fn(*args, **kwargs)
        with tf.device(device):
            return fn(*args, **kwargs)

    return wrapper


@contextlib.contextmanager
def default_placement() -> Iterator[None]:
    """Within it, ops go where TensorFlow's own device scopes put them (e.g. each replica's
    device under a ``tf.distribute`` strategy) instead of the device ``set_device`` chose."""
    saved, placement.device = placement.device, None
    try:
        yield
    finally:
        placement.device = saved


def _short_name(tf_name: str) -> str:
    """'/device:GPU:1' (or '/job:.../device:GPU:1') -> 'gpu:1'."""
    kind, index = tf_name.rsplit("/", 1)[-1].split(":")[-2:]
    return f"{kind.lower()}:{index}"


def device_names() -> list[str]:
    """Devices TensorFlow sees (logical ones: virtual CPUs included), e.g. ['cpu:0', 'gpu:0']."""
    return [_short_name(d.name) for d in tf.config.list_logical_devices()]


def set_device(name: str) -> None:
    """Place tensors and ops created from now on on ``name`` ('cpu', 'gpu', 'cpu:N', 'gpu:N');
    ValueError naming the devices seen when TensorFlow has no such device."""
    if not isinstance(name, str):
        raise ValueError(f"device name must be a string, got {name!r}")
    wanted = name.strip().lower()
    if ":" not in wanted:
        wanted += ":0"
    seen = device_names()
    if wanted not in seen:
        raise ValueError(f"tensorflow has no device {name!r}; it sees {seen}")
    kind, index = wanted.split(":")
    placement.device = f"/device:{kind.upper()}:{index}"


def configure_virtual_cpus(n: int) -> list[str]:
    """Split the physical CPU into ``n`` logical CPU devices (for data-parallel tests).

    Works only before TensorFlow initialises its runtime (before the first tensor or device
    query); calling it again with the same ``n`` is harmless. Returns ``device_names()``;
    ValueError when ``n`` < 1 or the runtime already runs with another number of CPUs.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"configure_virtual_cpus needs a positive int, got {n!r}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError as exc:
        current = len(tf.config.list_logical_devices("CPU"))
        if current != n:
            raise ValueError(
                f"tensorflow is already initialised with {current} CPU device(s); call "
                "configure_virtual_cpus before creating any tensor"
            ) from exc
    return device_names()


def configure_from_environment(environ: Any = os.environ) -> None:
    """Apply ``HARNESS_DEVICES=N`` (N >= 2 virtual CPUs); a warning, not an error, when the
    value is not an int or TensorFlow already started with another count."""
    raw = str(environ.get("HARNESS_DEVICES", "")).strip()
    if not raw:
        return
    try:
        count = int(raw)
        if count >= 2:
            configure_virtual_cpus(count)
    except ValueError as exc:
        warnings.warn(f"HARNESS_DEVICES={raw!r} not applied: {exc}", RuntimeWarning, stacklevel=2)


configure_from_environment()
