"""Funding of perpetual futures, attributed to each agent by its own positions (CONTRACT 3, Funding).

At a funding event of a symbol (instant t, rate ρ, mark m) every (agent, symbol) position open at t pays
``q × m × ρ``, with q its signed quantity after every fill strictly before t: a fill at exactly t comes after the
event. The agent's ``funding_pnl`` for the event is ``−q × m × ρ``: a long pays when ρ > 0, a short receives.
Funding is linear in the position, so the agents' shares of an event add up to the account's ledger row.
Pure: no I/O, arrays in and out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from reports.models import FundingEvents
from reports.numbers.codes import sorted_codes


@dataclass(frozen=True)
class FundingFlows:
    """Every payment of a span, one per (event, position): ``amount[k]`` is the funding_pnl of agent
    ``agent[k]`` in ``symbol[k]`` at ``t_ns[k]``. Ordered by (agent, symbol) in name order, then time."""

    agent: tuple[str, ...]
    symbol: tuple[str, ...]
    t_ns: np.ndarray
    amount: np.ndarray

    def between(self, lo_ns: int, hi_ns: int) -> FundingFlows:
        """The payments with ``lo_ns <= t < hi_ns`` (a day of a longer span), in the same order."""
        keep = (self.t_ns >= lo_ns) & (self.t_ns < hi_ns)
        idx = np.flatnonzero(keep).tolist()
        return FundingFlows(
            tuple(self.agent[i] for i in idx), tuple(self.symbol[i] for i in idx), self.t_ns[keep], self.amount[keep]
        )

    def only(self, agents: set[str]) -> FundingFlows:
        """The payments of ``agents`` (a desk's report)."""
        idx = [i for i, a in enumerate(self.agent) if a in agents]
        return FundingFlows(
            tuple(self.agent[i] for i in idx), tuple(self.symbol[i] for i in idx), self.t_ns[idx], self.amount[idx]
        )

    def symbol_sums(self) -> dict[str, float]:
        """Per symbol: its pairs' sums added in agent name order."""
        out: dict[str, float] = {}
        for (_, symbol), total in sorted(self.pair_sums().items()):
            out[symbol] = out.get(symbol, 0.0) + total
        return out

    def pair_sums(self) -> dict[tuple[str, str], float]:
        """Per (agent, symbol): the sum of its payments, added in time order."""
        out: dict[tuple[str, str], float] = {}
        for agent, symbol, amount in zip(self.agent, self.symbol, self.amount.tolist(), strict=True):
            out[(agent, symbol)] = out.get((agent, symbol), 0.0) + amount
        return out

    def agent_sums(self) -> dict[str, float]:
        """Per agent: its pairs' sums added in symbol name order."""
        out: dict[str, float] = {}
        for (agent, _), total in sorted(self.pair_sums().items()):
            out[agent] = out.get(agent, 0.0) + total
        return out


def funding_flows(
    ts: np.ndarray,
    symbols: Sequence[str] | np.ndarray,
    agents: Sequence[str] | np.ndarray,
    position_after: np.ndarray,
    held: Mapping[tuple[str, str], float],
    events: Mapping[str, FundingEvents],
    lo_ns: int,
    hi_ns: int,
) -> FundingFlows:
    """The funding payments of the events with ``lo_ns <= t < hi_ns``.

    ``ts``, ``symbols``, ``agents`` and ``position_after`` describe the span's fills in replay order (the signed
    quantity of the fill's (agent, symbol) position after it, as the engine left it); ``held`` the positions
    open before the first of them (the engine's state at the span's start). A position with no fill before an
    event holds its ``held`` quantity; a flat one pays nothing.
    """
    ts = np.asarray(ts, dtype=np.int64)
    # Small integer codes, not the names: comparing a million names symbol by symbol, or a set of a million
    # (agent, symbol) tuples, took a few tenths of a second and some 30 MB at a million fills.
    sym_code, sym_names = sorted_codes(np.asarray(symbols, dtype=object), dtype=np.int32)
    who_code, who_names = sorted_codes(np.asarray(agents, dtype=object), dtype=np.int32)
    n_sym = max(len(sym_names), 1)
    # One code per (agent, symbol): a pair's fills are one comparison away, with no index kept per symbol.
    pair_code = who_code.astype(np.int32 if len(who_names) * n_sym < 2**31 else np.int64) * n_sym + sym_code
    del who_code, sym_code
    traded = np.flatnonzero(np.bincount(pair_code, minlength=len(who_names) * n_sym))
    pairs = {(a, s) for (a, s), q in held.items() if q != 0.0}
    pairs |= {(who_names[k // n_sym], sym_names[k % n_sym]) for k in traded.tolist()}
    at_symbol = {name: k for k, name in enumerate(sym_names)}
    at_agent = {name: k for k, name in enumerate(who_names)}
    out_agent: list[str] = []
    out_symbol: list[str] = []
    out_t: list[np.ndarray] = []
    out_amount: list[np.ndarray] = []
    for agent, symbol in sorted(pairs):
        series = events.get(symbol)
        if series is None:
            continue
        inside = (series.t_ns >= lo_ns) & (series.t_ns < hi_ns)
        if not inside.any():
            continue
        t, rate, mark = series.t_ns[inside], series.rate[inside], series.mark[inside]
        a, k = at_agent.get(agent), at_symbol.get(symbol)
        mine = np.flatnonzero(pair_code == a * n_sym + k) if a is not None and k is not None else np.zeros(0, np.intp)
        before = np.searchsorted(ts[mine], t, side="left")  # fills strictly before each event
        start_qty = held.get((agent, symbol), 0.0)
        qty = (
            np.where(before > 0, position_after[mine][np.maximum(before - 1, 0)], start_qty)
            if len(mine)
            else (np.full(len(t), start_qty))
        )
        paid = qty != 0.0
        if not paid.any():
            continue
        out_agent += [agent] * int(paid.sum())
        out_symbol += [symbol] * int(paid.sum())
        out_t.append(t[paid])
        out_amount.append(-qty[paid] * mark[paid] * rate[paid])
    return FundingFlows(
        agent=tuple(out_agent),
        symbol=tuple(out_symbol),
        t_ns=np.concatenate(out_t) if out_t else np.zeros(0, dtype=np.int64),
        amount=np.concatenate(out_amount) if out_amount else np.zeros(0),
    )
