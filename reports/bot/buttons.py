"""The buttons under the bot's answers: what each one carries (``callback_data``), and a press read back.

Under a day's summary "◀ 2025-11-20" and "2025-11-22 ▶" (no forward button past the last complete day, no
backward one before the first day of the history), under a week's or a month's the previous and the next one,
under the day so far "🔄 Refresh". A button carries ``KIND:YYYY-MM-DD`` (at most 64 bytes, Telegram's limit):
``report``, ``week`` or ``month`` and the last day of the report it brings, or ``refresh`` and the day whose
summary it refreshes. A press is read like a typed command, with the same checks; anything else a client sends
(a forged value, one too long, a day that has not ended, a refresh of a day that is over) is :class:`BadPress`,
one short line for the callback's answer (Telegram shows at most 200 characters). Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from reports import calendar
from reports.bot.commands import Request

CALLBACK_MAX = 64
"""Bytes of ``callback_data`` Telegram takes."""
ANSWER_MAX = 200
"""Characters of a callback's answer Telegram shows."""
REFRESH = "🔄 Refresh"

Button = tuple[str, str]
"""A button: its text and its ``callback_data``."""
Keyboard = tuple[tuple[Button, ...], ...]
"""Rows of buttons (Telegram's ``inline_keyboard``)."""

_DATA = re.compile(r"(report|week|month|refresh):(\d{4}-\d\d-\d\d)")
FORGED = "This button is not one of this bot's: ask with a command (/help lists them)"


class BadPress(Exception):
    """A press the bot does not act on: ``str(err)`` is the short line answered to the callback."""

    def __init__(self, line: str) -> None:
        super().__init__(line[: ANSWER_MAX - 1] + "…" if len(line) > ANSWER_MAX else line)


def report_keyboard(kind: str, last: date, timezone: str, now: datetime, first: date | None) -> Keyboard:
    """The previous and next report of ``kind`` (``day``, ``week``, ``month``) around the one ending on ``last``;
    none past the last complete one, none wholly before ``first`` (the history's first day, when known)."""
    done = calendar.resolve(kind, None, timezone, now)
    period = calendar.period_of(kind, last, timezone)
    before = calendar.period_of(kind, period.first - timedelta(days=1), timezone)
    after = calendar.period_of(kind, period.last + timedelta(days=1), timezone)
    command = "report" if kind == "day" else kind
    row: list[Button] = []
    if first is None or before.last >= first:
        row.append((f"◀ {_label(kind, before.first)}", f"{command}:{before.last}"))
    if after.last <= done:
        row.append((f"{_label(kind, after.first)} ▶", f"{command}:{after.last}"))
    return (tuple(row),) if row else ()


def refresh_keyboard(day: date) -> Keyboard:
    """The day so far's button: the same summary, as of the instant it is pressed."""
    return (((REFRESH, f"refresh:{day}"),),)


def _label(kind: str, first: date) -> str:
    if kind == "day":
        return first.isoformat()
    if kind == "week":
        return f"week of {first}"
    return f"{first:%Y-%m}"


def markup_json(keyboard: Keyboard) -> dict[str, Any]:
    """The keyboard as the Bot API's ``reply_markup`` JSON."""
    return {"inline_keyboard": [[{"text": t, "callback_data": d} for t, d in row] for row in keyboard]}


def on_keyboard(data: str, markup: Any) -> bool:
    """Whether ``data`` is that of one of the buttons of ``markup`` (a message's ``reply_markup`` as JSON):
    Telegram does not check what a client sends, so a press is honoured only for a button the bot put there."""
    rows = (markup or {}).get("inline_keyboard") or []
    return any(isinstance(b, dict) and b.get("callback_data") == data for row in rows for b in row)


def read_press(data: str | None, timezone: str, now: datetime) -> Request:
    """The request a press makes (``refresh`` for the day so far's button); :class:`BadPress` otherwise."""
    if data is None or not data or len(data.encode("utf-8")) > CALLBACK_MAX:
        raise BadPress(FORGED)
    match = _DATA.fullmatch(data)
    if match is None:
        raise BadPress(FORGED)
    kind, raw = match.groups()
    try:
        day = calendar.parse_date(raw)
    except calendar.BadDate:
        raise BadPress(FORGED) from None
    if kind == "refresh":
        today = calendar.partial_day(now, timezone).date
        if day != today:
            raise BadPress(f"The day so far of {day} is over: /report {day} shows the whole day")
        return Request("refresh", day, "🔄 Refresh")
    period = "day" if kind == "report" else kind
    try:
        last = calendar.resolve(period, day, timezone, now)
    except calendar.NotEnded:
        raise BadPress(f"{raw} has not ended yet in {timezone}: this button is stale") from None
    if last != day:  # the bot's buttons carry a period's last day: anything else was made up
        raise BadPress(FORGED)
    return Request(kind, last, f"/{kind} {last} (button)")
