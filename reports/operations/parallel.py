"""The days of ``report --from D1 --to D2`` built side by side, one forked worker process per core.

The state chain is sequential (a day's figures start from the day before), so the main process closes the missing
days first: one :meth:`~reports.operations.history.History.prepare` of the range's last day stores every day up to
it. A worker's run of day D then finds every day before D stored and reads only D itself (and the last hour of the
day before), as a day-by-day run would: the same store, the same inputs, the same report. The workers are forked
after the heavy imports (matplotlib, the charts, jinja's templates), so each day pays for none of them.

Each day is delivered by the worker that built it, guarded by the delivery records as a day-by-day run is: a worker
killed mid-range leaves its day failed in the table (exit 1), and the same range run again skips what was delivered
and completes the rest.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import signal
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from datetime import date
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

from reports.errors import ReportError, UsageError
from reports.settings import Settings

if TYPE_CHECKING:
    from reports.operations.backfill_day import DayJob, DayResult, Progress

log = logging.getLogger("reports.operations.backfill")

DIED = "the worker process building it died ({cause}): run the same range again, days already delivered are skipped"


def cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The cores this process may use: its CPU set, capped by its cgroup's CPU quota (a container's CPU limit,
    which the CPU set does not show), at least one."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        count = os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max":
            count = min(count, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):  # no cgroup v2 here, or a line of another form: the CPU set alone
        pass
    return max(1, count)


def parse_shard(raw: str) -> tuple[int, int]:
    """``INDEX/COUNT`` (``2/8``: the third of eight shares) as two numbers; a usage error otherwise."""
    index, sep, count = raw.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {raw!r} is not INDEX/COUNT with 0 <= INDEX < COUNT, e.g. --shard 0/4")
    return i, n


def share(days: list[date], shard: tuple[int, int] | None) -> list[date]:
    """The days of one shard: every COUNT-th day from the INDEX-th, so each share spans the whole range."""
    if shard is None:
        return days
    index, count = shard
    return days[index::count]


def prime(settings: Settings, last: date, *, rebuild: bool, rebuild_from: date | None) -> None:
    """Bring the store of closed days up to ``last`` (included): the days before it read and closed one by one,
    oldest first, then ``last`` itself; ``rebuild``/``rebuild_from`` drop the stored days first. Raises as a run
    would (a :class:`~reports.errors.ReportError` for the trading service or the store)."""
    from reports.calendar import is_partial, trading_day
    from reports.operations.history import opened_history
    from reports.sources.trading_service import TradingService

    day = trading_day(last, settings.timezone)
    with (
        TradingService(settings.trading_service_url) as service,
        opened_history(settings, service, rebuild=rebuild, rebuild_from=rebuild_from) as history,
    ):
        given = history.prepare(day)
        if not is_partial(day):
            history.close(day, given)
    for warning in history.warnings:
        log.warning("%s", warning)


def warm_up(settings: Settings) -> None:
    """Import and load what every day's report uses, once, before the workers are forked."""
    import reports.presentation.charts  # noqa: F401  (matplotlib and its fonts)
    from reports.presentation.render import template_env

    env = template_env(settings.templates_dir)
    for name in env.list_templates(extensions=["j2"]):
        env.get_template(name)  # parsed and compiled once, in every worker's copy of this process


@contextmanager
def _no_chart_workers() -> Iterator[Executor | None]:
    # A worker draws its day's charts itself: the cores are already busy with the other days.
    yield None


def _build_day(day: date, job: DayJob) -> DayResult:
    """One day's run in a worker: the same as a day-by-day run's (delivery records included)."""
    from reports.logs import run_context
    from reports.operations.backfill_day import run_day
    from reports.operations.pipeline import Stages

    with run_context(day):
        return run_day(day, job, Stages(workers=_no_chart_workers))


def _child(day: date, job: DayJob, conn: Connection) -> None:
    result: DayResult | UsageError
    try:
        result = _build_day(day, job)
    except UsageError as exc:  # wrong for every day: the parent stops the range
        result = exc
    conn.send(result)
    conn.close()


def run_parallel(days: list[date], job: DayJob, workers: int, progress: Progress) -> list[DayResult]:
    """Every day of ``days``, at most ``workers`` at a time, each in a process forked for it from this warmed-up
    one; a progress line as each ends; the results oldest first.

    A process per day rather than a pool: a worker killed (for memory, say) costs its own day only, where a pool
    would be broken and its other workers stopped mid-delivery.
    """
    from reports.operations.backfill_day import DayResult

    warm_up(job.settings)
    log.info("building %d day(s) in %d worker processes", len(days), min(workers, len(days)))
    context = mp.get_context("fork")
    pending = list(days)
    running: dict[Connection, tuple[date, BaseProcess]] = {}
    results: dict[date, DayResult] = {}
    stop: UsageError | None = None
    while running or (pending and stop is None):
        while pending and stop is None and len(running) < workers:
            day = pending.pop(0)
            progress.starting(day)
            reader, writer = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(day, job, writer), name=f"report {day}", daemon=True)
            process.start()
            writer.close()  # the child holds the only writer: its end, however it comes, wakes the wait below
            running[reader] = (day, process)
        for reader in wait(list(running)):
            day, process = running.pop(reader)  # type: ignore[index]
            try:
                got: DayResult | UsageError = reader.recv()
            except (EOFError, OSError):
                process.join()
                cause = _death(process.exitcode)
                log.error("report %s: %s", day, DIED.format(cause=cause))
                got = DayResult(day, "failed", None, DIED.format(cause=cause))
            reader.close()
            process.join()
            if isinstance(got, UsageError):
                stop = got
                continue
            results[day] = got
            progress.finished(got)
    if stop is not None:
        raise stop
    return [results[d] for d in days]


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


def can_fork() -> bool:
    """Whether worker processes can be forked here (Linux and macOS; not Windows)."""
    return "fork" in mp.get_all_start_methods()


def primed(settings: Settings, last: date, *, rebuild: bool, rebuild_from: date | None) -> bool:
    """:func:`prime`, saying whether it worked: when it did not (the trading service failed on one of the days,
    say), the days run one by one instead, each failing or not on its own as a day-by-day run would."""
    from reports.sources.prometheus import load_queries

    load_queries(settings.queries_file)  # a malformed queries file is a usage error, before any request (as run())
    try:
        prime(settings, last, rebuild=rebuild, rebuild_from=rebuild_from)
    except UsageError:
        raise
    except ReportError as exc:
        log.warning("could not close the days up to %s first (%s): the days run one by one", last, exc)
        return False
    return True
