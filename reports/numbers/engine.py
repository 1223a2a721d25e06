"""The P&L engine: replays fills by average cost (CONTRACT 3), one pass, no pandas per row.

Pure: it takes fills in replay order and the instants at which to take snapshots, and returns
arrays. The aggregation into days, agents and report figures lives in :mod:`reports.numbers.compute`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reports.closed_days import EngineState
from reports.models import Fills
from reports.numbers.codes import sorted_codes

FLAT_EPSILON = 1e-9
_NEVER = 2**63 - 1  # a snapshot instant after every fill
"""A position whose absolute quantity falls below this after a fill is flat (CONTRACT 3)."""
CHUNK = 1 << 14
"""Fills replayed per batch of Python lists: a million at once would hold about 200 MB of floats and ints, a batch
of 65,536 about 13 MB; a smaller one costs no time (the lists are made in C either way)."""


@dataclass(frozen=True)
class PositionState:
    """An open position after the last fill replayed."""

    agent_id: str
    symbol: str
    quantity: float
    avg_entry_price: float
    mark_price: float

    @property
    def unrealized_pnl(self) -> float:
        """``(mark - avg_entry) * signed_qty``."""
        return (self.mark_price - self.avg_entry_price) * self.quantity


@dataclass(frozen=True)
class Replay:
    """What a replay yields.

    ``realized[i]`` and ``closed_qty[i]`` belong to fill ``i``; ``unrealized[j, a]`` is the unrealized
    P&L of agent ``agents[a]`` at ``snapshot_ns[j]`` (fills strictly before that instant, marks from the
    last fill of each symbol before it). ``positions`` are those open after the last fill.
    """

    agents: tuple[str, ...]
    agent_code: np.ndarray
    realized: np.ndarray
    closed_qty: np.ndarray
    snapshot_ns: np.ndarray
    unrealized: np.ndarray
    positions: tuple[PositionState, ...]
    state: EngineState
    """Where the replay ended: every open position and the last price of every symbol seen."""
    position_after: np.ndarray
    """``position_after[i]``: the signed quantity of fill ``i``'s (agent, symbol) position after it (0 when flat):
    what a funding event after that fill and before the next one charges."""


def replay(fills: Fills, snapshot_ns: np.ndarray | list[int], start: EngineState | None = None) -> Replay:
    """Replay fills by average cost from ``start`` (default: nothing held) and take unrealized-P&L snapshots.

    Per (agent, symbol), with signed position ``p`` and fill of signed quantity ``q`` at price ``x``:
    growing (``p == 0`` or same sign) moves the entry to ``(avg*|p| + x*|q|) / |p+q|``;
    shrinking realizes ``(x - avg) * c`` for a long, ``(avg - x) * c`` for a short, with
    ``c = min(|q|, |p|)``; the rest of a larger fill opens the other way at ``x``.
    ``snapshot_ns`` must be sorted ascending (int64 nanoseconds, UTC). Replaying days one after the other,
    each from the state the one before ended in, gives the very same floats as one replay of them all.
    """
    frame = fills.frame
    n = len(frame)
    snaps = np.asarray(snapshot_ns, dtype=np.int64)
    start = start or EngineState()
    # int32 codes, not 8 bytes a fill: a day holds a few agents and symbols (the sums that take ``agent_code``
    # as an index or multiply it by a count of days or symbols stay far below 2**31).
    agent_code, agents = sorted_codes(frame["agent_id"], {p[0] for p in start.positions}, np.int32)
    symbol_code, symbols = sorted_codes(frame["symbol"], {m[0] for m in start.marks}, np.int32)
    n_agents, n_symbols = len(agents), max(len(symbols), 1)
    all_qty = frame["quantity"].to_numpy()
    all_sides = frame["side"].to_numpy()
    all_prices = frame["price"].to_numpy()
    all_times = frame["ts"].to_numpy()

    pos_qty = [0.0] * (n_agents * n_symbols)
    pos_avg = [0.0] * (n_agents * n_symbols)
    marks = [0.0] * n_symbols
    open_keys: set[int] = set()
    agent_at = {a: i for i, a in enumerate(agents)}
    symbol_at = {x: i for i, x in enumerate(symbols)}
    for symbol, price in start.marks:
        marks[symbol_at[symbol]] = price
    for agent, symbol, qty, avg in start.positions:
        key = agent_at[agent] * n_symbols + symbol_at[symbol]
        pos_qty[key], pos_avg[key] = qty, avg
        open_keys.add(key)
    realized_out = np.zeros(n)
    closed_out = np.zeros(n)
    after_out = np.zeros(n)
    unrealized = np.zeros((len(snaps), n_agents))
    snap_list = [*snaps.tolist(), _NEVER]
    snap_i = 0
    next_snap = snap_list[0]

    def snapshot(row: np.ndarray) -> None:
        # Sorted keys are (agent, symbol) in name order, whatever else the replay saw: the same sums in the
        # same order, so a replay from a checkpoint gives the floats of a replay from the first fill.
        for key in sorted(open_keys):
            row[key // n_symbols] += (marks[key % n_symbols] - pos_avg[key]) * pos_qty[key]

    # The hot loop: plain lists and floats, local names only (about 1 µs a fill), a chunk of fills at a time:
    # lists of a million fills as Python floats and ints would take about 200 MB.
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        # Keys and signed quantities a batch at a time: whole columns of them would be 16 MB more at a million fills.
        keys = (agent_code[lo:hi].astype(np.int64) * n_symbols + symbol_code[lo:hi]).tolist()
        signed = (all_qty[lo:hi] * all_sides[lo:hi]).tolist()
        prices = all_prices[lo:hi].tolist()
        times = all_times[lo:hi].tolist()
        sym_codes = symbol_code[lo:hi].tolist()
        realized = [0.0] * (hi - lo)
        closed = [0.0] * (hi - lo)
        after = [0.0] * (hi - lo)
        for i, t, key, q, x, sym in zip(range(hi - lo), times, keys, signed, prices, sym_codes, strict=True):
            if t >= next_snap:
                while t >= snap_list[snap_i]:
                    snapshot(unrealized[snap_i])
                    snap_i += 1
                next_snap = snap_list[snap_i]
            p = pos_qty[key]
            new = p + q
            if p == 0.0 or (p > 0.0) == (q > 0.0):
                # Opens or grows: p and q share a sign, so the signed weights give the quantity-weighted mean.
                pos_avg[key] = (pos_avg[key] * p + x * q) / new
            else:
                avg = pos_avg[key]
                if p > 0.0:
                    if new >= 0.0:
                        c = -q
                    else:  # flips to short: closes all of p, the rest opens at x
                        c = p
                        pos_avg[key] = x
                    realized[i] = (x - avg) * c
                else:
                    if new <= 0.0:
                        c = q
                    else:  # flips to long
                        c = -p
                        pos_avg[key] = x
                    realized[i] = (avg - x) * c
                closed[i] = c
            marks[sym] = x
            if -FLAT_EPSILON < new < FLAT_EPSILON:
                pos_qty[key] = 0.0
                pos_avg[key] = 0.0
                open_keys.discard(key)
            else:
                pos_qty[key] = new
                after[i] = new
                open_keys.add(key)
        realized_out[lo:hi] = realized
        closed_out[lo:hi] = closed
        after_out[lo:hi] = after
    while snap_list[snap_i] != _NEVER:
        snapshot(unrealized[snap_i])
        snap_i += 1

    positions = tuple(
        PositionState(
            agent_id=str(agents[key // n_symbols]),
            symbol=str(symbols[key % n_symbols]),
            quantity=pos_qty[key],
            avg_entry_price=pos_avg[key],
            mark_price=marks[key % n_symbols],
        )
        for key in sorted(open_keys)
    )
    state = EngineState(
        positions=tuple((p.agent_id, p.symbol, p.quantity, p.avg_entry_price) for p in positions),
        marks=tuple((str(symbols[i]), marks[i]) for i in range(len(symbols))),
    )
    return Replay(
        agents=tuple(str(a) for a in agents),
        agent_code=agent_code,
        realized=realized_out,
        closed_qty=closed_out,
        snapshot_ns=snaps,
        unrealized=unrealized,
        positions=positions,
        state=state,
        position_after=after_out,
    )


def closing_nets(fills: Fills, result: Replay) -> np.ndarray:
    """Net of each fill as a closing fill: ``realized - fee * closed_qty / quantity`` (0 where nothing closed)."""
    fee = fills.frame["fee"].to_numpy()
    qty = fills.frame["quantity"].to_numpy()
    # In place, the operations of ``realized - fee * closed_qty / qty`` in their order (the same floats): one
    # array of a fill's size, not four.
    nets = np.multiply(fee, result.closed_qty)
    np.divide(nets, qty, out=nets)
    np.subtract(result.realized, nets, out=nets)
    nets[~(result.closed_qty > 0.0)] = 0.0
    return nets
