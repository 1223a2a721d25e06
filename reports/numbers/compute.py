"""The compute stage: from fills to a :class:`~reports.models.Report` (CONTRACT 3).

It replays the whole history once (:mod:`reports.numbers.engine`), then aggregates per agent and day with
numpy. Pure: no I/O, the clock comes in as ``generated_at``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from reports.calendar import TradingDay
from reports.models import (
    AgentInfo,
    AgentReport,
    DailyPoint,
    Fills,
    FundingEvents,
    IntradaySeries,
    Mover,
    OpenPosition,
    Report,
    Risk,
    SymbolReport,
    Targets,
)
from reports.numbers.benchmark import benchmark, daily_marks
from reports.numbers.conventions import RISK_WINDOWS
from reports.numbers.day_figures import ReportDay, day_symbols, intraday_grid, intraday_series
from reports.numbers.drawdowns import worst_drawdowns
from reports.numbers.engine import closing_nets, replay
from reports.numbers.funding import funding_flows
from reports.numbers.movers import day_movers, movers_total
from reports.numbers.risk import window_risk
from reports.numbers.totals import Sums, totals_of
from reports.settings import DEFAULT_BENCHMARK_SYMBOL, CapitalPolicy

NS = 1_000_000_000


def _midnight_ns(day: date, zone: ZoneInfo) -> int:
    return int(pd.Timestamp(datetime.combine(day, time(0), zone)).value)


@dataclass(frozen=True)
class _Days:
    """Calendar days from the first day with a fill to the report date, and their bounds."""

    dates: tuple[date, ...]
    bounds: np.ndarray  # len(dates) + 1 midnights, int64 ns

    @classmethod
    def spanning(cls, first: date, last: date, zone: ZoneInfo) -> _Days:
        n = (last - first).days + 1
        dates = tuple(first + timedelta(days=k) for k in range(n))
        bounds = np.array([_midnight_ns(d, zone) for d in (*dates, last + timedelta(days=1))], dtype=np.int64)
        return cls(dates, bounds)


@dataclass(frozen=True)
class RunInputs:
    """What one run brings to the numbers besides the fills, the day and the capital: the clock, the agents'
    display data, the fetch's warnings, the targets (``settings.targets``) and a desk's own agents."""

    generated_at: datetime
    agent_info: Mapping[str, AgentInfo] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    targets: Targets = field(default_factory=Targets)
    agents: tuple[str, ...] = ()
    """A desk's report: only these agents (empty: every agent)."""
    benchmark: str = DEFAULT_BENCHMARK_SYMBOL
    """The symbol whose buy and hold the portfolio is compared with (``settings.benchmark_symbol``)."""


@dataclass(frozen=True)
class DayMatrix:
    """Per agent and calendar day, from the first day with a fill to the report date: what the series need.

    Matrices are (agent, day); ``agents`` sorted, ``first_day[a]`` the index of agent ``a``'s first day with a fill.
    """

    agents: tuple[str, ...]
    dates: tuple[date, ...]
    net_flow: np.ndarray
    unrealized: np.ndarray
    trades: np.ndarray
    first_day: np.ndarray
    funding: np.ndarray
    """(agent, day): the day's funding_pnl, 0 where unknown."""
    funding_known: np.ndarray
    """Per day: False when that day's funding events could not be read."""
    benchmark_marks: np.ndarray | None = None
    """The benchmark symbol's mark at the end of the day before the first day, then of each day (NaN: none yet);
    None: not known (no benchmark)."""


