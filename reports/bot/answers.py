"""The answers that come in two parts: the summary as soon as the numbers exist, then the album and the document.

Run in a build process (:mod:`reports.bot.jobs`): ``early`` sends the first part to the bot (through the pipe)
while this process goes on drawing the charts. The figures are the command line's: the same
:func:`~reports.operations.pipeline.build` (the store's closed days and the report day's own fills), the same
templates, the same charts and report.html (:func:`~reports.operations.pipeline.render`). Also the day so far's
refresh (a summary only) and the cards of ``/agent`` and ``/symbols``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import date, datetime

from reports.bot.buttons import refresh_keyboard, report_keyboard
from reports.bot.records import Answer, Job, text_outbox
from reports.delivery.outbox import Attachment, Outbox
from reports.errors import UsageError
from reports.models import Report
from reports.settings import Settings

log = logging.getLogger("reports.bot.app")

Early = Callable[[Answer], None]
"""Sends a first part of the answer to the bot (``Answer.more`` set)."""


def report_answer(settings: Settings, job: Job, early: Early | None, now: datetime) -> Answer:
    """/report, /week, /month (and their buttons): the summary with its ◀ ▶ buttons first, then the album and
    report.html, byte for byte what ``report --date D --dry-run`` (``--period``) builds.

    A day the store holds has its summary from the store (no fill read, no replay); should the day's fills, read
    again for the album, give another summary (a warning of the fetch, fills changed upstream), it follows as a
    correction."""
    from reports.bot.commands import period_of_command
    from reports.calendar import trading_day
    from reports.operations.pipeline import build, render
    from reports.presentation.render import render_summary
    from reports.presentation.workers import chart_workers

    assert job.day is not None
    kind = period_of_command(job.command)
    day = trading_day(job.day, settings.timezone)
    sent: tuple[str, ...] | None = None
    if kind == "day" and early is not None and not job.demo:
        from reports.operations.stored import stored_report

        try:
            stored = stored_report(settings, day, now)
        except Exception as exc:  # the summary then comes from the fills, as the command line makes it
            why = f"{type(exc).__name__}: {exc}"
            log.warning("no summary of %s from the store (%s): built from its fills", job.day, why)
            stored = None
        if stored is not None:
            sent = render_summary(stored, settings.templates_dir)
            keyboard = report_keyboard(kind, job.day, settings.timezone, now, _first_date(stored))
            log.info("summary of %s from the store: no fill read", job.day)
            early(Answer(text_outbox(sent, stored.day.date), keyboard=keyboard, more=True))
    # The chart workers start once the summary is out: matplotlib is loaded already (the fork server's), so
    # they have no import to overlap with the fetch, and they would only compete with it for the CPU.
    report = build(settings, day, demo=job.demo, period=kind, clock=lambda: now)  # the summaries compared
    keyboard = report_keyboard(kind, job.day, settings.timezone, now, _first_date(report))
    summary = render_summary(report, settings.templates_dir)
    rest = None
    if sent is None:
        rest = _first_part(early, Answer(text_outbox(summary, report.day.date), keyboard=keyboard, more=True))
    with chart_workers() as pool:
        outbox, _ = render(report, settings, pool)
    what = job.day.isoformat() if kind == "day" else f"{kind} {report.period.period.first}..{job.day}"  # type: ignore[union-attr]
    outcome = f"report {what}: total P&L {report.totals.total_pnl:+,.2f} USDT"
    if sent is not None:
        if summary == sent:
            return Answer(dataclasses.replace(outbox, messages=()), outcome)
        log.warning("the summary of %s from the store differs from the one of its fills: sent again", job.day)
        return Answer(dataclasses.replace(outbox, messages=(CORRECTED, *summary)), outcome + " (summary corrected)")
    if rest is None:  # no early part: the whole answer at once
        return Answer(outbox, outcome, keyboard=keyboard)
    return Answer(dataclasses.replace(outbox, messages=()), outcome)


CORRECTED = (
    "⚠️ <i>The summary above came from the stored day; the day's fills, read again for the charts, give the one "
    "below (report.html is built from it).</i>"
)


def _first_date(report: Report) -> date | None:
    return report.daily[0].date if report.daily else None


def today_answer(settings: Settings, job: Job, early: Early | None, now: datetime) -> Answer:
    """/today: the day so far's summary with its 🔄 Refresh button first, then the album and report.html, as
    ``report --today`` builds them."""
    from reports.calendar import partial_day
    from reports.operations.pipeline import build, render
    from reports.operations.today import labelled
    from reports.presentation.workers import chart_workers

    report = build(settings, partial_day(now, settings.timezone), demo=job.demo)
    keyboard = refresh_keyboard(report.day.date)
    rest = _first_part(early, Answer(_today_summary(settings, report), keyboard=keyboard, more=True))
    with chart_workers() as pool:  # after the summary, as for a report
        outbox, _ = render(report, settings, pool)
    outbox = labelled(outbox, report)
    outcome = f"total P&L so far {report.totals.total_pnl:+,.2f} USDT"
    if rest is None:
        return Answer(outbox, outcome, keyboard=keyboard)
    return Answer(dataclasses.replace(outbox, messages=()), outcome)


def refresh_answer(settings: Settings, job: Job, now: datetime) -> Answer:
    """🔄 Refresh: the day so far's summary as of now, and its button (the bot edits the message in place)."""
    from reports.calendar import partial_day
    from reports.operations.pipeline import build

    report = build(settings, partial_day(now, settings.timezone), demo=job.demo)
    outcome = f"total P&L so far {report.totals.total_pnl:+,.2f} USDT"
    return Answer(_today_summary(settings, report), outcome, keyboard=refresh_keyboard(report.day.date))


