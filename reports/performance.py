"""Records of where the P&L came from and how it compares: each (agent, symbol) pair's share (movers), the drawdowns
of an equity series, the benchmark. Part of the bottom like :mod:`reports.models` (which carries them on a
``Report``), importing none of the stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class Mover:
    """One (agent, symbol) pair's share of a day's or a period's P&L (CONTRACT 3 Movers).

    ``total_pnl`` = ``realized_pnl`` − ``fees`` + ``funding_pnl`` (0 when None) + ``unrealized_change``.
    """

    agent_id: str
    symbol: str
    total_pnl: float
    realized_pnl: float
    fees: float
    funding_pnl: float | None
    """None when the funding events could not be read."""
    unrealized_change: float
    """Unrealized P&L at the end minus at the start (at the marks of the end of the day before)."""
    trades: int = 0
    """Fills of the pair (not a report.json key)."""
    closing_fills: int | None = 0
    """Its fills that shrank the position (not a report.json key); None for a period (not stored per pair)."""
    wins: int | None = 0
    """Its closing fills with a net above 0 (not a report.json key); None for a period."""
    quantity: float = 0.0
    """Signed quantity held at the end (not a report.json key): long, short or flat."""
    quantity_before: float = 0.0
    """Signed quantity held at the start (not a report.json key)."""


@dataclass(frozen=True, slots=True)
class Drawdown:
    """One drawdown of an equity series (CONTRACT 3 Drawdowns): ``end`` None while it has not recovered."""

    start: date
    valley: date
    end: date | None
    days: int
    """From ``start`` to ``end`` (to the report date while open), both included."""
    depth: float
    """Lowest equity ÷ peak − 1 (≤ 0)."""


@dataclass(frozen=True, slots=True)
class BenchmarkWindow:
    """The portfolio against buy and hold over one risk window (CONTRACT 3 Benchmark); None: not computable."""

    days: int
    return_: float | None
    excess_return: float | None
    beta: float | None
    alpha: float | None
    correlation: float | None


@dataclass(frozen=True, slots=True)
class Benchmark:
    """Buy and hold of ``symbol`` from the fills' own marks."""

    symbol: str
    windows: dict[str, BenchmarkWindow]
    closes: tuple[tuple[date, float], ...] = ()
    """The symbol's mark at the end of each day of the portfolio's series that has one (for the equity chart)."""
