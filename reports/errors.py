"""Error types of the stages; the CLI turns each into one line on standard error and an exit code."""

from __future__ import annotations


class ReportError(Exception):
    """Something went wrong while running: the report could not be built or delivered (exit 1)."""

    exit_code = 1


class UsageError(ReportError):
    """Bad usage or settings, found before any request is made (exit 2)."""

    exit_code = 2


class FetchError(ReportError):
    """The trading service (or another source) could not be read."""


class DeliveryError(ReportError):
    """The report could not be delivered to every chat."""
