"""Fixtures of the report tests (defined in report_stores, a name no other test folder uses)."""

from report_stores import analysed, two_stores  # noqa: F401
