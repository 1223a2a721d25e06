"""The day so far (``report --today``, the bot's ``/today``): the label that says it is not final.

A partial report is a day's report whose day ends at the instant it was taken (:func:`~reports.numbers.closing.
partial_day`). The templates get the label as ``as_of`` in their context; where a template does not show it,
:func:`label_summary` and :func:`label_html` put it on the first line of the summary and at the top of
report.html, so a reader never takes the day so far for the day's final figures.
"""

from __future__ import annotations

import html
import re

from reports.calendar import is_partial
from reports.models import Report
from reports.presentation.fmt import fmt_local
from reports.presentation.tgtext import split_message

_BODY = re.compile(r"<body[^>]*>")
PREFIX = "⏳ The day so far, "


def partial_label(report: Report) -> str | None:
    """``as of 14:05 UTC, not final`` for the day so far; None for a day that has ended, a week or a month."""
    if report.period is not None or not is_partial(report.day):
        return None
    return f"as of {fmt_local(report.day.end, report.day.timezone, '%H:%M')} {report.day.timezone}, not final"


def label_summary(messages: tuple[str, ...], label: str) -> tuple[str, ...]:
    """The summary with ``label`` on its first line, unless the template already shows it."""
    if not messages or any(label in html.unescape(m) for m in messages):
        return messages
    first = f"<b>{html.escape(PREFIX + label, quote=False)}</b>\n\n{messages[0]}"
    return (*split_message(first), *messages[1:])  # the line may push the first part past 4,096 characters


def label_html(page: str, label: str) -> str:
    """report.html with ``label`` at the top of its body, unless the template already shows it."""
    if label in html.unescape(page):
        return page
    banner = f'\n<p class="partial"><strong>{html.escape(PREFIX + label)}</strong></p>'
    return _BODY.sub(lambda m: m.group(0) + banner, page, count=1)
