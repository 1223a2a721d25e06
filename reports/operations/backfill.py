"""``report --from D1 --to D2``: one report per day, oldest first, every day tried, a table at the end.

A day already delivered to every chat is skipped unless ``force``; a day that fails is recorded and the
next one runs. Progress goes to standard error: a bar redrawn in place on a terminal, plain lines otherwise.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING

from reports.delivery.record_stores import records_for
from reports.errors import DeliveryError, ReportError, UsageError
from reports.logs import StatusLine, run_context, status_line
from reports.settings import Settings

if TYPE_CHECKING:
    from reports.operations import parallel
    from reports.operations.pipeline import RunOptions, Stages

log = logging.getLogger("reports.operations.backfill")
BAR_WIDTH = 24


@dataclass(frozen=True, slots=True)
class DayResult:
    """What happened to one day of the range."""

    day: date
    outcome: str  # "sent", "written" (dry run), "skipped" (already delivered) or "failed"
    total_pnl: float | None = None
    detail: str = ""

    @property
    def failed(self) -> bool:
        """True when the day's report was not built or not delivered to every chat."""
        return self.outcome == "failed"


def days_between(first: date, last: date) -> list[date]:
    """Every date from ``first`` to ``last``, both included, oldest first."""
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def period_ends(kind: str, first: date, last: date, timezone: str) -> list[date]:
    """The last day of every week or month that holds a day from ``first`` to ``last``, oldest first."""
    from reports.calendar import period_of

    ends: list[date] = []
    d = first
    while d <= last:
        end = period_of(kind, d, timezone).last
        ends.append(end)
        d = end + timedelta(days=1)
    return ends


def delivered_everywhere(settings: Settings, day: date, kind: str = "day") -> bool:
    """True when every configured chat has a complete delivery record for ``day`` (for a week or a month, the
    one that ends on ``day``).

    An unreadable record counts as not delivered: the run then says what is wrong with it.
    """
    if not settings.telegram_chats:
        return False
    store = records_for(settings, kind)
    try:
        for chat in settings.telegram_chats:
            try:
                record = store.load(day, chat)
            except DeliveryError:
                return False
            if record is None or not record.complete:
                return False
        return True
    finally:
        store.close()


