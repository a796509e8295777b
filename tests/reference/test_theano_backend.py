"""The Theano backend of the reference library against the NumPy backend, through its
compiled graphs and eagerly (the tests are shared with PyTensor: ``graph_backend_suite``).
Theano 1.0.5 needs NumPy < 1.24: run these in the Theano environment."""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("theano") is None:
    pytest.skip("theano is not installed", allow_module_level=True)
# the backend sets THEANO_FLAGS (no external BLAS, a per-user cache) before importing Theano,
# which cannot import on this NumPy without them
import harness.reference.backend.theano as backend_module  # noqa: E402

theano = pytest.importorskip("theano")
from graph_backend_suite import *  # noqa: E402,F403 (the shared graph-backend tests)


@pytest.fixture
def G():
    return backend_module


@pytest.fixture
def NAME():
    return "theano"


def test_inputs_broadcast_exactly_on_their_length_1_axes():
    import numpy as np

    seen = []

    def fn(x):
        seen.append(x.broadcastable)
        return backend_module.add(x, backend_module.ones((3, 4)))

    out = backend_module.compile(fn)(np.full((3, 1), 2.0, np.float32))
    assert seen == [(False, True)]
    np.testing.assert_array_equal(out, np.full((3, 4), 3.0, np.float32))