def build_report(
    fills: Fills,
    day: TradingDay,
    capital: CapitalPolicy,
    given: RunInputs,
    funding: Mapping[str, FundingEvents] | None = None,
) -> Report:
    """Compute every figure of the report day from one replay of the whole fill history up to its end, and
    the funding events of its symbols over that history (None: they could not be read, for any day).

    The reference: a run from the store of closed days (:func:`build_report_from`) gives the same floats.
    """
    fills = fills.before(day.end)
    zone = ZoneInfo(day.timezone)
    frame = fills.frame
    if len(frame):
        first = pd.Timestamp(int(frame["ts"].iloc[0]), tz="UTC").tz_convert(zone).date()
        days = _Days.spanning(min(first, day.date), day.date, zone)
    else:
        days = _Days.spanning(day.date, day.date, zone)
    n_days = len(days.dates)
    grid = intraday_grid(day)
    # Snapshots: the end of every day (the last one is the report day's end), then the intraday grid; and the
    # report day's own end, which is not a midnight when the day is cut short (the day so far).
    end_ns = np.array([int(pd.Timestamp(day.end).value)], dtype=np.int64)
    snaps = np.unique(np.concatenate([days.bounds[1:], grid, end_ns]))
    result = replay(fills, snaps)
    n_agents = len(result.agents)

    day_idx = np.searchsorted(days.bounds, frame["ts"].to_numpy(), side="right") - 1
    fee = frame["fee"].to_numpy()
    net_flow = _per_agent_day(result.agent_code, day_idx, result.realized - fee, n_agents, n_days)
    end_rows = np.searchsorted(snaps, days.bounds[1:])
    counts = _per_agent_day(result.agent_code, day_idx, np.ones(len(frame)), n_agents, n_days)
    first_day = np.full(n_agents, n_days, dtype=np.int64)
    np.minimum.at(first_day, result.agent_code, day_idx)
    flows = None
    paid = np.zeros((n_agents, n_days))
    if funding is not None:
        ts, agents = frame["ts"].to_numpy(), frame["agent_id"].to_numpy()
        flows = funding_flows(ts, frame["symbol"].to_numpy(), agents, result.position_after, {}, funding, 0, end_ns[0])
        at = {a: i for i, a in enumerate(result.agents)}
        for d in range(n_days):  # day by day, as the store closes them: the same sums in the same order
            for agent, value in flows.between(int(days.bounds[d]), int(days.bounds[d + 1])).agent_sums().items():
                paid[at[agent], d] = value
        flows = flows.between(int(days.bounds[-2]), int(end_ns[0]))
    known = np.full(n_days, funding is not None)
    mine = (frame["symbol"] == given.benchmark).to_numpy()
    marks = daily_marks(frame["ts"].to_numpy()[mine], frame["price"].to_numpy()[mine], days.bounds)
    history = DayMatrix(
        result.agents, days.dates, net_flow, result.unrealized[end_rows].T, counts, first_day, paid, known, marks
    )
    today = day_idx == n_days - 1
    nets = closing_nets(fills, result)
    own = ReportDay(
        frame=frame[today],
        codes=result.agent_code[today],
        realized=result.realized[today],
        closed_qty=result.closed_qty[today],
        nets=nets[today],
        snapshot_ns=snaps,
        unrealized=result.unrealized,
        positions=result.positions,
        funding=flows,
        start=replay(fills.before(day.start), []).state,  # the reference replays the days before once more
    )
    return assemble(history, own, day, capital, given)


def assemble(history: DayMatrix, own: ReportDay, day: TradingDay, capital: CapitalPolicy, given: RunInputs) -> Report:
    """The report from the per-day history (the report day included, last) and the report day's own replay.

    ``given.agents`` limits it to those agents (a desk's report): their rows are those of the whole report, the
    totals and the capital theirs; the marks stay those of the whole market.
    """
    if given.agents:
        history, own = _only(history, own, set(given.agents))
    agents = history.agents
    known = bool(history.funding_known[-1])
    frame = own.frame
    # The columns the sums need, masked one agent at a time (a copy of the day's frame per agent would hold them
    # all twice at a million fills).
    notional, fee = frame["notional"].to_numpy(), frame["fee"].to_numpy()
    sums = []
    for a in range(len(agents)):
        mask = own.codes == a
        paid = float(history.funding[a, -1]) if known else None
        sums.append(_sums(notional[mask], fee[mask], own.realized[mask], own.closed_qty[mask], own.nets[mask], paid))
    day_figures = DayFigures(
        agents=tuple(sums),
        positions=tuple(tuple(_open_position(p) for p in own.positions if p.agent_id == a) for a in agents),
        portfolio=_sums(
            notional,
            fee,
            own.realized,
            own.closed_qty,
            own.nets,
            float(history.funding[:, -1].sum()) if known else None,
        ),
        symbols=day_symbols(frame, own.realized, own.funding),
        movers=day_movers(frame, own.realized, own.closed_qty, own.nets, own.funding, own.start, own.positions, agents),
        intraday=intraday_series(own, agents, day),
    )
    return report_of(history, day_figures, day, capital, given)


