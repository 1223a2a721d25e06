"""A stored day's report from the store alone: its rows and the engine at its end, no fill read and no replay.

The bot answers ``/report D`` for a day the store holds with this summary first (its album and report.html come
from the run's replay, as the command line builds them). Every agent's figures, the daily series, the risk, the
drawdowns and the benchmark are a run's to the bit: they come from the same rows. The portfolio's and the
symbols' sums add the stored rows agent by agent where a run adds the day's fills, so they may differ from a
run's in the last bits of a float; the bot compares the two summaries and corrects a sent one that differs.
There is no intraday series: that needs the fills.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from reports.calendar import TradingDay
from reports.closed_days import ClosedDay
from reports.models import IntradaySeries, OpenPosition, Report
from reports.numbers.closing import history_of
from reports.numbers.compute import DayFigures, RunInputs, only_agents, report_of
from reports.numbers.movers import period_movers
from reports.numbers.periods import symbols_of_days
from reports.numbers.totals import Sums
from reports.settings import CapitalPolicy


def has_figures(closed: ClosedDay) -> bool:
    """True when the stored day keeps every figure of its report (a day stored by a version before the
    per-pair closes were kept does not: its movers need the fills)."""
    return all(s.closing_fills is not None and s.wins is not None for s in closed.symbols)


def stored_day_report(
    past: Sequence[ClosedDay], closed: ClosedDay, day: TradingDay, capital: CapitalPolicy, given: RunInputs
) -> Report:
    """The report of ``day`` from its stored copy ``closed`` and the closed days before it (``past``, oldest first,
    calendar days without a gap, as a run reads them)."""
    if not has_figures(closed):
        raise ValueError(f"the stored copy of {day.date} keeps no per-pair closes: its report needs the fills")
    symbol = given.benchmark
    closes = [dict(d.state.marks).get(symbol, np.nan) for d in (*past, closed)]
    history = history_of([(d.date, d.agents) for d in past], closed.agents, day)
    history = dataclasses.replace(history, benchmark_marks=np.array([np.nan, *closes]))
    if given.agents:
        history = only_agents(history, set(given.agents))
    kept = set(history.agents)
    known = bool(history.funding_known[-1])
    rows = {row.agent_id: row for row in closed.agents}
    each = [
        dataclasses.replace(Sums.of_day(rows[agent]), funding=float(history.funding[a, -1]) if known else None)
        for a, agent in enumerate(history.agents)
    ]
    marks = dict(closed.state.marks)
    positions = tuple(
        tuple(
            OpenPosition(symbol, qty, avg, marks[symbol], (marks[symbol] - avg) * qty)
            for agent, symbol, qty, avg in closed.state.positions
            if agent == agent_id
        )
        for agent_id in history.agents
    )
    # The agents' sums added agent by agent: a run adds the day's fills (the floats may differ in the last bits).
    portfolio = Sums.added(each, float(history.funding[:, -1].sum()) if known else None)
    pair_closes = {(s.agent_id, s.symbol): (s.closing_fills, s.wins) for s in closed.symbols}
    movers = []
    for m in period_movers([closed], past[-1] if past else None, kept):
        # A pair with no row that day (a position held, no fill) closed nothing.
        closing_fills, wins = pair_closes.get((m.agent_id, m.symbol), (0, 0))
        movers.append(dataclasses.replace(m, closing_fills=closing_fills, wins=wins))
    figures = DayFigures(
        agents=tuple(each),
        positions=positions,
        portfolio=portfolio,
        symbols=symbols_of_days([closed], kept),
        movers=tuple(movers),
        intraday=IntradaySeries(times=(), by_agent={}, portfolio=()),
    )
    return report_of(history, figures, day, capital, given)
