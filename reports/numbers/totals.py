"""The totals formulas, once: a :class:`~reports.models.Totals` from the sums of a day or of a period.

A day's sums come from its own fills (:mod:`reports.numbers.compute`), a period's from the stored days it spans
(:mod:`reports.numbers.periods`); each caller adds them in its own order, which sets the floats, and this module
turns them into the figures the report shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reports.closed_days import AgentDay
from reports.models import Totals


@dataclass(frozen=True, slots=True)
class Sums:
    """What the totals are made from: fills, volume, fees, gross realized P&L, and the closing fills' nets."""

    trades: int
    volume: float
    fees: float
    realized: float
    closing_fills: int
    wins: int
    """Closing fills with a net above 0."""
    losses: int
    """Closing fills with a net below 0 (a net of exactly 0 is neither)."""
    win_sum: float
    loss_sum: float
    funding: float | None
    """Funding of the positions; None when a day of them has no funding (the events could not be read)."""

    @classmethod
    def of_day(cls, row: AgentDay) -> Sums:
        """One agent's stored sums of one day."""
        return cls(
            row.trades,
            row.volume,
            row.fees,
            row.realized_pnl,
            row.closing_fills,
            row.wins,
            row.losses,
            row.win_sum,
            row.loss_sum,
            row.funding_pnl,
        )

    @classmethod
    def of_days(cls, rows: Iterable[AgentDay]) -> Sums:
        """The stored per-day sums added up, in the order given (date order: the floats depend on it)."""
        parts = [cls.of_day(r) for r in rows]
        funding = None if any(s.funding is None for s in parts) else sum(s.funding or 0.0 for s in parts)
        return cls.added(parts, funding)

    @classmethod
    def added(cls, parts: Sequence[Sums], funding: float | None) -> Sums:
        """Sums of several agents added agent by agent, in the order given (the floats depend on it), with the
        funding given (the caller knows how it is added, and when it is unknown)."""
        return cls(
            trades=sum(s.trades for s in parts),
            volume=sum(s.volume for s in parts),
            fees=sum(s.fees for s in parts),
            realized=sum(s.realized for s in parts),
            closing_fills=sum(s.closing_fills for s in parts),
            wins=sum(s.wins for s in parts),
            losses=sum(s.losses for s in parts),
            win_sum=sum(s.win_sum for s in parts),
            loss_sum=sum(s.loss_sum for s in parts),
            funding=funding,
        )

    @property
    def expectancy(self) -> float | None:
        """The mean net per closing fill."""
        return (self.win_sum + self.loss_sum) / self.closing_fills if self.closing_fills else None

    @property
    def average_win(self) -> float | None:
        """The mean net of a winning close."""
        return self.win_sum / self.wins if self.wins else None

    @property
    def average_loss(self) -> float | None:
        """The mean net of a losing close (below 0)."""
        return self.loss_sum / self.losses if self.losses else None


def totals_of(
    sums: Sums,
    *,
    unrealized: float,
    capital: float,
    equity: float,
    unrealized_before: float = 0.0,
    total_pnl: float | None = None,
) -> Totals:
    """The figures of one agent or of the portfolio from their sums and the unrealized P&L at the end.

    A day's total P&L is its net realized P&L plus its funding (0 when unknown) plus the change of unrealized
    P&L since ``unrealized_before`` (the end of the day before). A period's is given (``total_pnl``: the sum of
    its days' own, as the daily reports showed them); the change of unrealized P&L is then what the net
    realized P&L and the funding leave of it.
    """
    net = sums.realized - sums.fees
    funding = sums.funding or 0.0
    if total_pnl is None:
        total_pnl = net + funding + unrealized - unrealized_before
        change = unrealized - unrealized_before
    else:
        change = total_pnl - net - funding
    return Totals(
        trades=sums.trades,
        volume=sums.volume,
        fees=sums.fees,
        realized_pnl=sums.realized,
        net_realized_pnl=net,
        funding_pnl=sums.funding,
        unrealized_pnl=unrealized,
        total_pnl=total_pnl,
        closing_fills=sums.closing_fills,
        wins=sums.wins,
        win_rate=sums.wins / sums.closing_fills if sums.closing_fills else None,
        profit_factor=sums.win_sum / abs(sums.loss_sum) if sums.losses else None,
        capital=capital,
        equity=equity,
        unrealized_change=change,
    )
