"""When ``REPORT_SCHEDULE`` fires, in ``REPORT_TIMEZONE``, and which day a fire time reports.

APScheduler's own ``CronTrigger`` skips a whole day after a DST change when the zone is not UTC
(agronholm/apscheduler#606, #529): :class:`ZonedCronTrigger` matches the cron fields on the wall clock instead,
so a time in a DST gap runs once (shifted by the gap, as APScheduler does) and a time in a repeated hour runs
once (its first occurrence). Bottom level: the scheduler, ``report check`` and the bot's /status use it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from reports.calendar import yesterday
from reports.errors import UsageError
from reports.settings import check_timezone

_SEARCH_SPANS = (timedelta(minutes=2), timedelta(hours=2), timedelta(days=2), timedelta(days=32), timedelta(days=400))
_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_weekdays(field: str) -> str:
    """The weekday field of a crontab line in APScheduler 3's terms.

    Cron counts 0 (or 7) as Sunday; APScheduler 3 counts 0 as Monday, so ``1-5`` would run Tuesday to
    Saturday. Numbers, ranges and steps become day names, which mean the same to both.
    """
    out: list[str] = []
    for part in field.split(","):
        span, _, step = part.partition("/")
        if any(c.isalpha() for c in span):
            out.append(part)
            continue
        if span in ("*", "?"):
            low, high = 0, 6
        elif "-" in span:
            low, high = (int(v) for v in span.split("-", 1))
        else:
            low = int(span)
            high = 7 if step else low
        if not (0 <= low <= high <= 7) or (step and int(step) < 1):
            raise ValueError(f"weekday {part!r} is out of range (0-7, 0 and 7 are Sunday)")
        out.extend(_WEEKDAYS[n % 7] for n in range(low, high + 1, int(step or 1)))
    return ",".join(dict.fromkeys(out))


class ZonedCronTrigger(BaseTrigger):
    """A 5-field cron expression matched on the wall clock of ``zone``; fire times are returned in UTC.

    ``second`` is APScheduler's seconds field (default ``0``, as cron); tests use it to fire every second.
    """

    def __init__(self, expression: str, zone: ZoneInfo, *, second: str = "0") -> None:
        self.expression = expression
        self.zone = zone
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"got {len(fields)} fields, expected 5")
        minute, hour, day, month, weekday = fields
        # The fields are matched on naive wall-clock time dressed as UTC, where no day is 23 or 25 hours long.
        self._wall = CronTrigger(
            second=second,
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=cron_weekdays(weekday),
            timezone=UTC,
        )

    def get_next_fire_time(self, previous_fire_time: datetime | None, now: datetime) -> datetime | None:
        """APScheduler's interface: the first fire time at or after ``now`` and after ``previous_fire_time``."""
        start = now.astimezone(UTC)
        if previous_fire_time is not None:
            start = max(start, previous_fire_time.astimezone(UTC) + timedelta(microseconds=1))
        return self.next_at_or_after(start)

    def next_at_or_after(self, moment: datetime) -> datetime | None:
        """The first fire time (UTC) at or after ``moment``."""
        moment = moment.astimezone(UTC)
        # fold must not leak from a moment in the repeated hour into the wall-clock candidates.
        probe = moment.astimezone(self.zone).replace(tzinfo=None, fold=0)
        for _ in range(1000):
            wall = self._wall.get_next_fire_time(None, probe.replace(tzinfo=UTC))
            if wall is None:
                return None
            naive = wall.replace(tzinfo=None, fold=0)
            # fold=0: a repeated wall time means its first occurrence; a time in a gap maps past the gap.
            instant = naive.replace(tzinfo=self.zone).astimezone(UTC)
            if instant >= moment:
                return instant
            probe = naive + timedelta(microseconds=1)
        return None

    def __str__(self) -> str:
        return f"cron[{self.expression!r} in {self.zone.key}]"

    def __repr__(self) -> str:
        return f"<ZonedCronTrigger {self.expression!r} {self.zone.key}>"


def parse_schedule(expression: str, timezone: str) -> ZonedCronTrigger:
    """The trigger of ``REPORT_SCHEDULE`` in ``REPORT_TIMEZONE``, or :class:`UsageError` saying what is wrong."""
    zone = check_timezone(timezone)
    try:
        return ZonedCronTrigger(expression, zone)
    except ValueError as exc:
        raise UsageError(
            f"REPORT_SCHEDULE={expression!r} is not a valid cron expression ({exc}): use 5 fields, "
            "minute hour day month weekday, e.g. '5 0 * * *'"
        ) from None


def next_runs(trigger: ZonedCronTrigger, now: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` fire times after ``now``, in UTC."""
    out: list[datetime] = []
    moment = now
    while len(out) < count:
        fire = trigger.get_next_fire_time(out[-1] if out else None, moment)
        if fire is None:
            break
        out.append(fire)
        moment = fire
    return out


def latest_fire(trigger: ZonedCronTrigger, now: datetime) -> datetime | None:
    """The last fire time at or before ``now`` (within about a year), in UTC."""
    now = now.astimezone(UTC)
    for span in _SEARCH_SPANS:
        fire = trigger.next_at_or_after(now - span)
        if fire is None or fire > now:
            continue
        while True:
            following = trigger.next_at_or_after(fire + timedelta(microseconds=1))
            if following is None or following > now:
                return fire
            fire = following
    return None


def fires_between(trigger: ZonedCronTrigger, after: datetime, before: datetime, limit: int = 400) -> list[datetime]:
    """Fire times strictly between ``after`` and ``before`` (at most ``limit``)."""
    out: list[datetime] = []
    fire = trigger.next_at_or_after(after + timedelta(microseconds=1))
    while fire is not None and fire < before and len(out) < limit:
        out.append(fire)
        fire = trigger.next_at_or_after(fire + timedelta(microseconds=1))
    return out


def report_date_for(fire: datetime, zone: tzinfo) -> date:
    """The day a run due at ``fire`` reports: the last one complete at that moment in ``zone``."""
    return yesterday(str(zone), fire)


def catch_up_time(
    trigger: ZonedCronTrigger, now: datetime, grace: float, delivered: Callable[[date], bool]
) -> datetime | None:
    """At start: the fire time to run at once, if the last one is at most ``grace`` seconds old and its day
    was not delivered yet (the process was down at that time); else ``None``."""
    fire = latest_fire(trigger, now)
    if fire is None or (now - fire).total_seconds() > grace:
        return None
    return None if delivered(report_date_for(fire, trigger.zone)) else fire


def when(moment: datetime, zone: tzinfo) -> str:
    """A fire time as an operator reads it: local time with the zone's abbreviation."""
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"
