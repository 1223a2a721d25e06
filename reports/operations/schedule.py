"""``report schedule``: send each day's report at ``REPORT_SCHEDULE`` (cron) in ``REPORT_TIMEZONE``.

APScheduler 3's :class:`BlockingScheduler` runs the job in the main thread (its debug executor), so at most
one run happens at a time and a signal never lands in another thread. Missed runs are coalesced into one
and run when they are at most ``grace`` seconds late. APScheduler's own ``CronTrigger`` skips a whole day
after a DST change when the zone is not UTC (agronholm/apscheduler#606, #529): :class:`ZonedCronTrigger`
matches the cron fields on the wall clock instead, so a time in a DST gap runs once (shifted by the gap,
as APScheduler does) and a time in a repeated hour runs once (its first occurrence).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from types import FrameType
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger

from reports.errors import ReportError, UsageError
from reports.operations.logs import run_context
from reports.settings import Settings, check_timezone

log = logging.getLogger("reports.operations.schedule")
DEFAULT_GRACE = 3600  # seconds a run may start late (machine asleep, process restarted) and still run
WAKE_INTERVAL = 60.0  # the scheduler looks at the wall clock at least this often (waits stop during a suspend)
_SEARCH_SPANS = (timedelta(minutes=2), timedelta(hours=2), timedelta(days=2), timedelta(days=32), timedelta(days=400))

Clock = Callable[[], datetime]
RunFn = Callable[[date], str]


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
    return fire.astimezone(zone).date() - timedelta(days=1)


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


class _Scheduler(BlockingScheduler):
    """A BlockingScheduler that looks at the clock at least every ``WAKE_INTERVAL`` seconds.

    Its waits run on the monotonic clock, which stands still while the machine is suspended; without a
    cap a run due during a suspend would only be noticed hours late, after its grace time.
    """

    wake_interval = WAKE_INTERVAL
    stop_requested = False  # set from a signal handler or another thread; acted on between runs only

    def _process_jobs(self) -> float | None:
        wait = super()._process_jobs()
        if self.stop_requested:
            # Shutting down inside a run would pull the job out of the store under APScheduler's feet.
            self.shutdown(wait=False)
            return None
        return self.wake_interval if wait is None else min(wait, self.wake_interval)


class ReportScheduler:
    """Runs ``run(report_date)`` at every fire time of ``trigger``; a failing run is logged and the next one
    comes. ``run`` returns a one-line outcome or raises. ``delivered(day)`` says whether a day needs no run."""

    def __init__(
        self,
        trigger: ZonedCronTrigger,
        run: RunFn,
        *,
        grace: float = DEFAULT_GRACE,
        delivered: Callable[[date], bool] = lambda _day: False,
        clock: Clock = _utcnow,
    ) -> None:
        self.trigger, self.run, self.grace, self.delivered, self.clock = trigger, run, grace, delivered, clock
        self.outcomes: list[tuple[date, str]] = []  # (day, "ok" | "failed" | "skipped" | "interrupted")
        self._scheduler = _Scheduler(timezone=UTC, executors={"default": DebugExecutor()})
        self._running = False
        self._stopping = False
        self._last_fire: datetime | None = None

    def start(self, *, handle_signals: bool = True) -> int:
        """Run until :meth:`stop` (or SIGTERM/SIGINT); returns the exit status (0)."""
        if self._stopping:
            return 0
        # Handlers first: a SIGTERM that arrives once "next run at" is logged must already be ours.
        previous = self._install_signals() if handle_signals else {}
        try:
            return self._start()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _start(self) -> int:
        now = self.clock()
        catch_up = catch_up_time(self.trigger, now, self.grace, self.delivered)
        self._last_fire = latest_fire(self.trigger, now)
        options: dict[str, Any] = {"next_run_time": catch_up} if catch_up else {}
        self._scheduler.add_job(
            self.job,
            self.trigger,
            id="daily-report",
            name="daily report",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, round(self.grace)),
            **options,
        )
        self._scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        logging.getLogger("apscheduler.executors").setLevel(logging.ERROR)  # _missed says it better
        zone = self.trigger.zone
        log.info("schedule %r in %s, grace %g s", self.trigger.expression, zone.key, self.grace)
        if catch_up:
            day = report_date_for(catch_up, zone)
            log.info("the run due at %s (report %s) was missed: running it now", when(catch_up, zone), day)
        else:
            self._log_next(now)
        self._scheduler.start()
        log.info("scheduler stopped")
        return 0

    @property
    def stopping(self) -> bool:
        """True once SIGTERM/SIGINT asked the scheduler to stop: a run in progress ends after its current call."""
        return self._stopping

    def stop(self) -> None:
        """Stop after the run in progress (if any) ends."""
        self._stopping = True
        self._scheduler.stop_requested = True
        if self._scheduler.running:  # before start() there is no loop to wake; start() returns at once
            self._scheduler.wakeup()

    def job(self) -> None:
        """One scheduled run: the report of the last complete day at its fire time."""
        now = self.clock()
        zone = self.trigger.zone
        fire = latest_fire(self.trigger, now) or now
        day = report_date_for(fire, zone)
        self._warn_skipped(fire)
        self._running = True
        outcome = "failed"
        try:
            with run_context(day):
                log.info("run due at %s: report for %s", when(fire, zone), day)
                if self.delivered(day):
                    outcome = "skipped"
                    log.info("report %s was already delivered to every chat: nothing to do", day)
                else:
                    outcome = self._run(day)
        finally:
            self._running = False
            self._last_fire = max(fire, self._last_fire or fire)
            self.outcomes.append((day, outcome))
            if not self._stopping:
                self._log_next(self.clock())

    def _run(self, day: date) -> str:
        try:
            summary = self.run(day)
        except ReportError as exc:
            log.error("run failed: %s", exc)
            return "failed"
        except KeyboardInterrupt:
            log.error("run abandoned by a second signal: run 'report --date %s' to finish it", day)
            return "interrupted"
        except Exception as exc:  # a bug in one run must not end the schedule
            log.error("run failed with an internal error: %s: %s", type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)
            return "failed"
        log.info("run finished: %s", summary)
        return "ok"

    def _log_next(self, now: datetime) -> None:
        upcoming = next_runs(self.trigger, now, 1)
        if upcoming:
            day = report_date_for(upcoming[0], self.trigger.zone)
            log.info("next run at %s (report %s)", when(upcoming[0], self.trigger.zone), day)

    def _warn_skipped(self, fire: datetime) -> None:
        """Coalesced fire times (asleep or down for more than a day) are days no run will report: say so."""
        if self._last_fire is None or fire <= self._last_fire:
            return
        zone = self.trigger.zone
        this_day = report_date_for(fire, zone)
        days = sorted(
            {report_date_for(m, zone) for m in fires_between(self.trigger, self._last_fire, fire)} - {this_day}
        )
        if days:
            log.warning(
                "the runs for %d earlier day(s) were missed (machine asleep or job stopped): send them with "
                "'report --from %s --to %s'",
                len(days),
                days[0],
                days[-1],
            )

    def _missed(self, event: JobExecutionEvent) -> None:
        zone = self.trigger.zone
        day = report_date_for(event.scheduled_run_time, zone)
        log.warning(
            "the run due at %s was more than %g s late and was not run: send it with 'report --date %s'",
            when(event.scheduled_run_time, zone),
            self.grace,
            day,
        )
        self._last_fire = max(event.scheduled_run_time, self._last_fire or event.scheduled_run_time)
        self._log_next(self.clock())

    def _install_signals(self) -> dict[int, Any]:
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self._stopping:
            if self._running:
                log.warning("%s again: abandoning the run in progress", name)
                raise KeyboardInterrupt
            return
        if self._running:
            log.warning("%s: stopping after the current Telegram call (send %s again to abandon the run)", name, name)
        else:
            log.info("%s: stopping", name)
        self.stop()


def run_schedule(settings: Settings, *, send: bool, output: Path | None, grace: float = DEFAULT_GRACE) -> int:
    """``report schedule``: check the schedule, then run in the foreground until SIGTERM/SIGINT."""
    from reports.operations.backfill import delivered_everywhere
    from reports.operations.scheduled import run_report

    trigger = parse_schedule(settings.schedule, settings.timezone)
    if grace <= 0:
        raise UsageError(f"--grace {grace:g}: give a positive number of seconds, e.g. --grace {DEFAULT_GRACE}")
    scheduler: ReportScheduler | None = None
    scheduler = ReportScheduler(
        trigger,
        lambda day: run_report(
            settings, day, send=send, output=output, should_stop=lambda: scheduler is not None and scheduler.stopping
        ),
        grace=grace,
        delivered=(lambda day: delivered_everywhere(settings, day)) if send else (lambda _day: False),
    )
    return scheduler.start()
