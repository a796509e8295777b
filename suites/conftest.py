"""The suite needs nothing beyond the ``harness`` plugin, loaded by its pytest11 entry point."""
