"""Day by day: close a trading day into what the store keeps, and build a report from closed days.

A run replays only the report day's fills, from the engine's state at the end of the day before, and takes
every earlier day's figures from its :class:`~reports.models.ClosedDay`. The arithmetic is that of one replay
of the whole history (:func:`reports.numbers.compute.build_report`), in the same order, so the floats are equal.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from reports.calendar import TradingDay
from reports.closed_days import AgentDay, EngineState, SymbolDay
from reports.models import Fills, FundingEvents, Report
from reports.numbers.codes import sorted_codes
from reports.numbers.compute import DayMatrix, RunInputs, assemble
from reports.numbers.day_figures import ReportDay, intraday_grid
from reports.numbers.engine import Replay, closing_nets, replay
from reports.numbers.funding import FundingFlows, funding_flows
from reports.settings import CapitalPolicy


def _ns(ts: datetime) -> int:
    return int(pd.Timestamp(ts).value)


def replay_day(fills: Fills, day: TradingDay, start: EngineState, *, intraday: bool = False) -> Replay:
    """The day's own fills replayed from ``start``; snapshots at the day's start and end (and its grid if asked)."""
    bounds = [_ns(day.start), _ns(day.end)]
    snaps = np.unique(np.concatenate([bounds, intraday_grid(day)])) if intraday else np.array(bounds, dtype=np.int64)
    return replay(fills, snaps, start)


def day_funding(
    fills: Fills, result: Replay, start: EngineState, day: TradingDay, events: Mapping[str, FundingEvents] | None
) -> FundingFlows | None:
    """The day's funding payments from its replay (the positions after each fill) and the positions held at its
    start; None when the events could not be read (``events`` None)."""
    if events is None:
        return None
    frame = fills.frame
    held = {(agent, symbol): qty for agent, symbol, qty, _ in start.positions}
    return funding_flows(
        frame["ts"].to_numpy(),
        frame["symbol"].to_numpy(),
        frame["agent_id"].to_numpy(),
        result.position_after,
        held,
        events,
        _ns(day.start),
        _ns(day.end),
    )


def close_day(
    fills: Fills,
    day: TradingDay,
    start: EngineState,
    known: Sequence[str],
    funding: Mapping[str, FundingEvents] | None,
    *,
    intraday: bool = False,
) -> tuple[tuple[AgentDay, ...], tuple[SymbolDay, ...], Replay]:
    """A closed day's rows and its replay (the engine at its end is ``replay.state``), from its own fills
    (``day.start <= ts < day.end``) and the funding events of its symbols (None: they could not be read, and the
    rows' funding is None until a later run completes it).

    With ``intraday`` (the report day, closed before its report is built from the same fills), the replay takes
    the intraday snapshots too, so that :func:`build_report_from` can be given it: one replay of the day, not two.
    The rows are the same either way: the snapshot at the day's end is taken at the same fill, in the same order.
    """
    result = replay_day(fills, day, start, intraday=intraday)
    flows = day_funding(fills, result, start, day, funding)
    nets = closing_nets(fills, result)
    return agent_days(fills, result, nets, known, flows), symbol_days(fills, result, nets, flows), result


def agent_days(
    fills: Fills, result: Replay, nets: np.ndarray, known: Sequence[str], flows: FundingFlows | None
) -> tuple[AgentDay, ...]:
    """Per agent (``known`` and those of the day, sorted): the day's sums, funding, unrealized at its end
    (``nets``: the fills' closing nets, :func:`~reports.numbers.engine.closing_nets`)."""
    frame = fills.frame
    codes = result.agent_code
    n = len(result.agents)
    fee = frame["fee"].to_numpy()
    notional = frame["notional"].to_numpy()
    # np.bincount adds fill by fill, in replay order: the same sums the whole-history replay makes.
    flow = np.bincount(codes, weights=result.realized - fee, minlength=n) if len(frame) else np.zeros(n)
    closes = result.closed_qty > 0.0
    at = {a: i for i, a in enumerate(result.agents)}
    funding = flows.agent_sums() if flows is not None else None
    rows = []
    for agent in sorted(set(known) | set(result.agents)):
        i = at.get(agent)
        mask = codes == i if i is not None else np.zeros(len(frame), dtype=bool)
        closing = mask & closes
        mine = nets[closing]
        rows.append(
            AgentDay(
                agent_id=agent,
                trades=int(np.count_nonzero(mask)),
                # The sums of pandas' Series.sum (NaN as 0, then numpy's pairwise sum), without a frame per agent.
                volume=float(np.nansum(notional[mask])),
                fees=float(np.nansum(fee[mask])),
                realized_pnl=float(result.realized[mask].sum()),
                net_flow=float(flow[i]) if i is not None else 0.0,
                funding_pnl=None if funding is None else funding.get(agent, 0.0),
                unrealized_pnl=float(result.unrealized[-1, i]) if i is not None else 0.0,
                closing_fills=int(np.count_nonzero(closing)),
                wins=int(np.count_nonzero(mine > 0.0)),
                losses=int(np.count_nonzero(mine < 0.0)),
                win_sum=float(mine[mine > 0.0].sum()),
                loss_sum=float(mine[mine < 0.0].sum()),
            )
        )
    return tuple(rows)


def symbol_days(fills: Fills, result: Replay, nets: np.ndarray, flows: FundingFlows | None) -> tuple[SymbolDay, ...]:
    """Per agent and symbol traded or funded that day: trades, volume, fees, gross realized, funding, closes and
    wins (``nets``: the fills' closing nets)."""
    frame = fills.frame
    funding = flows.pair_sums() if flows is not None else {}
    rows: dict[tuple[str, str], SymbolDay] = {}
    if len(frame):
        # Grouped by one integer key in (agent, symbol) name order, each column summed apart (pandas' own sums of
        # grouping by the two names, so the same floats): a frame of the day's columns would copy them, and
        # factorizing a million symbol strings at once sizes a hash table for a million (issue 22).
        symbol_code, symbols = sorted_codes(frame["symbol"], dtype=np.int32)
        m = len(symbols)
        key = result.agent_code.astype(np.int64) * m + symbol_code
        del symbol_code
        sums = {
            name: pd.Series(values, copy=False).groupby(key, sort=True).sum()
            for name, values in (
                ("notional", frame["notional"].to_numpy()),
                ("fee", frame["fee"].to_numpy()),
                ("realized", result.realized),
            )
        }
        keys = sums["realized"].index.to_numpy()
        trades = np.bincount(key)[keys]
        # Each pair's closes and wins, which a day's movers show ("3 of 4 closes in profit").
        closes = result.closed_qty > 0.0
        size = int(keys[-1]) + 1
        closed = np.bincount(key[closes], minlength=size)[keys]
        won = np.bincount(key[closes & (nets > 0.0)], minlength=size)[keys]
        for k, t, v, f, r, c, w in zip(
            keys.tolist(),
            trades.tolist(),
            sums["notional"].to_numpy().tolist(),
            sums["fee"].to_numpy().tolist(),
            sums["realized"].to_numpy().tolist(),
            closed.tolist(),
            won.tolist(),
            strict=True,
        ):
            pair = (result.agents[k // m], str(symbols[k % m]))
            paid = funding.get(pair, 0.0) if flows is not None else None
            rows[pair] = SymbolDay(pair[0], pair[1], int(t), float(v), float(f), float(r), paid, int(c), int(w))
    for pair, paid in funding.items():
        if pair not in rows:
            rows[pair] = SymbolDay(pair[0], pair[1], 0, 0.0, 0.0, 0.0, paid, 0, 0)
    return tuple(rows[pair] for pair in sorted(rows))


def history_of(
    past: Sequence[tuple[object, Sequence[AgentDay]]], today: Sequence[AgentDay], day: TradingDay
) -> DayMatrix:
    """The (agent, day) matrices from the closed days before the report day (oldest first, calendar days
    without a gap) and the report day's own rows."""
    days = [*past, (day.date, today)]
    agents = tuple(sorted({row.agent_id for _, rows in days for row in rows}))
    at = {a: i for i, a in enumerate(agents)}
    shape = (len(agents), len(days))
    flow, unreal, trades, funding = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
    known = np.ones(len(days), dtype=bool)
    first = np.full(len(agents), len(days), dtype=np.int64)
    for d, (_, rows) in enumerate(days):
        for row in rows:
            a = at[row.agent_id]
            flow[a, d], unreal[a, d], trades[a, d] = row.net_flow, row.unrealized_pnl, row.trades
            if row.funding_pnl is None:
                known[d] = False
            else:
                funding[a, d] = row.funding_pnl
            if row.trades and first[a] > d:
                first[a] = d
    dates = tuple(day.date - timedelta(days=len(days) - 1 - k) for k in range(len(days)))
    return DayMatrix(agents, dates, flow, unreal, trades, first, funding, known)


def build_report_from(
    past: Sequence[tuple[object, Sequence[AgentDay]]],
    fills: Fills,
    start: EngineState,
    day: TradingDay,
    capital: CapitalPolicy,
    given: RunInputs,
    *,
    funding: Mapping[str, FundingEvents] | None,
    marks: Sequence[tuple[tuple[str, float], ...]],
    replay: Replay | None = None,
) -> tuple[Report, tuple[AgentDay, ...], Replay]:
    """The report of ``day`` from the closed days before it and its own fills replayed from ``start``, with the
    funding events of its symbols (None: they could not be read) and the marks at the end of each closed day
    (``marks``, one per day of ``past``: their engines' ``state.marks``), which the benchmark is drawn from.

    ``replay``: the day's replay already made to close it (:func:`close_day` with ``intraday``, from these fills
    and ``start``), taken instead of replaying the day again. Also returns the day's own rows and replay, which
    close the day once it has ended.
    """
    stamps = fills.frame["ts"].to_numpy()
    index = fills.frame.index
    inside = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
    if not inside or (len(stamps) and (stamps.min() < _ns(day.start) or stamps.max() >= _ns(day.end))):
        fills = fills.since(day.start).before(day.end)  # (no copy of a day's fills that are all inside it)
    known = [row.agent_id for row in past[-1][1]] if past else []
    if replay is None:
        result = replay_day(fills, day, start, intraday=True)
    elif len(replay.realized) != len(fills) or len(replay.snapshot_ns) != 2 + len(intraday_grid(day)):
        raise ValueError(f"the replay given for {day.date} is not one of its {len(fills)} fills with its intraday grid")
    else:
        result = replay
    flows = day_funding(fills, result, start, day, funding)
    nets = closing_nets(fills, result)
    today = agent_days(fills, result, nets, known, flows)
    if len(marks) != len(past):
        raise ValueError(f"{len(marks)} days of marks for {len(past)} closed days")
    symbol = given.benchmark
    closes = [dict(m).get(symbol, np.nan) for m in (*marks, result.state.marks)]
    history = dataclasses.replace(history_of(past, today, day), benchmark_marks=np.array([np.nan, *closes]))
    at = {a: i for i, a in enumerate(history.agents)}
    remap = np.array([at[a] for a in result.agents], dtype=np.int64)
    columns = np.zeros((len(result.snapshot_ns), len(history.agents)))
    if len(result.agents):
        columns[:, remap] = result.unrealized
    own = ReportDay(
        frame=fills.frame,
        codes=remap[result.agent_code] if len(result.agents) else np.zeros(0, dtype=np.int64),
        realized=result.realized,
        closed_qty=result.closed_qty,
        nets=nets,
        snapshot_ns=result.snapshot_ns,
        unrealized=columns,
        positions=result.positions,
        funding=flows,
        start=start,
    )
    return assemble(history, own, day, capital, given), today, result