@dataclass(frozen=True)
class DayFigures:
    """What the report day adds to its history: the sums of each agent (in ``history.agents`` order) and of the
    portfolio, the positions open at its end, its symbols, movers and intraday series."""

    agents: tuple[Sums, ...]
    positions: tuple[tuple[OpenPosition, ...], ...]
    portfolio: Sums
    symbols: tuple[SymbolReport, ...]
    movers: tuple[Mover, ...]
    intraday: IntradaySeries


def report_of(
    history: DayMatrix, figures: DayFigures, day: TradingDay, capital: CapitalPolicy, given: RunInputs
) -> Report:
    """The report from the per-day history (a desk's agents only, when it is one) and the report day's figures."""
    info = dict(given.agent_info)
    agents = history.agents
    n_agents = len(agents)
    unreal_end = history.unrealized
    unreal_prev = np.concatenate([np.zeros((n_agents, 1)), unreal_end[:, :-1]], axis=1)
    total = history.net_flow + history.funding + unreal_end - unreal_prev
    first_day = history.first_day
    caps = np.array([capital.for_agent(a) for a in agents], dtype=np.float64)
    agent_reports = []
    for a, agent_id in enumerate(agents):
        dates = history.dates[first_day[a] :]
        series = _series(dates, total[a, first_day[a] :], history.trades[a, first_day[a] :], caps[a])
        totals = totals_of(
            figures.agents[a],
            unrealized=float(unreal_end[a, -1]),
            unrealized_before=float(unreal_prev[a, -1]),
            capital=float(caps[a]),
            equity=series[-1].equity,
        )
        shown = info.get(agent_id)
        agent_reports.append(
            AgentReport(
                agent_id=agent_id,
                totals=totals,
                open_positions=figures.positions[a],
                risk=_risk_windows(series, day.date),
                daily=series,
                name=shown.name if shown else None,
                emoji=shown.emoji if shown else None,
                drawdowns=worst_drawdowns(series, float(caps[a]), day.date),
            )
        )

    portfolio_capital = float(caps.sum())
    daily = _series(history.dates, total.sum(axis=0), history.trades.sum(axis=0), portfolio_capital) if n_agents else ()
    totals = totals_of(
        figures.portfolio,
        unrealized=float(unreal_end[:, -1].sum()) if n_agents else 0.0,
        unrealized_before=float(unreal_prev[:, -1].sum()) if n_agents else 0.0,
        capital=portfolio_capital,
        equity=daily[-1].equity if daily else portfolio_capital,
    )
    # The day's total is its movers' totals added in the order the report lists them (CONTRACT 3 Movers): equal,
    # to the last bit, to what a reader of report.json adds up; the other figures are unchanged.
    totals = dataclasses.replace(totals, total_pnl=movers_total(figures.movers))
    marks = history.benchmark_marks
    return Report(
        day=day,
        generated_at=given.generated_at,
        totals=totals,
        agents=tuple(agent_reports),
        symbols=figures.symbols,
        daily=daily,
        risk=_risk_windows(daily, day.date),
        intraday=figures.intraday,
        warnings=given.warnings,
        targets=given.targets,
        movers=figures.movers,
        drawdowns=worst_drawdowns(daily, portfolio_capital, day.date),
        benchmark=benchmark(given.benchmark, daily, marks, day.date) if marks is not None and daily else None,
    )


