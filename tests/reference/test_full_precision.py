"""Importing a GPU-capable backend turns TF32 off, so float32 matmuls and convolutions on
Ampere+ GPUs keep a full 23-bit mantissa and meet the float32 oracle tolerance.

Each test runs in the environment that has its framework (``/work/venvs/<name>``) and is
skipped elsewhere. No GPU is needed: the flags are process settings, readable on a CPU.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest


def test_torch_backend_turns_tf32_off():
    torch = pytest.importorskip("torch")
    importlib.import_module("harness.reference.backend.torch")
    assert torch.backends.cuda.matmul.allow_tf32 is False
    assert torch.backends.cudnn.allow_tf32 is False
    assert torch.get_float32_matmul_precision() == "highest"


def test_tensorflow_backend_turns_tf32_off():
    tf = pytest.importorskip("tensorflow")
    importlib.import_module("harness.reference.backend.tensorflow")
    assert tf.config.experimental.tensor_float_32_execution_enabled() is False


def test_jax_backend_asks_for_highest_matmul_precision():
    jax = pytest.importorskip("jax")
    backend = importlib.import_module("harness.reference.backend.jax")
    assert jax.config.jax_default_matmul_precision == "highest"
    # a float32 product whose terms need the full mantissa: 1 + 2**-20 is lost in TF32
    a = np.full((1, 8), 1 + 2.0 ** -20, np.float32)
    b = np.ones((8, 1), np.float32)
    got = backend.to_numpy(backend.compile(backend.matmul)(a, b))
    assert got.dtype == np.float32 and got[0, 0] == np.float32(8 * (1 + 2.0 ** -20))
