"""The conformance suite: one test per (case, backend, dtype) of the catalogue.

Each test runs every check of its case and records each as its own result
(``case::check::backend::dtype``); ``-k`` selects checks as if each were its own test. Run it
with ``harness conform`` (which also prints the matrix and writes the JSON), or directly with
``pytest suites/ --backend numpy [-n auto]``; the ``harness`` pytest plugin generates the items
and records every result into the store.
"""

from harness.conformance.plugin import run_item


def test_case(harness_item, request):
    run_item(request.node, harness_item)
