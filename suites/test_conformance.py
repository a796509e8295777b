"""The conformance suite: one test per (case, check, backend, dtype) of the catalogue.

Run it with ``harness conform`` (which also prints the matrix and writes the JSON), or directly
with ``pytest suites/ --backend numpy [-n auto]``; the ``harness`` pytest plugin generates the
items and records every result into the store.
"""

import pytest

from harness.conformance import checks
from harness.conformance.targets import DeviceUnavailable, make_target


def test_case(harness_item, request):
    try:
        target = make_target(request.config.getoption("harness_library"),
                             harness_item.backend, request.config.getoption("harness_device"))
    except DeviceUnavailable as exc:
        pytest.skip(f"device unavailable: {exc}")
    ctx = checks.Context(harness_item.case, harness_item.check, target, harness_item.dtype)
    ctx.cache["devices"] = request.config.getoption("harness_devices")
    try:
        result = checks.run(ctx)
    finally:
        ctx.close()
    request.node.harness_result = result
    if result.outcome == "skipped":
        pytest.skip(result.message or "not applicable")
    if result.outcome == "failed":
        pytest.fail(result.message or "mismatch", pytrace=False)
