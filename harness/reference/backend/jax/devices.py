"""JAX backend, devices: which devices JAX sees and where new tensors are placed.

``set_device`` makes a device JAX's default device (``jax_default_device``), so tensors created
from then on live there. Several CPU devices exist only when
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` is set in the environment before JAX
initialises its CPU backend (its first op or device query); JAX cannot add devices later.
"""

from __future__ import annotations

import re
from typing import Any

import jax

_PLATFORMS = ("cpu", "gpu", "tpu")
_DEVICE_NAME = re.compile(r"^(cpu|gpu|tpu)(?::(\d+))?$")


def _devices() -> dict[str, Any]:
    """Every device JAX sees, by interface name (``'cpu:0'``, ``'gpu:1'``, ...)."""
    found: dict[str, Any] = {}
    for platform in _PLATFORMS:
        try:
            devices = jax.devices(platform)
        except RuntimeError:  # JAX raises when no backend of that platform is installed
            continue
        found.update({f"{platform}:{i}": d for i, d in enumerate(devices)})
    return found


def device_names() -> list[str]:
    """Devices this backend sees, e.g. ``['cpu:0', 'gpu:0']``; several CPU devices when
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` was set before JAX started."""
    return list(_devices())


def set_device(name: str) -> None:
    """Place tensors created from now on on device ``name`` ('cpu', 'gpu', 'gpu:N', 'cpu:N')
    by making it JAX's default device; ValueError naming the devices seen when it is absent."""
    match = _DEVICE_NAME.match(name.strip().lower()) if isinstance(name, str) else None
    devices = _devices()
    key = f"{match.group(1)}:{match.group(2) or 0}" if match else None
    if key not in devices:
        raise ValueError(f"jax has no device {name!r}; it sees {list(devices)}")
    jax.config.update("jax_default_device", devices[key])