def only_agents(history: DayMatrix, keep: set[str]) -> DayMatrix:
    """The history of the agents in ``keep`` (a desk's), from the first day one of them filled."""
    idx = np.array([i for i, a in enumerate(history.agents) if a in keep], dtype=np.int64)
    first = int(history.first_day[idx].min()) if len(idx) else len(history.dates) - 1
    first = min(first, len(history.dates) - 1)
    return DayMatrix(
        agents=tuple(history.agents[i] for i in idx),
        dates=history.dates[first:],
        net_flow=history.net_flow[idx, first:],
        unrealized=history.unrealized[idx, first:],
        trades=history.trades[idx, first:],
        first_day=history.first_day[idx] - first,
        funding=history.funding[idx, first:],
        funding_known=history.funding_known[first:],
        benchmark_marks=history.benchmark_marks[first:] if history.benchmark_marks is not None else None,
    )


def _only(history: DayMatrix, own: ReportDay, keep: set[str]) -> tuple[DayMatrix, ReportDay]:
    """The history and the report day of the agents in ``keep``."""
    idx = np.array([i for i, a in enumerate(history.agents) if a in keep], dtype=np.int64)
    at = np.full(len(history.agents), -1, dtype=np.int64)
    at[idx] = np.arange(len(idx))
    mask = np.isin(own.codes, idx)
    day = ReportDay(
        frame=own.frame[mask],
        codes=at[own.codes[mask]],
        realized=own.realized[mask],
        closed_qty=own.closed_qty[mask],
        nets=own.nets[mask],
        snapshot_ns=own.snapshot_ns,
        unrealized=own.unrealized[:, idx],
        positions=tuple(p for p in own.positions if p.agent_id in keep),
        funding=own.funding.only(keep) if own.funding is not None else None,
        start=own.start,
    )
    return only_agents(history, keep), day


def _per_agent_day(agent: np.ndarray, day_idx: np.ndarray, values: np.ndarray, n_agents: int, n_days: int):
    flat = np.bincount(agent * n_days + day_idx, weights=values, minlength=n_agents * n_days)
    return flat.reshape(n_agents, n_days)


def _series(dates: tuple[date, ...], total: np.ndarray, trades: np.ndarray, capital: float) -> tuple[DailyPoint, ...]:
    """equity(d) = equity(d-1) + total_pnl(d), from ``capital``; return(d) = total_pnl(d) / equity(d-1)."""
    equity = capital + np.cumsum(total)
    before = np.concatenate([[capital], equity[:-1]])
    rows = zip(dates, total.tolist(), equity.tolist(), before.tolist(), trades.tolist(), strict=True)
    return tuple(
        DailyPoint(date=d, total_pnl=pnl, equity=eq, return_=pnl / prev if prev != 0 else None, trades=int(n))
        for d, pnl, eq, prev, n in rows
    )


def _risk_windows(series: tuple[DailyPoint, ...], report_date: date) -> dict[str, Risk]:
    out = {}
    for name, n in RISK_WINDOWS.items():
        first = report_date - timedelta(days=n - 1)
        window = [p for p in series if p.date >= first]
        pnl = np.array([p.total_pnl for p in window], dtype=np.float64)
        r = np.array([np.nan if p.return_ is None else p.return_ for p in window], dtype=np.float64)
        out[name] = window_risk(pnl, r)
    return out


def _sums(
    notional: np.ndarray,
    fee: np.ndarray,
    realized: np.ndarray,
    closed_qty: np.ndarray,
    nets: np.ndarray,
    funding: float | None,
) -> Sums:
    """The day's sums of some fills (pandas' sums of fees and volume, numpy's of realized P&L and of the nets),
    and the day's funding."""
    closing = closed_qty > 0.0
    closing_nets = nets[closing]
    won = closing_nets[closing_nets > 0.0]
    lost = closing_nets[closing_nets < 0.0]
    return Sums(
        trades=len(notional),
        volume=float(pd.Series(notional, copy=False).sum()),
        fees=float(pd.Series(fee, copy=False).sum()),
        realized=float(realized.sum()),
        closing_fills=int(np.count_nonzero(closing)),
        wins=len(won),
        losses=len(lost),
        win_sum=float(won.sum()),
        loss_sum=float(lost.sum()),
        funding=funding,
    )


def _open_position(p) -> OpenPosition:
    return OpenPosition(
        symbol=p.symbol,
        quantity=p.quantity,
        avg_entry_price=p.avg_entry_price,
        mark_price=p.mark_price,
        unrealized_pnl=p.unrealized_pnl,
    )
