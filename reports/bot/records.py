"""What a build is asked (:class:`Job`) and gives back (:class:`Answer`), and the answers made of one line.

Shared by the bot's side (:mod:`reports.bot.replies`, :mod:`reports.bot.runtime`) and the build process's
(:mod:`reports.bot.jobs`, :mod:`reports.bot.answers`), which import this and not each other's records.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from reports.bot.buttons import Keyboard
from reports.delivery.outbox import Outbox


@dataclass(frozen=True, slots=True)
class Job:
    """One answer to build: ``command`` of :data:`~reports.bot.commands.BUILDS`, ``day`` the report's
    last day for report/week/month."""

    command: str
    day: date | None
    demo: bool
    run_id: str
    arg: str | None = None
    """/agent's NAME."""


@dataclass(frozen=True, slots=True)
class Answer:
    """What a build sends back: the outbox to post and a line for the log, or the one-line reason it failed."""

    outbox: Outbox | None
    outcome: str = ""
    error: str | None = None
    usage: bool = False
    """The error is the command's (a date before the history): answered like any bad input."""
    keyboard: Keyboard = ()
    """Buttons under the last message of the outbox (:mod:`reports.bot.buttons`)."""
    more: bool = False
    """A first part (the summary): the rest of the answer follows from the same build."""


def text_outbox(messages: tuple[str, ...], day: date) -> Outbox:
    """An answer of messages only."""
    return Outbox(report_date=day, messages=messages, photos=(), document=None, kind="answer")


def answer_error(answer: Answer, request_text: str, *, after_summary: bool = False) -> Answer:
    """An answer that failed: its one line as the reply (a build's failure names the command; after its summary
    went out, it says what is missing)."""
    assert answer.error is not None
    text = html.escape(answer.error, quote=False)
    if after_summary:
        text = f"⚠️ {html.escape(request_text)}: the album and report.html could not be built: {text}"
    elif not answer.usage:
        text = f"⚠️ {html.escape(request_text)}: {text}"
    return replace(answer, outbox=text_outbox((text,), datetime.now(UTC).date()))
