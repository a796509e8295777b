"""The pull-request gate: conformance regressions against a baseline and quality rules on the
code a pull request adds or changes (``harness gate``)."""

from harness.gate.command import evaluate, gate_command

__all__ = ["evaluate", "gate_command"]
