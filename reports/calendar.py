"""The calendar of the reports: trading days, the day so far, weeks and months, in the report's time zone.

Bottom level: it imports nothing of the project. A trading day runs from 00:00 of its date in the zone
(included) to 00:00 of the next date (excluded): 23 or 25 hours on a DST change. A week is Monday to Sunday,
a month the calendar month. Both front ends (the command line, the bot) resolve dates and periods here and
word their own errors from the exceptions below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PERIOD_KINDS = ("day", "week", "month")
"""The periods a report covers (``--period``, the bot's /report, /week and /month)."""
ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}
"""``daily report``, ``weekly report``, ``monthly report``."""
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class TradingDay:
    """One trading day in a zone: ``start`` included, ``end`` excluded (23 or 25 hours on a DST change).

    The day so far (:func:`partial_day`) has the same date and start and ends at the instant it was taken.
    """

    date: date
    timezone: str
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Period:
    """The days a report covers: ``kind`` is ``day``, ``week`` or ``month``; ``start``/``end`` in UTC."""

    kind: str
    first: date
    last: date
    start: datetime
    end: datetime


class BadDate(ValueError):
    """Not a ``YYYY-MM-DD`` date (``malformed``), or not a date of the calendar (2025-02-30)."""

    def __init__(self, raw: str, *, malformed: bool) -> None:
        super().__init__(raw)
        self.raw, self.malformed = raw, malformed


class NotEnded(ValueError):
    """The period asked for has not ended yet in the zone; ``latest`` is the latest one that has."""

    def __init__(self, asked: Period, latest: Period) -> None:
        super().__init__(f"{asked.first}..{asked.last}")
        self.asked, self.latest = asked, latest


def trading_day(day: date, timezone: str) -> TradingDay:
    """The trading day ``day`` in ``timezone``: from its midnight (included) to the next one (excluded)."""
    zone = ZoneInfo(timezone)
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)
    return TradingDay(date=day, timezone=timezone, start=start, end=end)


def partial_day(now: datetime, timezone: str) -> TradingDay:
    """The trading day in progress at ``now`` in ``timezone``, cut at ``now``: its report is the day so far.

    Its ``end`` is ``now`` (excluded, like a day's end): fills before it count, marks are the last fills before
    it. A partial day is never stored as a closed day (:func:`is_partial`).
    """
    now = now.astimezone(UTC)
    whole = trading_day(now.astimezone(ZoneInfo(timezone)).date(), timezone)
    return TradingDay(date=whole.date, timezone=timezone, start=whole.start, end=now)


def is_partial(day: TradingDay) -> bool:
    """True for a day cut before its end (:func:`partial_day`): the day so far, not final."""
    return day.end != trading_day(day.date, day.timezone).end


def yesterday(timezone: str, now: datetime | None = None) -> date:
    """The last trading day that has ended at ``now`` (default: the clock) in ``timezone``."""
    zone = ZoneInfo(timezone)
    current = now.astimezone(zone) if now is not None else datetime.now(zone)
    return current.date() - timedelta(days=1)


def period_of(kind: str, day: date, timezone: str) -> Period:
    """The period of ``kind`` that contains ``day``."""
    if kind == "day":
        first = last = day
    elif kind == "week":
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=6)
    elif kind == "month":
        first = day.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    else:
        raise ValueError(f"unknown period {kind!r}")
    return Period(kind, first, last, trading_day(first, timezone).start, trading_day(last, timezone).end)


def last_complete(kind: str, today: date, timezone: str) -> Period:
    """The latest period of ``kind`` that has ended by the start of ``today``."""
    return period_of(kind, period_of(kind, today, timezone).first - timedelta(days=1), timezone)


def ends_period(kind: str, day: date) -> bool:
    """True when ``day`` is the last day of its period of ``kind`` (every day ends a day)."""
    return {"day": True, "week": day.weekday() == 6, "month": (day + timedelta(days=1)).day == 1}[kind]


def parse_date(raw: str) -> date:
    """A ``YYYY-MM-DD`` date, or :class:`BadDate`."""
    if not _DATE.fullmatch(raw):
        raise BadDate(raw, malformed=True)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadDate(raw, malformed=False) from None


def resolve(kind: str, day: date | None, timezone: str, now: datetime | None = None) -> date:
    """The last day of the report asked for: ``day`` itself, or the last day of its week or month.

    Without ``day``, the last complete period of ``kind``; a period that has not ended raises :class:`NotEnded`.
    """
    latest = yesterday(timezone, now)
    done = last_complete(kind, latest + timedelta(days=1), timezone)
    if day is None:
        return done.last
    asked = period_of(kind, day, timezone)
    if asked.last > latest:
        raise NotEnded(asked, done)
    return asked.last
