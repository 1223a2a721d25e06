"""Typed records that cross the stage boundaries (fetch -> compute -> render -> deliver).

Nothing raw (JSON dicts, HTTP responses) travels past the stage that read it: each stage hands
the next one of these frozen dataclasses. Amounts are USDT floats; fractions are plain floats;
``None`` means "not computable".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

import numpy as np
import pandas as pd

from reports.calendar import Period, TradingDay
from reports.performance import Benchmark, Drawdown, Mover
from reports.targets import Targets

UNATTRIBUTED = "unattributed"
"""Agent id given to fills whose ``agent_id`` is null (CONTRACT 1.1)."""

FILL_COLUMNS = ("id", "ts", "symbol", "side", "price", "quantity", "notional", "agent_id", "fee")
"""Columns of :class:`Fills`: ``ts`` is int64 nanoseconds since the epoch (UTC), ``side`` is +1 buy / -1 sell."""


@dataclass(frozen=True, slots=True)
class Fill:
    """One validated fill of the trading service (a Trade row, CONTRACT 1.1).

    ``agent_id`` is never null (``unattributed`` stands in), ``fee`` is never null (0 stands in),
    ``notional`` is price x quantity where the service gave none.
    """

    id: int
    timestamp: datetime
    symbol: str
    side: Literal["BUY", "SELL"]
    price: float
    quantity: float
    notional: float
    agent_id: str = UNATTRIBUTED
    fee: float = 0.0


@dataclass(frozen=True)
class Fills:
    """Fills in replay order (timestamp, then id), held column-wise for speed.

    ``frame`` has exactly :data:`FILL_COLUMNS`; build it with :meth:`from_records` or :meth:`from_frame`.
    """

    frame: pd.DataFrame

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Fills:
        """Sort a frame with the fill columns into replay order and wrap it."""
        missing = set(FILL_COLUMNS) - set(frame.columns)
        if missing:
            raise ValueError(f"fill frame lacks columns {sorted(missing)}")
        if not pd.api.types.is_integer_dtype(frame["side"]):
            raise ValueError("fill frame column 'side' must hold +1 (buy) / -1 (sell)")
        ordered = frame.loc[:, list(FILL_COLUMNS)].sort_values(["ts", "id"], kind="stable")
        return cls(ordered.reset_index(drop=True))

    @classmethod
    def from_records(cls, fills: list[Fill] | tuple[Fill, ...]) -> Fills:
        """Build the columnar form from :class:`Fill` records."""
        frame = pd.DataFrame(
            {
                "id": np.array([f.id for f in fills], dtype=np.int64),
                "ts": np.array([_ns(f.timestamp) for f in fills], dtype=np.int64),
                "symbol": [f.symbol for f in fills],
                "side": np.array([1 if f.side == "BUY" else -1 for f in fills], dtype=np.int8),
                "price": np.array([f.price for f in fills], dtype=np.float64),
                "quantity": np.array([f.quantity for f in fills], dtype=np.float64),
                "notional": np.array([f.notional for f in fills], dtype=np.float64),
                "agent_id": [f.agent_id for f in fills],
                "fee": np.array([f.fee for f in fills], dtype=np.float64),
            }
        )
        return cls.from_frame(frame)

    @classmethod
    def empty(cls) -> Fills:
        """No fills at all."""
        return cls.from_records([])

    def __len__(self) -> int:
        return len(self.frame)

    def before(self, end: datetime) -> Fills:
        """The fills strictly before ``end``."""
        return Fills(self.frame[self.frame["ts"] < _ns(end)].reset_index(drop=True))

    def since(self, start: datetime) -> Fills:
        """The fills at or after ``start``."""
        return Fills(self.frame[self.frame["ts"] >= _ns(start)].reset_index(drop=True))

    def then(self, later: Fills) -> Fills:
        """These fills followed by ``later`` ones (all of which come after these in replay order)."""
        return Fills(pd.concat([self.frame, later.frame], ignore_index=True))


def _ns(ts: datetime) -> int:
    if ts.tzinfo is None:
        raise ValueError(f"naive timestamp {ts!r}: give it a time zone")
    return int(pd.Timestamp(ts).value)


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """Display data of an agent from the trading service's ``/dashboard`` (never numbers)."""

    agent_id: str
    name: str | None = None
    emoji: str | None = None


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What the fetch stage hands on: the fills, display data, and what it had to drop."""

    fills: Fills
    agents: dict[str, AgentInfo] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Totals:
    """The day's figures of one agent, or of the portfolio (CONTRACT 3 and 4 ``totals``)."""

    trades: int
    volume: float
    fees: float
    realized_pnl: float
    net_realized_pnl: float
    funding_pnl: float | None
    """Funding paid (< 0) or received by the positions (CONTRACT 3); None when the events could not be read."""
    unrealized_pnl: float
    total_pnl: float
    """net_realized_pnl + funding_pnl (0 when None) + the change of unrealized P&L."""
    closing_fills: int
    wins: int
    win_rate: float | None
    profit_factor: float | None
    capital: float
    equity: float
    unrealized_change: float = 0.0
    """unrealized_pnl(end of day) - unrealized_pnl(end of the day before); not a report.json key."""


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """A position open at the end of the day; ``quantity`` is signed (negative: short)."""

    symbol: str
    quantity: float
    avg_entry_price: float
    mark_price: float
    unrealized_pnl: float


@dataclass(frozen=True, slots=True)
class Risk:
    """Risk over a window of calendar days (CONTRACT 3); ``None`` where not computable."""

    days: int
    pnl: float
    return_: float
    volatility: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown: float
    win_days: float | None


