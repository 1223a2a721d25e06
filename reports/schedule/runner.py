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
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.debug import DebugExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from reports.cron import (
    ZonedCronTrigger,
    catch_up_time,
    fires_between,
    latest_fire,
    next_runs,
    parse_schedule,
    report_date_for,
    when,
)
from reports.errors import ReportError, UsageError
from reports.logs import run_context
from reports.settings import Settings

log = logging.getLogger("reports.schedule.runner")
DEFAULT_GRACE = 3600  # seconds a run may start late (machine asleep, process restarted) and still run
WAKE_INTERVAL = 60.0  # the scheduler looks at the wall clock at least this often (waits stop during a suspend)

Clock = Callable[[], datetime]
RunFn = Callable[[date], str]


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
    from reports.operations.backfill_day import delivered_everywhere
    from reports.schedule.fire import run_report

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
