"""The PyTensor backend of the reference library against the NumPy backend, through its
compiled graphs and eagerly (the tests are shared with Theano: ``graph_backend_suite``)."""

from __future__ import annotations

import pytest

pytensor = pytest.importorskip("pytensor")

from graph_backend_suite import *  # noqa: E402,F403 (the shared graph-backend tests)

import harness.reference.backend.pytensor as backend_module  # noqa: E402


@pytest.fixture
def G():
    return backend_module


@pytest.fixture
def NAME():
    return "pytensor"


def test_symbolic_inputs_carry_pytensor_static_shapes():
    # PyTensor's own static shape inference agrees with the shapes the backend records
    seen = []

    def fn(x):
        y = backend_module.conv(x, backend_module.ones((2, 2, 3, 4)), 2, "same")
        seen.append((x.type.shape, y.type.shape, backend_module.shape(y)))
        return y

    import numpy as np

    backend_module.compile(fn)(np.ones((1, 5, 5, 3), np.float32))
    assert seen == [((1, 5, 5, 3), (1, 3, 3, 4), (1, 3, 3, 4))]
