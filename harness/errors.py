"""Errors a user can cause: the CLI prints them as one line and exits 2."""


class UsageError(Exception):
    """Bad options or input: reported as ``harness: error: <message>``, exit status 2."""
