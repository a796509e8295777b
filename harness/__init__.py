"""dl-harness: cross-backend conformance and architecture-quality harness."""

__version__ = "0.1.0"
