"""A hand-built week's or month's :class:`Report` for the presentation tests (no engine, no store).

``make_period_report()`` takes :func:`sample_report.make_report` for the period's last day and adds a
:class:`PeriodFigures` whose every figure is known: each agent's closing-fill sums are chosen here, so the
tests can check what the summary and report.html derive from them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from sample_report import make_report, risk_of

from reports.calendar import Period
from reports.models import AgentPeriod, DailyPoint, MonthRow, PeriodFigures, Report


@dataclass(frozen=True)
class Sums:
    """One agent's closing fills over the period, as the store would add them up."""

    closes: int
    wins: int
    losses: int
    win_sum: float
    loss_sum: float


def period(kind: str, first: date, last: date, timezone: str = "UTC") -> Period:
    zone = ZoneInfo(timezone)
    start = datetime.combine(first, time(), zone)
    end = datetime.combine(last + timedelta(days=1), time(), zone)
    return Period(kind, first, last, start, end)


def week_of(day: date) -> tuple[date, date]:
    first = day - timedelta(days=day.weekday())
    return first, first + timedelta(days=6)


def month_of(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def monthly_rows(daily: tuple[DailyPoint, ...]) -> tuple[MonthRow, ...]:
    """Compounded return and P&L per calendar month, computed here independently of reports.numbers."""
    months: dict[tuple[int, int], list[DailyPoint]] = {}
    for p in daily:
        months.setdefault((p.date.year, p.date.month), []).append(p)
    rows = []
    for (year, month), points in sorted(months.items()):
        growth = 1.0
        for p in points:
            growth *= 1.0 + (p.return_ or 0.0)
        rows.append(MonthRow(year, month, growth - 1.0, float(sum(p.total_pnl for p in points))))
    return tuple(rows)


def best_worst(points) -> tuple[DailyPoint | None, DailyPoint | None]:
    if not points:
        return None, None
    return max(points, key=lambda p: (p.total_pnl, -p.date.toordinal())), min(points, key=lambda p: p.total_pnl)


def make_period_report(
    kind: str = "month",
    last: date = date(2026, 11, 30),
    *,
    n_agents: int = 6,
    history_days: int = 75,
    seed: int = 11,
    operations: bool = True,
    **kwargs,
) -> tuple[Report, dict[str, Sums]]:
    """A week's or a month's report ending on ``last`` (which must end its period) and each agent's sums."""
    first, end = week_of(last) if kind == "week" else month_of(last)
    assert end == last, "the report's last day ends its period"
    day = make_report(n_agents, report_date=last, days=history_days, seed=seed, operations=operations, **kwargs)
    rng = np.random.default_rng(seed)
    this = period(kind, first, last, day.day.timezone)
    prev_last = first - timedelta(days=1)
    previous = period(kind, *(week_of(prev_last) if kind == "week" else month_of(prev_last)), day.day.timezone)
    days = tuple(p for p in day.daily if first <= p.date <= last)
    before = [p for p in day.daily if previous.first <= p.date <= previous.last]
    agents, extras, sums = [], {}, {}
    for a in day.agents:
        closes = int(rng.integers(20, 400))
        wins = int(closes * rng.uniform(0.3, 0.8))
        losses = closes - wins - int(rng.integers(0, 3))  # a close or two with a net of exactly 0
        s = Sums(closes, wins, losses, wins * float(rng.uniform(0.2, 3)), -losses * float(rng.uniform(0.2, 3)))
        sums[a.agent_id] = s
        points = tuple(p for p in a.daily if first <= p.date <= last)
        total = float(sum(p.total_pnl for p in points))
        totals = dataclasses.replace(
            a.totals,
            total_pnl=total,
            trades=max(a.totals.trades, 2 * closes),
            closing_fills=closes,
            wins=wins,
            win_rate=wins / closes,
            profit_factor=s.win_sum / abs(s.loss_sum),
        )
        agents.append(dataclasses.replace(a, totals=totals))
        best, worst = best_worst(points)
        extras[a.agent_id] = AgentPeriod(
            best_day=best,
            worst_day=worst,
            expectancy=(s.win_sum + s.loss_sum) / closes,
            average_win=s.win_sum / wins if wins else None,
            average_loss=s.loss_sum / losses if losses else None,
            risk=risk_of(points, len(points)),
        )
    closes = sum(s.closes for s in sums.values())
    wins = sum(s.wins for s in sums.values())
    win_sum, loss_sum = sum(s.win_sum for s in sums.values()), sum(s.loss_sum for s in sums.values())
    totals = dataclasses.replace(
        day.totals,
        total_pnl=float(sum(p.total_pnl for p in days)),
        trades=sum(a.totals.trades for a in agents),
        closing_fills=closes,
        wins=wins,
        win_rate=wins / closes,
        profit_factor=win_sum / abs(loss_sum),
    )
    best, worst = best_worst(days)
    figures = PeriodFigures(
        period=this,
        days=days,
        risk=risk_of(days, len(days)),
        agents=extras,
        previous=previous,
        previous_total_pnl=float(sum(p.total_pnl for p in before)) if before else None,
        monthly=monthly_rows(day.daily),
        best_day=best,
        worst_day=worst,
        expectancy=(win_sum + loss_sum) / closes,
        average_win=win_sum / wins,
        average_loss=loss_sum / sum(s.losses for s in sums.values()),
    )
    return dataclasses.replace(day, totals=totals, agents=tuple(agents), period=figures), sums
