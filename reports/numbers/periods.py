"""Weeks and months: the report of a period from the report of its last day and the stored days it spans.

A week is Monday to Sunday, a month the calendar month, in the report's time zone. A period's ``total_pnl`` is
the sum of its days' ``total_pnl`` (per agent and for the portfolio, added day by day in date order, the very
figures the daily reports show); its other sums add the stored per-day sums; unrealized P&L is at its end.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta

import numpy as np

from reports.calendar import Period, period_of
from reports.closed_days import ClosedDay
from reports.models import (
    AgentPeriod,
    AgentReport,
    DailyPoint,
    MonthRow,
    PeriodFigures,
    Report,
    Risk,
    SymbolReport,
    Totals,
)
from reports.numbers.movers import period_movers
from reports.numbers.risk import window_risk
from reports.numbers.totals import Sums, totals_of


def _in(points: Sequence[DailyPoint], period: Period) -> list[DailyPoint]:
    return [p for p in points if period.first <= p.date <= period.last]


def _total(points: Sequence[DailyPoint]) -> float:
    total = 0.0
    for p in points:  # date order, one by one: the sum a reader of the daily reports would make
        total += p.total_pnl
    return total


def _risk(points: Sequence[DailyPoint]) -> Risk:
    pnl = np.array([p.total_pnl for p in points], dtype=np.float64)
    r = np.array([np.nan if p.return_ is None else p.return_ for p in points], dtype=np.float64)
    return window_risk(pnl, r)


def _best_worst(points: Sequence[DailyPoint]) -> tuple[DailyPoint | None, DailyPoint | None]:
    if not points:
        return None, None
    return max(points, key=lambda p: (p.total_pnl, -p.date.toordinal())), min(points, key=lambda p: p.total_pnl)


def monthly_table(daily: Sequence[DailyPoint]) -> tuple[MonthRow, ...]:
    """Per calendar month of the series: the compounded return of its days and their P&L."""
    months: dict[tuple[int, int], list[DailyPoint]] = {}
    for p in daily:
        months.setdefault((p.date.year, p.date.month), []).append(p)
    rows = []
    for (year, month), points in sorted(months.items()):
        returns = [p.return_ for p in points if p.return_ is not None]
        compounded = float(np.prod([1.0 + r for r in returns]) - 1.0) if returns else None
        rows.append(MonthRow(year, month, compounded, _total(points)))
    return tuple(rows)


def _agent_totals(agent: AgentReport, days: Sequence[ClosedDay], period: Period) -> tuple[Totals, AgentPeriod, Sums]:
    """One agent's figures over the period, what the period adds for it, and its sums."""
    sums = Sums.of_days(row for d in days for row in d.agents if row.agent_id == agent.agent_id)
    points = _in(agent.daily, period)
    last = agent.totals  # the period's last day: unrealized P&L, capital and equity at its end
    totals = totals_of(
        sums, unrealized=last.unrealized_pnl, capital=last.capital, equity=last.equity, total_pnl=_total(points)
    )
    best, worst = _best_worst(points)
    extra = AgentPeriod(
        best_day=best,
        worst_day=worst,
        expectancy=sums.expectancy,
        average_win=sums.average_win,
        average_loss=sums.average_loss,
        risk=_risk(points),
    )
    return totals, extra, sums


def symbols_of_days(days: Sequence[ClosedDay], agents: set[str]) -> tuple[SymbolReport, ...]:
    """Every symbol traded or funded in the period, its stored per-day sums added day by day."""
    known = all(d.funding_known for d in days)
    sums: dict[str, list[float]] = {}
    for d in days:
        for s in d.symbols:
            if s.agent_id not in agents:
                continue
            row = sums.setdefault(s.symbol, [0, 0.0, 0.0, 0.0, 0.0])
            row[0] += s.trades
            row[1] += s.volume
            row[2] += s.fees
            row[3] += s.realized_pnl
            row[4] += s.funding_pnl or 0.0
    return tuple(
        SymbolReport(symbol, int(n), volume, fees, realized, realized - fees, funding if known else None)
        for symbol, (n, volume, fees, realized, funding) in sorted(sums.items())
    )


def period_report(last_day: Report, days: Sequence[ClosedDay], period: Period) -> Report:
    """The report of ``period`` from the report of its last day and the closed days of the period (those before it
    may come too: the day before it gives the positions its movers start from)."""
    eve = period.first - timedelta(days=1)
    eve_day = next((d for d in days if d.date == eve), None)
    days = [d for d in days if period.first <= d.date <= period.last]
    agents, extras, each = [], {}, []
    for agent in last_day.agents:
        totals, extra, sums = _agent_totals(agent, days, period)
        agents.append(dataclasses.replace(agent, totals=totals))
        extras[agent.agent_id] = extra
        each.append(sums)
    points = _in(last_day.daily, period)
    kept = {a.agent_id for a in agents}  # a desk's report: its own agents only
    # The agents' sums added agent by agent; the closing fills' nets day by day (the floats depend on the order).
    nets = Sums.of_days(row for d in days for row in d.agents if row.agent_id in kept)
    funding = None if any(s.funding is None for s in each) else sum(s.funding or 0.0 for s in each)
    sums = dataclasses.replace(
        Sums.added(each, funding), losses=nets.losses, win_sum=nets.win_sum, loss_sum=nets.loss_sum
    )
    last = last_day.totals
    totals = totals_of(
        sums, unrealized=last.unrealized_pnl, capital=last.capital, equity=last.equity, total_pnl=_total(points)
    )
    previous = period_of(period.kind, period.first - timedelta(days=1), last_day.day.timezone)
    before = _in(last_day.daily, previous)
    best, worst = _best_worst(points)
    figures = PeriodFigures(
        period=period,
        days=tuple(points),
        risk=_risk(points),
        agents=extras,
        previous=previous,
        previous_total_pnl=_total(before) if before else None,
        monthly=monthly_table(last_day.daily),
        best_day=best,
        worst_day=worst,
        expectancy=sums.expectancy,
        average_win=sums.average_win,
        average_loss=sums.average_loss,
    )
    return dataclasses.replace(
        last_day,
        totals=totals,
        agents=tuple(agents),
        symbols=symbols_of_days(days, kept),
        period=figures,
        movers=period_movers(days, eve_day, kept),
    )
