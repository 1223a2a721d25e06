"""One report run: fetch -> compute -> render -> deliver, each stage a call into its own module."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reports.calendar import ADJECTIVE, TradingDay, trading_day
from reports.closed_days import ClosedDay
from reports.delivery.outbox import Attachment, Outbox
from reports.errors import ReportError
from reports.models import Report
from reports.presentation import report_json
from reports.presentation.workers import chart_workers, draw_charts
from reports.settings import Settings

if TYPE_CHECKING:
    from reports.sources.trading_service import TradingService

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
    rebuild_from: date | None = None
    """Forget the stored days from this one on: they are read again from the trading service."""
    period: str = "day"
    """``day``, ``week`` or ``month``; for a week or a month, ``report_date`` is its last day."""
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


def build(
    settings: Settings,
    day: TradingDay,
    *,
    demo: bool,
    rebuild: bool = False,
    rebuild_from: date | None = None,
    clock: Clock = _utcnow,
    period: str = "day",
) -> Report:
    """Fetch and compute the report of ``day`` (or of the week or month that ends on it), with its operations and
    reconciliation."""
    with _sources(settings, day, demo=demo) as (settings, service):
        report, read, closed = _build_from_store(
            settings, service, day, rebuild=rebuild, rebuild_from=rebuild_from, clock=clock
        )
        if period != "day":
            report = _period(report, closed, period)
        report = dataclasses.replace(report, fills_read=read)
        return with_sources(report, settings, demo=demo)


def _period(last_day: Report, closed: list[ClosedDay], kind: str) -> Report:
    from reports.calendar import period_of
    from reports.numbers.periods import period_report

    period = period_of(kind, last_day.day.date, last_day.day.timezone)
    return period_report(last_day, closed, period)


@contextmanager
def _sources(settings: Settings, day: TradingDay, *, demo: bool) -> Iterator[tuple[Settings, TradingService]]:
    """The trading service to read, and the settings to read it with.

    The demo is a data source like any other: an embedded trading service (and Prometheus, see
    :func:`with_sources`) that the production path reads, with the store of closed days in a temporary folder
    (its history is the 45 days up to the report date, so a stored day would not fit another date's window).
    """
    from reports.sources.trading_service import TradingService

    if not demo:
        with TradingService(settings.trading_service_url) as service:
            yield settings, service
        return
    import tempfile

    from reports.sources.demo_service import PROMETHEUS_URL, TRADING_URL, DemoTradingService

    with tempfile.TemporaryDirectory(prefix="report-demo-") as state:
        shown = dataclasses.replace(
            settings,
            trading_service_url=TRADING_URL,
            prometheus_url=PROMETHEUS_URL,
            admin_api_token=None,
            state_dir=Path(state),
            state_url=None,  # the demo never touches the state database
            queries_file=None,
        )
        with TradingService(TRADING_URL, transport=DemoTradingService(day)) as service:
            yield shown, service


def _build_from_store(
    settings: Settings,
    service: TradingService,
    day: TradingDay,
    *,
    rebuild: bool,
    rebuild_from: date | None,
    clock: Clock,
) -> tuple[Report, int, list[ClosedDay]]:
    """The report from the store of closed days and the fills the store does not hold yet."""
    from reports.calendar import is_partial
    from reports.numbers.closing import build_report_from
    from reports.numbers.compute import RunInputs
    from reports.operations.history import opened_history

    with opened_history(settings, service, rebuild=rebuild, rebuild_from=rebuild_from) as history:
        with stage("fetch"):
            given = history.prepare(day)
        log.info("fetched %d fills (%d for %s)", given.fills_read, len(given.fills), day.date)
        # The day so far (report --today, /today) is never stored: only a day that has ended is closed.
        closed, replay, note = (None, None, None) if is_partial(day) else history.close(day, given)
        with stage("engine"):
            inputs = RunInputs(
                generated_at=clock(),
                agent_info=service.agents(),
                warnings=(*given.warnings, *([note] if note else [])),
                targets=settings.targets,
                agents=settings.agents,
                benchmark=settings.benchmark_symbol,
            )
            report, _, _ = build_report_from(
                given.past,
                given.fills,
                given.start,
                day,
                settings.capital,
                inputs,
                funding=given.funding,
                marks=[d.state.marks for d in given.closed],
                replay=replay,
            )
    return report, given.fills_read, [*given.closed, *([closed] if closed else [])]


def with_sources(report: Report, settings: Settings, *, demo: bool) -> Report:
    """Attach the Prometheus operations block and the reconciliation with the exchange."""
    from reports.models import Sources
    from reports.sources.prometheus import fetch_operations
    from reports.sources.reconcile import reconcile

    warnings = list(report.warnings)
    # A week or a month: Prometheus' increases and the exchange's ledger over the whole period.
    span = report.day
    if report.period is not None:
        span = TradingDay(report.day.date, report.day.timezone, report.period.period.start, report.period.period.end)
    client = None
    if demo:
        import httpx

        from reports.sources.demo_ops import demo_operations
        from reports.sources.demo_service import DemoPrometheus

        # The demo's Prometheus answers the Operations queries with series consistent with the demo's P&L.
        client = httpx.Client(transport=DemoPrometheus(span, demo_operations(report)))
    try:
        operations, prometheus, prom_warnings = fetch_operations(settings, span, client=client)
    finally:
        if client is not None:
            client.close()
    warnings.extend(prom_warnings)
    totals = report.totals
    reconciliation, rec_warnings = reconcile(settings, span, totals.realized_pnl, totals.fees, totals.funding_pnl)
    warnings.extend(rec_warnings)
    return dataclasses.replace(
        report,
        operations=operations,
        sources=Sources(
            trading_service="ok",
            prometheus=prometheus,
            reconciliation=reconciliation,
            funding="unavailable" if totals.funding_pnl is None else "ok",
        ),
        warnings=tuple(warnings),
    )


def render(report: Report, settings: Settings, pool: Executor | None = None) -> tuple[Outbox, str]:
    """Charts, the HTML report and the Telegram summary; returns the outbox and report.html's text."""
    from reports.presentation.render import render_html, render_summary

    with stage("charts"):
        charts = draw_charts(report, pool)
    with stage("render"):
        html = render_html(report, charts, settings.templates_dir)
        messages = render_summary(report, settings.templates_dir)
    kind = report.period.period.kind if report.period else "day"
    title = f"Full report {report.day.date.isoformat()}"
    if report.period:
        first, last = report.period.period.first.isoformat(), report.day.date.isoformat()
        title = f"Full {ADJECTIVE[kind]} report {first} – {last}"
    outbox = Outbox(
        report_date=report.day.date,
        messages=messages,
        photos=tuple(Attachment(c.filename, c.png, c.caption) for c in charts),
        document=Attachment("report.html", html.encode("utf-8"), title),
        kind=kind,
    )
    return outbox, html


def write_artifacts(report: Report, outbox: Outbox, settings: Settings, directory: Path) -> None:
    """Write report.json, report.html, the charts and telegram/ (CONTRACT 4) into ``directory``."""
    from reports.delivery.deliver import write_call_artifacts

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(report_json.dumps(report), encoding="utf-8")
    if outbox.document is not None:
        (directory / outbox.document.filename).write_bytes(outbox.document.data)
    for photo in outbox.photos:
        (directory / photo.filename).write_bytes(photo.data)
    write_call_artifacts(outbox, settings.telegram_chats, directory / "telegram")


def _deliver(outbox: Outbox, settings: Settings, *, force: bool, should_stop: Callable[[], bool] | None) -> Sent:
    from reports.delivery.deliver import deliver

    result = deliver(outbox, settings, force=force, log=log, should_stop=should_stop)
    return result.messages_sent, tuple(result.warnings)


def _notify(settings: Settings, report_date: date, reason: str, kind: str) -> None:
    from reports.delivery.deliver import send_failure_notice

    send_failure_notice(settings, report_date, reason, kind=kind)


def _push(url: str, **figures: object) -> str | None:
    from reports.delivery.jobmetrics import push_job_metrics

    return push_job_metrics(url, **figures)  # type: ignore[arg-type]


Sent = tuple[int, tuple[str, ...]]
"""Telegram messages sent, and the delivery's warnings."""


@dataclass(frozen=True)
class Stages:
    """What one run calls, stage by stage: the real ones by default; a test of :func:`run` passes fakes."""

    build: Callable[..., Report] = build
    render: Callable[[Report, Settings, Executor | None], tuple[Outbox, str]] = render
    deliver: Callable[..., Sent] = _deliver
    notify_failure: Callable[[Settings, date, str, str], None] = _notify
    push_metrics: Callable[..., str | None] = _push
    workers: Callable[[], AbstractContextManager[Executor | None]] = chart_workers


def run(options: RunOptions, settings: Settings, *, clock: Clock = _utcnow, stages: Stages | None = None) -> RunOutcome:
    """Build, write and (unless a dry run) deliver one day's report; push the job's metrics either way.

    A report that cannot be built sends a failure notice to the chats (when sending) and raises; nothing else is
    sent. The job's metrics say whether the run succeeded, also when it raised."""
    stages = stages or Stages()
    started = time.time()
    if not options.demo:
        from reports.sources.prometheus import load_queries

        load_queries(settings.queries_file)  # a malformed queries file is a usage error, before any request
    day = trading_day(options.report_date, settings.timezone)
    output = options.output
    if output is None and not options.send:
        from reports.operations.artifacts import artifacts_dir

        output = artifacts_dir(options.period, options.report_date)
    fills = 0
    sent = 0
    success = False
    try:
        try:
            with stages.workers() as pool:
                report = stages.build(
                    settings,
                    day,
                    demo=options.demo,
                    rebuild=options.rebuild,
                    rebuild_from=options.rebuild_from,
                    clock=clock,
                    period=options.period,
                )
                fills = report.fills_read
                outbox, _ = stages.render(report, settings, pool)
        except Exception as exc:
            if options.send:
                reason = str(exc) if isinstance(exc, ReportError) else f"internal error ({type(exc).__name__})"
                stages.notify_failure(settings, options.report_date, reason, options.period)
            raise
        if output is not None:
            write_artifacts(report, outbox, settings, output)
            log.info("artifacts written to %s", output)
        warnings: tuple[str, ...] = ()
        if options.send:
            sent, warnings = stages.deliver(outbox, settings, force=options.force, should_stop=options.should_stop)
        success = True
        return RunOutcome(report=report, output_dir=output, messages_sent=sent, warnings=warnings)
    finally:
        if settings.pushgateway_url:
            problem = stages.push_metrics(
                settings.pushgateway_url,
                report=settings.report_name,
                period=options.period,
                success=success,
                started=started,
                finished=time.time(),
                fills=fills,
                messages=sent,
                report_date=options.report_date,
            )
            if problem:
                log.warning("%s", problem)
