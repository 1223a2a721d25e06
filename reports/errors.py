"""Error types of the stages; the CLI turns each into one line on standard error and an exit code."""

from __future__ import annotations

from typing import Any

from reports.redact import redact_text


class ReportError(Exception):
    """Something went wrong while running: the report could not be built or delivered (exit 1).

    The message is redacted as it is made (``reports.redact``): no registered secret, nothing shaped like a bot
    token and no credential in a URL, wherever the error is shown (the last line, a log, the backfill table,
    the failure notice in the chats).
    """

    exit_code = 1

    def __init__(self, *args: Any) -> None:
        super().__init__(*(redact_text(a) if isinstance(a, str) else a for a in args))


class UsageError(ReportError):
    """Bad usage or settings, found before any request is made (exit 2)."""

    exit_code = 2


class FetchError(ReportError):
    """The trading service (or another source) could not be read."""


class DeliveryError(ReportError):
    """The report could not be delivered to every chat."""
