"""One report run: fetch -> compute -> render -> deliver, each stage a call into its own module."""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reports import report_json
from reports.compute import build_report, trading_day
from reports.errors import ReportError
from reports.models import FetchResult, Report, TradingDay
from reports.outbox import Attachment, Outbox
from reports.settings import Settings

if TYPE_CHECKING:
    from reports.fetch import TradingService

log = logging.getLogger("reports")


@dataclass(frozen=True)
class RunOptions:
    """What one run is asked to do."""

    report_date: date
    demo: bool = False
    send: bool = True
    output: Path | None = None
    force: bool = False
    rebuild: bool = False
    should_stop: Callable[[], bool] | None = None
    """Asked before each Telegram call (the scheduler's SIGTERM): yes ends the run there, all recorded."""


@dataclass(frozen=True)
class RunOutcome:
    """What one run did."""

    report: Report
    output_dir: Path | None
    messages_sent: int = 0
    warnings: tuple[str, ...] = ()


Clock = Callable[[], datetime]


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Log how long a stage took (``stage fetch 1.234s``, at debug level: shown with --verbose)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        log.debug("stage %s %.3fs", name, time.perf_counter() - started)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def fetch(settings: Settings, day: TradingDay, *, demo: bool, rebuild: bool = False) -> FetchResult:
    """The fetch stage: every fill before the end of ``day``, from the demo or the trading service."""
    if demo:
        from reports.demo import demo_fills

        return demo_fills(day)
    from reports.fetch import TradingService

    with TradingService(settings.trading_service_url) as service:
        result = _fetch_cached(service, settings, day, rebuild=rebuild)
        return dataclasses.replace(result, agents=service.agents())


def _fetch_cached(service: TradingService, settings: Settings, day: TradingDay, *, rebuild: bool) -> FetchResult:
    """Read only what the cache of closed days does not hold, checking the overlap; else read everything."""
    from reports import cache

    path = cache.cache_path(settings.state_dir, settings.trading_service_url)
    warnings: list[str] = []
    cached = None
    if not rebuild:
        try:
            cached = cache.load(path)
        except ValueError as exc:
            warnings.append(f"{exc}: the history was read again in full")
    result = None
    if cached is not None:
        verify_from = min(cached.until, day.start) - cache.OVERLAP
        recent = service.fills(end=day.end, start=verify_from)
        overlap_end = min(cached.until, day.end)
        if cache.same_fills(cached.fills.since(verify_from).before(overlap_end), recent.fills.before(overlap_end)):
            log.debug("cache hit: %d cached fills, %d read", len(cached.fills), len(recent.fills))
            fills = cached.fills.before(verify_from).then(recent.fills)
            result = FetchResult(fills=fills, warnings=recent.warnings)
        else:
            warnings.append(
                f"the trading service's fills from {verify_from.date()} differ from the cached copy: "
                "the history was read again in full"
            )
    full_read = result is None
    if result is None:
        result = service.fills(end=day.end)
    # The report day has ended, so every fill before its end is closed history worth keeping.
    if full_read or (cached is not None and day.end > cached.until):
        try:
            cache.save(path, result.fills, day.end)
        except OSError as exc:
            warnings.append(f"could not write the fill cache in {path.parent} ({exc.strerror}): next run reads all")
    return dataclasses.replace(result, warnings=(*warnings, *result.warnings))


def build(settings: Settings, day: TradingDay, *, demo: bool, rebuild: bool = False, clock: Clock = _utcnow) -> Report:
    """Fetch and compute the report of ``day``, with its operations and reconciliation."""
    with stage("fetch"):
        fetched = fetch(settings, day, demo=demo, rebuild=rebuild)
    log.info("fetched %d fills", len(fetched.fills))
    with stage("engine"):
        report = build_report(
            fetched.fills,
            day,
            settings.capital,
            generated_at=clock(),
            agent_info=fetched.agents,
            warnings=fetched.warnings,
            daily_pnl_target=settings.daily_pnl_target,
            target_win_rate=settings.target_win_rate,
        )
    report = dataclasses.replace(report, fills_read=len(fetched.fills), max_drawdown_limit=settings.max_drawdown_limit)
    return _with_sources(report, settings, demo=demo)


def _with_sources(report: Report, settings: Settings, *, demo: bool) -> Report:
    """Attach the Prometheus operations block and the reconciliation with the exchange."""
    from reports.models import Sources

    warnings = list(report.warnings)
    if demo:
        from reports.demo_ops import demo_operations

        # The demo has its own Prometheus side but no exchange ledger: nothing is reconciled.
        operations, prometheus = demo_operations(report), "ok"
        reconciliation = "not configured"
    else:
        from reports.prometheus import fetch_operations
        from reports.reconcile import reconcile

        operations, prometheus, prom_warnings = fetch_operations(settings, report.day)
        warnings.extend(prom_warnings)
        reconciliation, rec_warnings = reconcile(settings, report.day, report.totals.realized_pnl, report.totals.fees)
        warnings.extend(rec_warnings)
    return dataclasses.replace(
        report,
        operations=operations,
        sources=Sources(trading_service="ok", prometheus=prometheus, reconciliation=reconciliation),
        warnings=tuple(warnings),
    )


