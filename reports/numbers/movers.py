"""Movers: each (agent, symbol) pair's share of the day's P&L (CONTRACT 3 Movers). Pure: no I/O.

A pair's ``total_pnl`` = its realized − its fees + its funding + its unrealized at the end − its unrealized at the
start (at the marks of the end of the day before). The portfolio's day total is defined as the pairs' totals added
one by one in the order the report lists them (the largest |total_pnl| first), so that a reader who adds the
``movers`` of report.json in order gets the very float of ``totals.total_pnl``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from reports.closed_days import ClosedDay, EngineState, SymbolDay
from reports.models import Mover
from reports.numbers.engine import CHUNK, PositionState
from reports.numbers.funding import FundingFlows

Pair = tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Held:
    """A pair's unrealized P&L and signed quantity at an instant."""

    unrealized: float
    quantity: float


def held_at(state: EngineState) -> dict[Pair, _Held]:
    """Each open position of ``state`` with its unrealized P&L ``(mark − avg_entry) × signed_qty`` at the state's
    own marks (the engine's formula, term for term)."""
    marks = dict(state.marks)
    return {(a, s): _Held((marks[s] - avg) * qty, qty) for a, s, qty, avg in state.positions}


def held_after(positions: Iterable[PositionState]) -> dict[Pair, _Held]:
    """Each position open after the replay, with its unrealized P&L at the last marks."""
    return {(p.agent_id, p.symbol): _Held(p.unrealized_pnl, p.quantity) for p in positions}


def ordered(movers: Iterable[Mover]) -> tuple[Mover, ...]:
    """The largest |total_pnl| first; ties by agent_id, then symbol (CONTRACT 4)."""
    return tuple(sorted(movers, key=lambda m: (-abs(m.total_pnl), m.agent_id, m.symbol)))


def movers_total(movers: Sequence[Mover]) -> float:
    """The movers' totals added one by one in the order given: the day's ``totals.total_pnl``."""
    total = 0.0
    for m in movers:
        total += m.total_pnl
    return total


def _mover(
    pair: Pair,
    realized: float,
    fees: float,
    funding: float | None,
    change: float,
    **counts: float | int | None,
) -> Mover:
    total = realized - fees + (funding or 0.0) + change
    return Mover(pair[0], pair[1], total, realized, fees, funding, change, **counts)  # type: ignore[arg-type]


def day_movers(
    frame: pd.DataFrame,
    realized: np.ndarray,
    closed_qty: np.ndarray,
    nets: np.ndarray,
    flows: FundingFlows | None,
    start: EngineState,
    end: Sequence[PositionState],
    agents: Collection[str],
) -> tuple[Mover, ...]:
    """The movers of one day from its own fills in replay order (``frame`` with their ``realized``, ``closed_qty``
    and closing ``nets``), its funding payments (None: not read), the engine at its start and the positions open
    at its end; only the pairs of ``agents`` (a desk's report keeps its own)."""
    before = {pair: h for pair, h in held_at(start).items() if pair[0] in agents}
    after = {pair: h for pair, h in held_after(end).items() if pair[0] in agents}
    sums: dict[Pair, list[float]] = {}  # trades, realized, fees, closes, wins
    agent_ids, symbols, fees = (frame[name].to_numpy() for name in ("agent_id", "symbol", "fee"))
    # A chunk of fills at a time as Python values: a million at once would hold about 250 MB (issue 22).
    for lo in range(0, len(frame), CHUNK):
        hi = lo + CHUNK
        columns = zip(
            agent_ids[lo:hi].tolist(),
            symbols[lo:hi].tolist(),
            realized[lo:hi].tolist(),
            fees[lo:hi].tolist(),
            closed_qty[lo:hi].tolist(),
            nets[lo:hi].tolist(),
            strict=True,
        )
        for agent, symbol, gained, fee, closed, net in columns:  # replay order: each pair's sums fill by fill
            row = sums.setdefault((agent, symbol), [0, 0.0, 0.0, 0, 0])
            row[0] += 1
            row[1] += gained
            row[2] += fee
            if closed > 0.0:
                row[3] += 1
                row[4] += net > 0.0
    paid = flows.pair_sums() if flows is not None else {}
    pairs = set(sums) | set(before) | set(after) | {p for p in paid if p[0] in agents}
    out = []
    for pair in pairs:
        trades, gained, fee, closes, wins = sums.get(pair, (0, 0.0, 0.0, 0, 0))
        end_u = after[pair] if pair in after else _Held(0.0, 0.0)
        start_u = before[pair] if pair in before else _Held(0.0, 0.0)
        out.append(
            _mover(
                pair,
                gained,
                fee,
                None if flows is None else paid.get(pair, 0.0),
                end_u.unrealized - start_u.unrealized,
                trades=int(trades),
                closing_fills=int(closes),
                wins=int(wins),
                quantity=end_u.quantity,
                quantity_before=start_u.quantity,
            )
        )
    return ordered(out)


def period_movers(days: Sequence[ClosedDay], before: ClosedDay | None, agents: Collection[str]) -> tuple[Mover, ...]:
    """The movers of a week or a month: each pair's sums over the closed ``days`` of the period (date order), from
    their stored per-(agent, symbol) sums and the engine at the end of each day (``before``: the day before the
    period, None when the history starts inside it). A pair's unrealized change of a day is taken from the
    positions at the day's end and at the end of the day before, each at its own day's marks."""
    start = held_at(before.state) if before is not None else {}
    sums: dict[Pair, list] = {}  # trades, realized, fees, funding (None: a day of it unknown), change, total
    first_held: dict[Pair, float] = {}
    for d in days:
        end = held_at(d.state)
        rows: Mapping[Pair, SymbolDay] = {(s.agent_id, s.symbol): s for s in d.symbols}
        for pair in sorted(set(rows) | set(start) | set(end)):
            if pair[0] not in agents:
                continue
            row = rows.get(pair)
            trades = row.trades if row is not None else 0
            gained = row.realized_pnl if row is not None else 0.0
            fee = row.fees if row is not None else 0.0
            funding = (row.funding_pnl if row is not None else 0.0) if d.funding_known else None
            change = (end[pair].unrealized if pair in end else 0.0) - (start[pair].unrealized if pair in start else 0.0)
            day = _mover(pair, gained, fee, funding, change)
            acc = sums.setdefault(pair, [0, 0.0, 0.0, 0.0, 0.0, 0.0])
            first_held.setdefault(pair, start[pair].quantity if pair in start else 0.0)
            acc[0] += trades
            acc[1] += gained
            acc[2] += fee
            acc[3] = None if acc[3] is None or funding is None else acc[3] + funding
            acc[4] += change
            acc[5] += day.total_pnl
        start = end
    last = held_at(days[-1].state) if days else {}
    return ordered(
        Mover(
            pair[0],
            pair[1],
            total,
            gained,
            fee,
            funding,
            change,
            trades=int(trades),
            closing_fills=None,  # a stored day keeps no per-pair closes
            wins=None,
            quantity=last[pair].quantity if pair in last else 0.0,
            quantity_before=first_held[pair],
        )
        for pair, (trades, gained, fee, funding, change, total) in sums.items()
    )
