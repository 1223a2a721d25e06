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
from reports.numbers.risk import window_risk


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


def _agent_totals(agent: AgentReport, days: Sequence[ClosedDay], period: Period) -> tuple[Totals, AgentPeriod]:
    rows = [row for d in days for row in d.agents if row.agent_id == agent.agent_id]
    trades = sum(r.trades for r in rows)
    fees = sum(r.fees for r in rows)
    realized = sum(r.realized_pnl for r in rows)
    closing = sum(r.closing_fills for r in rows)
    wins, losses = sum(r.wins for r in rows), sum(r.losses for r in rows)
    win_sum, loss_sum = sum(r.win_sum for r in rows), sum(r.loss_sum for r in rows)
    points = _in(agent.daily, period)
    total = _total(points)
    net = realized - fees
    totals = dataclasses.replace(
        agent.totals,
        trades=trades,
        volume=sum(r.volume for r in rows),
        fees=fees,
        realized_pnl=realized,
        net_realized_pnl=net,
        total_pnl=total,
        closing_fills=closing,
        wins=wins,
        win_rate=wins / closing if closing else None,
        profit_factor=win_sum / abs(loss_sum) if losses else None,
        unrealized_change=total - net,
    )
    best, worst = _best_worst(points)
    extra = AgentPeriod(
        best_day=best,
        worst_day=worst,
        expectancy=(win_sum + loss_sum) / closing if closing else None,
        average_win=win_sum / wins if wins else None,
        average_loss=loss_sum / losses if losses else None,
        risk=_risk(points),
    )
    return totals, extra


def _symbols(days: Sequence[ClosedDay], agents: set[str]) -> tuple[SymbolReport, ...]:
    sums: dict[str, list[float]] = {}
    for d in days:
        for s in d.symbols:
            if s.agent_id not in agents:
                continue
            row = sums.setdefault(s.symbol, [0, 0.0, 0.0, 0.0])
            row[0] += s.trades
            row[1] += s.volume
            row[2] += s.fees
            row[3] += s.realized_pnl
    return tuple(
        SymbolReport(symbol, int(n), volume, fees, realized, realized - fees)
        for symbol, (n, volume, fees, realized) in sorted(sums.items())
    )


def period_report(last_day: Report, days: Sequence[ClosedDay], period: Period) -> Report:
    """The report of ``period`` from the report of its last day and the closed days of the period."""
    days = [d for d in days if period.first <= d.date <= period.last]
    agents, extras = [], {}
    for agent in last_day.agents:
        totals, extra = _agent_totals(agent, days, period)
        agents.append(dataclasses.replace(agent, totals=totals))
        extras[agent.agent_id] = extra
    points = _in(last_day.daily, period)
    t = last_day.totals
    trades, closing = sum(a.totals.trades for a in agents), sum(a.totals.closing_fills for a in agents)
    wins = sum(a.totals.wins for a in agents)
    kept = {a.agent_id for a in agents}  # a desk's report: its own agents only
    rows = [row for d in days for row in d.agents if row.agent_id in kept]
    win_sum, loss_sum = sum(r.win_sum for r in rows), sum(r.loss_sum for r in rows)
    losses = sum(r.losses for r in rows)
    fees, realized = sum(a.totals.fees for a in agents), sum(a.totals.realized_pnl for a in agents)
    total = _total(points)
    totals = dataclasses.replace(
        t,
        trades=trades,
        volume=sum(a.totals.volume for a in agents),
        fees=fees,
        realized_pnl=realized,
        net_realized_pnl=realized - fees,
        total_pnl=total,
        closing_fills=closing,
        wins=wins,
        win_rate=wins / closing if closing else None,
        profit_factor=win_sum / abs(loss_sum) if losses else None,
        unrealized_change=total - (realized - fees),
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
    )
    return dataclasses.replace(
        last_day, totals=totals, agents=tuple(agents), symbols=_symbols(days, kept), period=figures
    )
