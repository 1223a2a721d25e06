"""Logs an operator can use: text on a terminal, one JSON object per line for a log collector.

Every line carries the report date and a run id (set with :func:`run_context`; ``None`` outside a run).
The handler installed here passes the message, its arguments and any traceback through the one scrubber,
:func:`reports.redact.redact_text`, at every level, library lines included: no registered secret (the tokens,
the credentials of the URL settings), nothing shaped like a bot token and no credential in a URL reaches a log.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, date, datetime
from typing import IO, Any

from reports.redact import redact_text

_REPORT_DATE: ContextVar[str | None] = ContextVar("report_date", default=None)
_RUN_ID: ContextVar[str | None] = ContextVar("run_id", default=None)
# Libraries whose INFO lines are noise, and whose request lines hold the bot token in the URL.
_NOISY = ("httpx", "httpcore", "telegram", "apscheduler", "matplotlib", "PIL")
_MARK = "_reports_handler"
_state: dict[str, Any] = {"format": "text"}


def new_run_id() -> str:
    """A short random id that tells one run's lines from another's."""
    return uuid.uuid4().hex[:12]


@contextlib.contextmanager
def run_context(report_date: date | None, run_id: str | None = None) -> Iterator[str]:
    """Tag every log line inside the block with ``report_date`` and a run id (returned)."""
    rid = run_id or new_run_id()
    date_token = _REPORT_DATE.set(report_date.isoformat() if report_date else None)
    run_token = _RUN_ID.set(rid)
    try:
        yield rid
    finally:
        _REPORT_DATE.reset(date_token)
        _RUN_ID.reset(run_token)


def current_context() -> tuple[str | None, str | None]:
    """``(report_date, run_id)`` of the run in progress in this context."""
    return _REPORT_DATE.get(), _RUN_ID.get()


class ContextFilter(logging.Filter):
    """Adds ``report_date`` and ``run_id`` from the current context to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        report_date, run_id = current_context()
        if not hasattr(record, "report_date"):
            record.report_date = report_date
        if not hasattr(record, "run_id"):
            record.run_id = run_id
        return True


class SecretFilter(logging.Filter):
    """Scrubs the message, its arguments and its traceback (:func:`~reports.redact.redact_text`) before any
    formatter sees them. On a handler, or on a library's logger so that every handler gets the record scrubbed."""

    def __init__(self) -> None:
        super().__init__()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact_text(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, report_date, run_id (and exc when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "report_date": getattr(record, "report_date", None),
            "run_id": getattr(record, "run_id", None),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        return json.dumps(doc, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2025-11-22 00:05:01 INFO [2025-11-21 3fa2c1d09e4b] message`` (the bracket only inside a run)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(context)s%(message)s", datefmt="%Y-%m-%d %H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        parts = [p for p in (getattr(record, "report_date", None), getattr(record, "run_id", None)) if p]
        record.context = f"[{' '.join(parts)}] " if parts else ""
        return super().format(record)


class StatusLine:
    """One line kept at the bottom of a terminal (the backfill's progress bar); log lines print above it."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.text = ""
        self.lock = threading.RLock()

    def show(self, text: str) -> None:
        """Replace the status line with ``text``."""
        with self.lock:
            self.text = text
            self.stream.write("\r\033[K" + text)
            self.stream.flush()

    def erase(self) -> None:
        """Clear the line on screen (the text is kept for :meth:`redraw`)."""
        if self.text:
            self.stream.write("\r\033[K")

    def redraw(self) -> None:
        """Draw the kept text again after a log line."""
        if self.text:
            self.stream.write(self.text)
            self.stream.flush()

    def close(self) -> None:
        """End the status line: leave it on screen and move to a new line."""
        with self.lock:
            if self.text:
                self.stream.write("\n")
                self.stream.flush()
            self.text = ""


_status: list[StatusLine] = []


@contextlib.contextmanager
def status_line(stream: IO[str]) -> Iterator[StatusLine]:
    """A :class:`StatusLine` on ``stream`` that the log handler keeps below its lines while the block runs."""
    line = StatusLine(stream)
    _status.append(line)
    try:
        yield line
    finally:
        line.close()
        _status.remove(line)


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that writes above an active status line on the same stream."""

    def emit(self, record: logging.LogRecord) -> None:
        active = next((s for s in _status if s.stream is self.stream), None)
        if active is None:
            super().emit(record)
            return
        with active.lock:
            active.erase()
            super().emit(record)
            active.redraw()

    def format(self, record: logging.LogRecord) -> str:
        # Last line of defence: whatever a formatter added (a traceback, an extra) is scrubbed too.
        return redact_text(super().format(record))


def setup_logging(*, fmt: str = "text", verbose: bool = False, stream: IO[str] | None = None) -> logging.Handler:
    """Send the root logger to ``stream`` (standard error) as text or JSON lines; returns the handler.

    Replaces a handler installed by an earlier call. Every line is scrubbed of the secrets registered with
    :func:`reports.redact.register` (the settings register theirs as they are made).
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    handler = _Handler(stream if stream is not None else sys.stderr)
    setattr(handler, _MARK, True)
    handler.addFilter(ContextFilter())
    handler.addFilter(SecretFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    _state["format"] = fmt
    return handler


def failure_line(text: str) -> None:
    """The one line a failed command ends with: plain on standard error, or a JSON error record in JSON mode.

    Scrubbed like a log line: no secret, no credentials in a URL.
    """
    text = redact_text(text)
    if _state["format"] == "json":
        logging.getLogger("reports").error("%s", text)
    else:
        print(text, file=sys.stderr)
