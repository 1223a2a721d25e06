"""What the bot builds, each answer in a process of its own: a report, the day so far, the positions, the status.

:func:`child_main` runs in a process started by the bot (``multiprocessing``, forkserver): it sets up the logs
like the bot's, builds the answer with the same functions as the command line (so the figures are the CLI's),
and sends an :class:`Answer` back through a pipe. The process leads a process group of its own, so the bot can
end it, and the chart workers it forks, at once on SIGTERM. Nothing here writes a delivery record; a build
stores closed days in the store like any run, never the day so far.
"""

from __future__ import annotations

import html
import logging
import os
import signal
from collections.abc import Callable
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from typing import Any

from reports.bot.records import Answer, Job, text_outbox
from reports.errors import ReportError, UsageError
from reports.settings import Settings

log = logging.getLogger("reports.bot.app")


def child_main(conn: Connection, settings: Settings, job: Job, logs: dict[str, Any]) -> None:
    """The build process: its own process group, the bot's logging, one job, the answer through ``conn``."""
    os.setpgid(0, 0)  # the bot ends this group: this process and the chart workers it forks
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the bot's to handle: it ends this process
    from reports import redact
    from reports.logs import run_context, setup_logging

    setup_logging(**logs)
    redact.register(*settings.secrets())  # unpickled settings register nothing: their secrets, masked here too
    with run_context(job.day, job.run_id):
        try:
            answer = run_job(settings, job, early=conn.send)
        except UsageError as exc:
            answer = Answer(None, error=str(exc), usage=True)
        except ReportError as exc:
            answer = Answer(None, error=str(exc))
        except Exception as exc:  # a bug in one build is one line in its chat, never a traceback
            log.error("build failed with an internal error: %s: %s", type(exc).__name__, exc)
            log.debug("traceback", exc_info=True)
            answer = Answer(None, error=f"internal error: {type(exc).__name__}: {exc} (see the bot's log)")
    try:
        conn.send(answer)
    finally:
        conn.close()


def run_job(
    settings: Settings, job: Job, now: datetime | None = None, early: Callable[[Answer], None] | None = None
) -> Answer:
    """Build the answer to ``job`` (in this process); ``early`` gets a first part (the summary) as soon as it
    is ready, while the charts are drawn (without it, the answer comes whole)."""
    from reports.bot import answers

    now = now or datetime.now(UTC)
    if job.command in ("report", "week", "month", "agent", "symbols"):
        from reports.bot.commands import period_of_command
        from reports.calendar import period_of

        assert job.day is not None
        period = period_of(period_of_command(job.command), job.day, settings.timezone)
        if not job.demo:
            _check_history(settings, job.command, period.first, period.last)
    if job.command in ("report", "week", "month"):
        return answers.report_answer(settings, job, early, now)
    if job.command == "agent":
        return answers.agent_answer(settings, job, early)
    if job.command == "symbols":
        return answers.symbols_answer(settings, job)
    if job.command == "today":
        return answers.today_answer(settings, job, early, now)
    if job.command == "refresh":
        return answers.refresh_answer(settings, job, now)
    if job.command == "positions":
        return _positions(settings, job, now)
    if job.command == "movers":
        return _movers(settings, job, now)
    if job.command == "status":
        return Answer(text_outbox(status_text(settings, now), now.date()), "status")
    raise ValueError(f"unknown job {job.command!r}")


def _check_history(settings: Settings, command: str, first: date, last: date) -> None:
    """:class:`UsageError` (one line) when the report asked for ends before the first day of the history."""
    from reports.calendar import trading_day, yesterday
    from reports.operations.history import History
    from reports.sources.stores import open_store
    from reports.sources.trading_service import TradingService

    with TradingService(settings.trading_service_url) as service:
        store, _ = open_store(settings.state_dir, service.base_url, settings.timezone, settings.state_url)
        with store:
            stored = store.dates()
            begins = stored[0] if stored else None
            if begins is None or last < begins:  # the store may not reach back yet: ask the service
                latest = trading_day(yesterday(settings.timezone), settings.timezone)
                begins = History(service, store, settings.timezone).first_day(latest)
    if begins is None:
        raise UsageError("the trading service has no fill yet: there is no report to show; /today shows the day so far")
    if last < begins:
        asked = first.isoformat() if first == last else f"{first}..{last}"
        raise UsageError(
            f"{asked} is before the history, which starts on {begins}: /{command} takes a date from {begins} on "
            "(YYYY-MM-DD)"
        )


def _positions(settings: Settings, job: Job, now: datetime) -> Answer:
    from reports.calendar import partial_day
    from reports.operations.pipeline import build
    from reports.presentation.bot_text import positions_text

    report = build(settings, partial_day(now, settings.timezone), demo=job.demo)
    held = sum(len(a.open_positions) for a in report.agents)
    return Answer(text_outbox(positions_text(report), report.day.date), f"{held} open position(s)")


def _movers(settings: Settings, job: Job, now: datetime) -> Answer:
    """/movers: the day so far's movers, as ``report --today`` computes them (never stored)."""
    from reports.calendar import partial_day
    from reports.operations.pipeline import build
    from reports.presentation.moves import movers_text

    report = build(settings, partial_day(now, settings.timezone), demo=job.demo)
    return Answer(text_outbox(movers_text(report), report.day.date), f"{len(report.movers)} mover(s) so far")


_MARK = {"ok": "✅", "warn": "⚠️", "fail": "❌"}


def status_text(settings: Settings, now: datetime) -> tuple[str, ...]:
    """The answer to /status: the last report delivered (from the delivery records, read only), the next
    scheduled run, and one line per source and destination as ``report check`` prints them."""
    from reports.calendar import ADJECTIVE, period_of
    from reports.checks.run import run_checks
    from reports.cron import next_runs, parse_schedule, report_date_for, when
    from reports.delivery.status import last_delivered
    from reports.presentation.tgtext import split_message

    tz = settings.timezone
    lines = [f"<b>🩺 Status</b> · {html.escape(when(now, settings.zone))}"]
    for kind in settings.periods:
        done = last_delivered(settings, kind)
        if done is None:
            if kind == "day":
                where = "the state database" if settings.state_url else "REPORT_STATE_DIR"
                lines.append(f"Last report delivered: none recorded in {where}")
            continue
        span = done.report_date.isoformat()
        if kind != "day":
            p = period_of(kind, done.report_date, tz)
            span = f"{p.first}..{p.last}"
        at = f", at {html.escape(when(done.at, settings.zone))}" if done.at else ""
        chats = f"{done.chats} chat{'s' if done.chats != 1 else ''}"
        if done.records > done.chats:
            chats += f" ({done.records - done.chats} more got it in part)"
        name = "report" if kind == "day" else f"{ADJECTIVE[kind]} report"
        lines.append(f"Last {name} delivered: <b>{span}</b>{at}, to {chats}")
    try:
        trigger = parse_schedule(settings.schedule, tz)
        upcoming = next_runs(trigger, now, 1)
        lines.append(
            f"Next scheduled run: {html.escape(when(upcoming[0], trigger.zone))} "
            f"(report {report_date_for(upcoming[0], trigger.zone)})"
            if upcoming
            else "Next scheduled run: never"
        )
    except UsageError as exc:
        lines.append(f"Next scheduled run: unknown ({html.escape(str(exc))})")
    lines += ["", "<b>Sources</b> (as <code>report check</code>)"]
    lines += [f"{_MARK.get(c.status, '•')} {html.escape(c.render(), quote=False)}" for c in run_checks(settings)]
    return tuple(split_message("\n".join(lines)))