@dataclass(frozen=True, slots=True)
class DailyPoint:
    """One calendar day of an equity series."""

    date: date
    total_pnl: float
    equity: float
    return_: float | None
    trades: int = 0
    """Fills that day (not a report.json key of ``daily``)."""


@dataclass(frozen=True, slots=True)
class AgentReport:
    """One agent's day, positions, risk windows and daily series."""

    agent_id: str
    totals: Totals
    open_positions: tuple[OpenPosition, ...]
    risk: dict[str, Risk]
    daily: tuple[DailyPoint, ...]
    name: str | None = None
    emoji: str | None = None
    drawdowns: tuple[Drawdown, ...] = ()
    """The five deepest drawdowns of the agent's daily series, deepest first."""

    @property
    def active(self) -> bool:
        """True when the agent filled that day or holds an open position at its end."""
        return self.totals.trades > 0 or bool(self.open_positions)


@dataclass(frozen=True, slots=True)
class SymbolReport:
    """The day's figures of one symbol, over every agent."""

    symbol: str
    trades: int
    volume: float
    fees: float
    realized_pnl: float
    net_realized_pnl: float
    funding_pnl: float | None = 0.0
    """Funding of every agent's position in the symbol; None when the events could not be read."""


@dataclass(frozen=True, slots=True)
class IntradaySeries:
    """Cumulative P&L through the report day, sampled on a fixed grid.

    ``times`` are the sample instants (UTC, aware); ``by_agent[agent]`` and ``portfolio`` hold, at each
    instant, net realized P&L so far that day plus the change of unrealized P&L since the day's start.
    The last sample is the end of the day, where the value equals the day's ``total_pnl``.
    """

    times: tuple[datetime, ...]
    by_agent: dict[str, tuple[float, ...]]
    portfolio: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class EquityStats:
    """Equity of the account through the day from ``portfolio_balance_usd``."""

    start: float
    end: float
    min: float
    max: float


@dataclass(frozen=True, slots=True)
class Executions:
    """Execution counts over the day (increase of the counters)."""

    ok: float
    failed: float
    failed_by_reason: dict[str, float]


@dataclass(frozen=True, slots=True)
class Operations:
    """The ``operations`` block of report.json, from Prometheus over the trading day (CONTRACT 4)."""

    equity: EquityStats | None
    max_drawdown: float | None
    executions: Executions
    ai_cost_usd: dict[str, float]
    ai_cost_total_usd: float
    agent_errors: dict[str, float]
    equity_curve: tuple[tuple[datetime, float], ...] = ()
    """Samples of ``portfolio_balance_usd`` through the day, for the equity chart; not a report.json key."""


SourceStatus = Literal["ok", "unavailable", "not configured", "mismatch"]


@dataclass(frozen=True, slots=True)
class Sources:
    """How each data source fared (CONTRACT 4 ``sources``)."""

    trading_service: str = "ok"
    prometheus: str = "not configured"
    reconciliation: str = "not configured"
    funding: str = "ok"
    """``ok``, or ``unavailable`` when a day of the report has no funding (its P&L excludes it)."""


@dataclass(frozen=True, slots=True)
class AgentPeriod:
    """What a period adds for one agent: its best and worst day, and its trade statistics."""

    best_day: DailyPoint | None
    worst_day: DailyPoint | None
    expectancy: float | None
    """Mean net per closing fill."""
    average_win: float | None
    average_loss: float | None
    risk: Risk
    """Over the period's own days."""


@dataclass(frozen=True, slots=True)
class MonthRow:
    """One calendar month of the portfolio's history: compounded return and P&L."""

    year: int
    month: int
    return_: float | None
    pnl: float


@dataclass(frozen=True, slots=True)
class PeriodFigures:
    """The figures a week or a month adds to a report."""

    period: Period
    days: tuple[DailyPoint, ...]
    """The portfolio's days of the period."""
    risk: Risk
    agents: dict[str, AgentPeriod]
    previous: Period
    previous_total_pnl: float | None
    """None when the history does not reach back into the previous period."""
    monthly: tuple[MonthRow, ...]
    best_day: DailyPoint | None
    worst_day: DailyPoint | None
    expectancy: float | None
    """The portfolio's mean net per closing fill over the period (its agents' closing fills together)."""
    average_win: float | None
    average_loss: float | None


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the render stage needs for one trading day."""

    day: TradingDay
    generated_at: datetime
    totals: Totals
    agents: tuple[AgentReport, ...]
    symbols: tuple[SymbolReport, ...]
    daily: tuple[DailyPoint, ...]
    risk: dict[str, Risk]
    intraday: IntradaySeries
    sources: Sources = field(default_factory=Sources)
    operations: Operations | None = None
    warnings: tuple[str, ...] = ()
    targets: Targets = field(default_factory=Targets)
    fills_read: int = 0
    """Fills of the whole history read for this report (the job's own metrics)."""
    period: PeriodFigures | None = None
    """A week's or a month's own figures; None for a day. ``day`` is then the period's last day."""
    movers: tuple[Mover, ...] = ()
    """Every (agent, symbol) pair of the day (or the period), the largest |total_pnl| first."""
    drawdowns: tuple[Drawdown, ...] = ()
    """The five deepest drawdowns of ``daily``, deepest first."""
    benchmark: Benchmark | None = None
    """None when the benchmark symbol has no fill up to the report date."""


@dataclass(frozen=True)
class FundingEvents:
    """The funding events of one symbol (CONTRACT 1.1), oldest first: ``t_ns`` (int64 ns, UTC), ``rate`` and
    ``mark`` (float64) of each. What the trading service's ``/api/exchange/funding-rate`` gave, validated."""

    symbol: str
    t_ns: np.ndarray
    rate: np.ndarray
    mark: np.ndarray
