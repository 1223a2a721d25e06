"""``report --from D1 --to D2``: one report per day, oldest first, every day tried, a table at the end.

A day already delivered to every chat is skipped unless ``force``; a day that fails is recorded and the
next one runs. Progress goes to standard error: a bar redrawn in place on a terminal, plain lines otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from reports.logs import run_context, status_line
from reports.operations.backfill_day import DayJob, DayResult, Progress, run_day
from reports.settings import Settings

log = logging.getLogger("reports.operations.backfill")


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
    job = DayJob(settings, demo, send, output, force, period)
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


def _loop(days: list[date], run_day: RunDay, progress: Progress) -> list[DayResult]:
    results: list[DayResult] = []
    for day in days:
        progress.starting(day)
        with run_context(day):
            result = run_day(day)
        results.append(result)
        progress.finished(result)
    return results


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