class Progress:
    """Progress over the days: a bar redrawn in place on a terminal, one plain line per day otherwise."""

    def __init__(self, total: int, stream: IO[str] | None = None, *, tty: bool | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.done = 0
        self.failed = 0
        self.line: StatusLine | None = None

    def bar(self, current: str) -> str:
        """The bar for ``done`` of ``total`` days, e.g. ``[######------] 2/5 2025-11-03``."""
        filled = round(BAR_WIDTH * self.done / self.total) if self.total else BAR_WIDTH
        failed = f", {self.failed} failed" if self.failed else ""
        return f"backfill [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {self.done}/{self.total}{failed} {current}"

    def starting(self, day: date) -> None:
        """A day's run begins."""
        if self.line is not None:
            self.line.show(self.bar(f"{day} ..."))

    def finished(self, result: DayResult) -> None:
        """A day's run ended with ``result``."""
        self.done += 1
        self.failed += result.failed
        if self.line is not None:
            self.line.show(self.bar(f"{result.day} {result.outcome}"))
        else:
            pnl = f", total P&L {result.total_pnl:+,.2f} USDT" if result.total_pnl is not None else ""
            print(f"backfill {self.done}/{self.total} {result.day}: {result.outcome}{pnl}", file=self.stream)


RunDay = Callable[[date], DayResult]


def backfill(
    first: date,
    last: date,
    settings: Settings,
    *,
    demo: bool = False,
    send: bool = True,
    output: Path | None = None,
    force: bool = False,
    rebuild: bool = False,
    rebuild_from: date | None = None,
    progress: Progress | None = None,
    period: str = "day",
    workers: int = 1,
    shard: tuple[int, int] | None = None,
) -> list[DayResult]:
    """Build (and unless a dry run, send) the report of every day from ``first`` to ``last``, oldest first.

    With ``output``, each report's artifacts go to ``output/<name>/``, named by
    :func:`~reports.operations.artifacts.artifacts_dir` (``2025-11-21``, ``2025-W47``, ``2025-11``); a day already
    delivered is built and written too, its delivery then sends nothing new. ``rebuild`` (``rebuild_from``) drops
    the stored days (from that one on) before the first day; the days after it use what that day stored. Never
    raises for one day's failure: the day's result says ``failed`` with the reason, and the next day runs.

    ``workers`` above 1 closes the missing days first, then builds the days in that many forked processes
    (:mod:`reports.operations.parallel`); ``shard`` (INDEX, COUNT) keeps every COUNT-th day from the INDEX-th
    (one pod's share of a Kubernetes Indexed Job).
    """
    from reports.operations import parallel

    days = days_between(first, last) if period == "day" else period_ends(period, first, last, settings.timezone)
    days = parallel.share(days, shard)
    progress = progress or Progress(len(days))
    job = parallel.DayJob(settings, demo, send, output, force, period)
    if not days:
        return []

    def one(day: date) -> DayResult:
        first_day = day == days[0]
        return run_day(day, job, rebuild=rebuild and first_day, rebuild_from=rebuild_from if first_day else None)

    def loop() -> list[DayResult]:
        side_by_side = workers > 1 and len(days) > 1 and parallel.can_fork()
        # The demo's days are independent (each its own embedded service and store): nothing to close first.
        if side_by_side and (demo or parallel.primed(settings, days[-1], rebuild=rebuild, rebuild_from=rebuild_from)):
            return parallel.run_parallel(days, job, workers, progress)
        return _loop(days, one, progress)

    if progress.tty:
        with status_line(progress.stream) as line:
            progress.line = line
            try:
                return loop()
            finally:
                progress.line = None
    return loop()


def run_day(
    day: date,
    job: parallel.DayJob,
    stages: Stages | None = None,
    *,
    rebuild: bool = False,
    rebuild_from: date | None = None,
) -> DayResult:
    """One day of the range, as ``report --date DAY`` would run it (a day delivered to every chat is skipped)."""
    from reports.operations.artifacts import artifacts_dir
    from reports.operations.pipeline import RunOptions

    settings, send, period, output = job.settings, job.send, job.period, job.output
    already = send and not job.force and delivered_everywhere(settings, day, period)
    if already and output is None:
        log.info("report %s was already delivered to every chat: skipped (--force sends it again)", day)
        return DayResult(day, "skipped", None, "already delivered")
    options = RunOptions(
        day,
        demo=job.demo,
        send=send,
        output=artifacts_dir(period, day, output) if output else None,
        force=job.force,
        rebuild=rebuild,
        rebuild_from=rebuild_from,
        period=period,
    )
    result = _run_one(options, settings, stages)
    if already and result.outcome == "sent":  # built and written; the delivery only edited or left it
        return DayResult(day, "skipped", result.total_pnl, f"already delivered; {result.detail}")
    return result


def _loop(days: list[date], run_day: RunDay, progress: Progress) -> list[DayResult]:
    results: list[DayResult] = []
    for day in days:
        progress.starting(day)
        with run_context(day):
            result = run_day(day)
        results.append(result)
        progress.finished(result)
    return results


def _run_one(options: RunOptions, settings: Settings, stages: Stages | None = None) -> DayResult:
    from reports.operations.pipeline import run

    day, send = options.report_date, options.send
    try:
        outcome = run(options, settings, stages=stages)
    except UsageError:  # a setting that is wrong for one day is wrong for all: stop, exit 2
        raise
    except ReportError as exc:
        log.error("report %s failed: %s", day, exc)
        return DayResult(day, "failed", None, str(exc))
    except Exception as exc:  # one day's bug must not cost the other days their reports
        log.error("report %s failed with an internal error: %s: %s", day, type(exc).__name__, exc)
        log.debug("traceback", exc_info=True)
        return DayResult(day, "failed", None, f"internal error: {type(exc).__name__}: {exc}")
    detail = f"{outcome.messages_sent} Telegram messages" if send else ""
    if outcome.output_dir is not None:
        detail = f"{detail}, artifacts in {outcome.output_dir}" if detail else f"artifacts in {outcome.output_dir}"
    return DayResult(day, "sent" if send else "written", outcome.report.totals.total_pnl, detail)


def render_table(results: list[DayResult]) -> str:
    """The final table: date, outcome, total P&L, detail; one row per day."""
    rows = [("date", "outcome", "total P&L (USDT)", "detail")]
    for r in results:
        pnl = f"{r.total_pnl:+,.2f}" if r.total_pnl is not None else "-"
        rows.append((r.day.isoformat(), r.outcome, pnl, r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip() for row in rows]
    counts = {o: sum(r.outcome == o for r in results) for o in ("sent", "written", "skipped", "failed")}
    summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    lines.append(f"{len(results)} day(s): {summary}")
    return "\n".join(lines)


def failure_summary(results: list[DayResult]) -> str | None:
    """The one error line when any day failed, else None."""
    failed = [r for r in results if r.failed]
    if not failed:
        return None
    days = ", ".join(r.day.isoformat() for r in failed)
    return (
        f"{len(failed)} of {len(results)} day(s) failed ({days}): fix the cause shown in the table and run the "
        "same range again; days already delivered are skipped"
    )