def _today_summary(settings: Settings, report: Report) -> Outbox:
    from reports.presentation.partial import label_summary, partial_label
    from reports.presentation.render import render_summary

    messages = render_summary(report, settings.templates_dir)
    label = partial_label(report)
    return text_outbox(label_summary(messages, label) if label else messages, report.day.date)


def agent_answer(settings: Settings, job: Job, early: Early | None) -> Answer:
    """/agent NAME [date]: the agent's card first, then its chart; an unknown or ambiguous name is one line
    that names the agents."""
    from reports.calendar import trading_day
    from reports.operations.pipeline import build
    from reports.presentation.bot_cards import agent_card, match_agent

    assert job.day is not None and job.arg is not None
    report = build(settings, trading_day(job.day, settings.timezone), demo=job.demo)
    agent = match_agent(report.agents, job.arg)
    if isinstance(agent, str):
        raise UsageError(agent)
    card = text_outbox(agent_card(report, agent), report.day.date)
    outcome = f"agent {agent.agent_id} on {job.day}: total P&L {agent.totals.total_pnl:+,.2f} USDT"
    rest = _first_part(early, Answer(card, more=True))
    from reports.presentation.charts.agent import agent_chart

    chart = agent_chart(report, agent)
    photos = (Attachment(chart.filename, chart.png, chart.caption),)
    if rest is None:
        return Answer(dataclasses.replace(card, photos=photos), outcome)
    return Answer(dataclasses.replace(card, messages=(), photos=photos), outcome)


def symbols_answer(settings: Settings, job: Job) -> Answer:
    """/symbols [date]: the day's table by symbol, funding included."""
    from reports.calendar import trading_day
    from reports.operations.pipeline import build
    from reports.presentation.bot_cards import symbols_table

    assert job.day is not None
    report = build(settings, trading_day(job.day, settings.timezone), demo=job.demo)
    return Answer(text_outbox(symbols_table(report), report.day.date), f"{len(report.symbols)} symbol(s) on {job.day}")


def _first_part(early: Early | None, part: Answer) -> Answer | None:
    """Send ``part`` to the bot now; None when there is no bot to send it to (the answer is then made whole)."""
    if early is None:
        return None
    early(part)
    return part
