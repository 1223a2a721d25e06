"""Attention flags: the few things in a day's report that need a trader's look.

Each flag is a plain sentence (the templates escape it). Checked, in this order: a day without any fill
after five days with fills (the trading service may have stopped recording), a degraded source, an
operations drawdown past the limit, a new 30-day maximum drawdown of the portfolio, an agent whose day is
more than three standard deviations from its own 30-day mean, and an agent that did not fill today after
five straight days with fills.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import date, timedelta

from reports.calendar import is_partial
from reports.models import AgentReport, DailyPoint, Report
from reports.presentation.fmt import agent_label, fmt_pnl, fmt_signed_pct

SIGMA_LIMIT = 3.0
"""A day further than this many standard deviations from the agent's own mean is flagged."""
MEAN_WINDOW_DAYS = 30
MIN_HISTORY_DAYS = 5
"""Fewer prior days than this make a standard deviation too noisy to flag on."""
STREAK_DAYS = 5
DRAWDOWN_WINDOW_DAYS = 30
EPSILON = 1e-12


def drawdown_series(daily: Sequence[DailyPoint]) -> list[float]:
    """Drawdown of each day, ``E / max(E_before_first, running max E) − 1`` (≤ 0), as CONTRACT 3's risk.

    The equity before the first point (its equity minus its P&L) is the first high-water mark,
    so a window that starts under water does not hide its first loss.
    """
    if not daily:
        return []
    peak = daily[0].equity - daily[0].total_pnl
    out = []
    for point in daily:
        peak = max(peak, point.equity)
        out.append(point.equity / peak - 1 if peak > 0 else 0.0)
    return out


def source_flags(report: Report) -> list[str]:
    """A source that should have answered and did not, or a reconciliation that disagrees."""
    src = report.sources
    flags = []
    if src.trading_service != "ok":
        flags.append(f"Trading service: {src.trading_service}; the figures may be incomplete")
    if src.prometheus == "unavailable":
        flags.append("Prometheus unavailable: no operations figures for this day")
    elif src.prometheus not in ("ok", "not configured"):
        flags.append(f"Prometheus: {src.prometheus}")
    if src.funding == "unavailable":
        flags.append("Funding unavailable: the P&L excludes funding payments (see the warnings for the days)")
    if src.reconciliation == "mismatch":
        flags.append(
            "Reconciliation mismatch: the exchange's realized P&L, commissions or funding differ from the report "
            "by more than max(1 USDT, 1 %); fills may be missing"
        )
    elif src.reconciliation not in ("ok", "not configured"):
        flags.append(f"Reconciliation: {src.reconciliation}")
    return flags


def source_notes(report: Report) -> list[str]:
    """Sources left unconfigured: worth a note, not an alarm."""
    notes = []
    if report.sources.prometheus == "not configured":
        notes.append("Prometheus not configured (PROMETHEUS_URL): no operations section")
    if report.sources.reconciliation == "not configured":
        notes.append("Reconciliation skipped: no ADMIN_API_TOKEN for the exchange income")
    return notes


def operations_flags(report: Report) -> list[str]:
    """The day's drawdown from Prometheus past the configured limit."""
    ops = report.operations
    limit = report.targets.max_drawdown
    if ops is None or ops.max_drawdown is None or ops.max_drawdown > -limit:
        return []
    return [f"Drawdown {fmt_signed_pct(ops.max_drawdown, 1)} today is past the limit of {fmt_signed_pct(-limit, 1)}"]


def new_max_drawdown(report: Report) -> str | None:
    """A flag when today's drawdown is below 0 and deeper than every other day of the 30-day window."""
    window = report.daily[-DRAWDOWN_WINDOW_DAYS:]
    if not window or window[-1].date != report.day.date:
        return None
    dds = drawdown_series(window)
    today, before = dds[-1], dds[:-1]
    if today < -EPSILON and today < min(before, default=0.0) - EPSILON:
        return f"Portfolio: new 30-day maximum drawdown, {fmt_signed_pct(today, 1)}"
    return None


def outlier_flag(agent: AgentReport, day: date) -> str | None:
    """A flag when the day's P&L is more than 3 σ from the mean of the 30 days before it."""
    first = day - timedelta(days=MEAN_WINDOW_DAYS)
    prior = [p.total_pnl for p in agent.daily if first <= p.date < day]
    if len(prior) < MIN_HISTORY_DAYS:
        return None
    mean, std = statistics.fmean(prior), statistics.stdev(prior)
    if std <= EPSILON:
        return None
    sigmas = (agent.totals.total_pnl - mean) / std
    if abs(sigmas) <= SIGMA_LIMIT:
        return None
    side = "above" if sigmas > 0 else "below"
    return (
        f"{agent_label(agent, emoji=False)}: day P&L {fmt_pnl(agent.totals.total_pnl)} USDT is "
        f"{abs(sigmas):.1f}σ {side} its 30-day mean ({fmt_pnl(mean)})"
    )


def had_fills(point: DailyPoint) -> bool:
    """Whether the agent filled that day."""
    return point.trades > 0


def silence_flag(agent: AgentReport, day: date) -> str | None:
    """A flag when the agent has no fill today after fills on each of the five days before."""
    if agent.totals.trades > 0:
        return None
    by_date = {p.date: p for p in agent.daily}
    streak = [by_date.get(day - timedelta(days=k)) for k in range(1, STREAK_DAYS + 1)]
    if all(p is not None and had_fills(p) for p in streak):
        return f"{agent_label(agent, emoji=False)}: no fill today after {STREAK_DAYS} straight days with fills"
    return None


def no_fills_flag(report: Report) -> str | None:
    """A flag when the portfolio has no fill today after fills on each of the five days before."""
    if report.totals.trades > 0:
        return None
    by_date = {p.date: p for p in report.daily}
    day = report.day.date
    streak = [by_date.get(day - timedelta(days=k)) for k in range(1, STREAK_DAYS + 1)]
    if all(p is not None and had_fills(p) for p in streak):
        return (
            f"No fills today: check that the trading service records trades (the agents filled on each of the "
            f"{STREAK_DAYS} days before)"
        )
    return None


def attention_flags(report: Report) -> list[str]:
    """Everything that needs a look, most urgent first, as plain sentences."""
    partial = is_partial(report.day)  # the day so far: no fill *yet* is not a silence
    silent = None if partial else no_fills_flag(report)
    flags = ([silent] if silent else []) + source_flags(report) + operations_flags(report)
    drawdown = new_max_drawdown(report)
    if drawdown:
        flags.append(drawdown)
    day = report.day.date
    for agent in sorted(report.agents, key=lambda a: a.agent_id):
        # When nobody filled, one flag says it: not one per agent.
        quiet = None if silent or partial else silence_flag(agent, day)
        flags.extend(f for f in (outlier_flag(agent, day), quiet) if f)
    return flags
