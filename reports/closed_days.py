"""What the store keeps of each closed day: per-agent and per-symbol sums, the engine at its end, digests.

Like :mod:`reports.models`, shared by the stages and importing none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class EngineState:
    """The average-cost engine at an instant: the open positions and the last price of every symbol seen.

    ``positions`` are ``(agent_id, symbol, signed quantity, average entry)``, ``marks`` ``(symbol, price)``,
    both sorted by name.
    """

    positions: tuple[tuple[str, str, float, float], ...] = ()
    marks: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class AgentDay:
    """One agent's figures of one closed day: every sum a later report needs from that day."""

    agent_id: str
    trades: int
    volume: float
    fees: float
    realized_pnl: float
    net_flow: float
    """Σ (realized − fee) fill by fill, the way the daily series adds it (not realized_pnl − fees)."""
    funding_pnl: float | None
    """The day's funding of the agent's positions; None when the funding events could not be read."""
    unrealized_pnl: float
    """At the end of the day."""
    closing_fills: int
    wins: int
    losses: int
    win_sum: float
    """Σ of the positive closing nets."""
    loss_sum: float
    """Σ of the negative closing nets (≤ 0)."""


@dataclass(frozen=True, slots=True)
class SymbolDay:
    """One agent's figures in one symbol on one closed day (a desk's report sums its own agents' rows)."""

    agent_id: str
    symbol: str
    trades: int
    volume: float
    fees: float
    realized_pnl: float
    funding_pnl: float | None
    """A pair with funding and no fill that day has a row too (trades 0)."""
    closing_fills: int | None = None
    """The pair's fills that closed some of its position; None in a day stored by a version before they were kept."""
    wins: int | None = None
    """Of those, the ones with a net above 0 (None likewise)."""


@dataclass(frozen=True, slots=True)
class ClosedDay:
    """A trading day that has ended, as the store keeps it.

    ``agents`` has a row for every agent with a fill up to the end of the day (the day itself or before);
    ``state`` is the engine at the end of the day. ``fills``/``digest`` identify the day's fills and
    ``tail_fills``/``tail_digest`` those of its last hour, which the next run reads again.
    """

    date: date
    agents: tuple[AgentDay, ...]
    symbols: tuple[SymbolDay, ...]
    state: EngineState
    fills: int
    digest: str
    tail_fills: int
    tail_digest: str

    @property
    def funding_known(self) -> bool:
        """False when the day was closed without its funding events (a later run completes it)."""
        return all(row.funding_pnl is not None for row in self.agents)