@contextmanager
def chart_workers() -> Iterator[Executor | None]:
    """Two processes that import matplotlib while this one fetches and computes, then draw the charts.

    Only where it is safe and pays: more than one core, and no other thread in this process (a fork
    copies only the calling thread, and a lock held by another one would stay locked in the child).
    """
    if (os.cpu_count() or 1) < 2 or threading.active_count() > 1 or "fork" not in mp.get_all_start_methods():
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("fork"), initializer=_import_charts)
    pool.submit(int)  # forks the workers now, so their imports overlap with the fetch
    try:
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)


MAX_CHARTS = 8
"""More than the charts there are: the album positions handed out to the workers."""


def _import_charts() -> None:
    import reports.charts  # noqa: F401


def _chart_share(report: Report, part: int, parts: int) -> list:
    from reports.charts import chart_share

    return chart_share(report, part, parts)


def draw_charts(report: Report, pool: Executor | None = None) -> list:
    """The report's charts, drawn by ``pool``'s workers when given (this process then never loads matplotlib)."""
    if pool is None:
        from reports.charts import render_charts

        return render_charts(report)
    # One chart a job, so a free worker takes the next; a share of a position past the last chart is empty.
    jobs = [pool.submit(_chart_share, report, position, MAX_CHARTS) for position in range(MAX_CHARTS)]
    return [chart for job in jobs for _, chart in job.result()]


def render(report: Report, settings: Settings, pool: Executor | None = None) -> tuple[Outbox, str]:
    """Charts, the HTML report and the Telegram summary; returns the outbox and report.html's text."""
    from reports.render import render_html, render_summary

    with stage("charts"):
        charts = draw_charts(report, pool)
    with stage("render"):
        html = render_html(report, charts, settings.templates_dir)
        messages = render_summary(report, settings.templates_dir)
    outbox = Outbox(
        report_date=report.day.date,
        messages=messages,
        photos=tuple(Attachment(c.filename, c.png, c.caption) for c in charts),
        document=Attachment("report.html", html.encode("utf-8"), f"Full report {report.day.date.isoformat()}"),
    )
    return outbox, html


def write_artifacts(report: Report, outbox: Outbox, settings: Settings, directory: Path) -> None:
    """Write report.json, report.html, the charts and telegram/ (CONTRACT 4) into ``directory``."""
    from reports.deliver import write_call_artifacts

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(report_json.dumps(report), encoding="utf-8")
    if outbox.document is not None:
        (directory / outbox.document.filename).write_bytes(outbox.document.data)
    for photo in outbox.photos:
        (directory / photo.filename).write_bytes(photo.data)
    write_call_artifacts(outbox, settings.telegram_chats, directory / "telegram")


def run(options: RunOptions, settings: Settings, *, clock: Clock = _utcnow) -> RunOutcome:
    """Build, write and (unless a dry run) deliver one day's report; push the job's metrics either way."""
    started = time.time()
    if not options.demo:
        from reports.prometheus import load_queries

        load_queries(settings.queries_file)  # a malformed queries file is a usage error, before any request
    day = trading_day(options.report_date, settings.timezone)
    output = options.output
    if output is None and not options.send:
        output = Path("out") / options.report_date.isoformat()
    fills = 0
    sent = 0
    success = False
    try:
        try:
            with chart_workers() as pool:
                report = build(settings, day, demo=options.demo, rebuild=options.rebuild, clock=clock)
                fills = report.fills_read
                outbox, _ = render(report, settings, pool)
        except Exception as exc:
            if options.send:
                from reports.deliver import send_failure_notice

                reason = str(exc) if isinstance(exc, ReportError) else f"internal error ({type(exc).__name__})"
                send_failure_notice(settings, options.report_date, reason)
            raise
        if output is not None:
            write_artifacts(report, outbox, settings, output)
            log.info("artifacts written to %s", output)
        warnings: tuple[str, ...] = ()
        if options.send:
            from reports.deliver import deliver

            result = deliver(outbox, settings, force=options.force, log=log, should_stop=options.should_stop)
            sent = result.messages_sent
            warnings = tuple(result.warnings)
        success = True
        return RunOutcome(report=report, output_dir=output, messages_sent=sent, warnings=warnings)
    finally:
        if settings.pushgateway_url:
            from reports.jobmetrics import push_job_metrics

            problem = push_job_metrics(
                settings.pushgateway_url,
                success=success,
                started=started,
                finished=time.time(),
                fills=fills,
                messages=sent,
                report_date=options.report_date,
            )
            if problem:
                log.warning("%s", problem)
