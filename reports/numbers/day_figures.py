"""The report day's own figures beside its totals: the table by symbol and the cumulative P&L through the day.

Pure: from the day's fills replayed (:class:`ReportDay`) and its funding payments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports.calendar import TradingDay
from reports.closed_days import EngineState
from reports.models import IntradaySeries, SymbolReport
from reports.numbers.codes import sorted_codes
from reports.numbers.conventions import INTRADAY_STEP_SECONDS
from reports.numbers.engine import PositionState
from reports.numbers.funding import FundingFlows

NS = 1_000_000_000


@dataclass(frozen=True)
class ReportDay:
    """The report day's own fills replayed: per fill, its agent (index into ``DayMatrix.agents``) and P&L parts;
    the unrealized P&L per agent at each snapshot (the day's start, the intraday grid, its end)."""

    frame: pd.DataFrame
    codes: np.ndarray
    realized: np.ndarray
    closed_qty: np.ndarray
    nets: np.ndarray
    snapshot_ns: np.ndarray
    unrealized: np.ndarray
    positions: tuple[PositionState, ...]
    funding: FundingFlows | None
    """The day's funding payments; None when the events could not be read."""
    start: EngineState = field(default_factory=EngineState)
    """The engine at the day's start: the positions held and the marks of the end of the day before."""


def intraday_grid(day: TradingDay) -> np.ndarray:
    """The instants of the intraday P&L inside the day: every ``INTRADAY_STEP_SECONDS`` after its start (int64 ns)."""
    start_ns, end_ns = int(pd.Timestamp(day.start).value), int(pd.Timestamp(day.end).value)
    return np.arange(start_ns + INTRADAY_STEP_SECONDS * NS, end_ns, INTRADAY_STEP_SECONDS * NS, dtype=np.int64)


def day_symbols(frame: pd.DataFrame, realized: np.ndarray, flows: FundingFlows | None) -> tuple[SymbolReport, ...]:
    """Every symbol with a fill or a funding payment in the day."""
    funding = flows.symbol_sums() if flows is not None else {}
    rows: dict[str, SymbolReport] = {}
    if len(frame):
        # Grouped by small integer codes in name order, each column summed apart (pandas' own sums, so the same
        # floats): a frame of the day's columns grouped by the names would copy them and hash a million strings.
        codes, names = sorted_codes(frame["symbol"], dtype=np.int32)
        trades = np.bincount(codes, minlength=len(names))
        sums = {
            name: pd.Series(values, copy=False).groupby(codes, sort=True).sum().to_numpy()
            for name, values in (
                ("volume", frame["notional"].to_numpy()),
                ("fees", frame["fee"].to_numpy()),
                ("realized", realized),
            )
        }
        for k, symbol in enumerate(names):
            volume, fees, gross = float(sums["volume"][k]), float(sums["fees"][k]), float(sums["realized"][k])
            rows[symbol] = SymbolReport(
                symbol=symbol,
                trades=int(trades[k]),
                volume=volume,
                fees=fees,
                realized_pnl=gross,
                net_realized_pnl=float(sums["realized"][k] - sums["fees"][k]),
                funding_pnl=funding.get(symbol, 0.0) if flows is not None else None,
            )
    for symbol, paid in funding.items():
        if symbol not in rows:
            rows[symbol] = SymbolReport(symbol, 0, 0.0, 0.0, 0.0, 0.0, paid)
    return tuple(rows[symbol] for symbol in sorted(rows))


def intraday_series(own: ReportDay, agents: tuple[str, ...], day: TradingDay) -> IntradaySeries:
    """Net realized P&L so far, funding so far, and the change of unrealized P&L since the start, at each grid
    instant."""
    start_ns = int(pd.Timestamp(day.start).value)
    end_ns = int(pd.Timestamp(day.end).value)
    instants = np.concatenate([[start_ns], intraday_grid(day), [end_ns]])
    snaps = own.snapshot_ns
    # Every instant but the start is a snapshot; the start is the end of the day before, or the first
    # day's midnight, before which nothing was held.
    unreal = np.zeros((len(instants), len(agents)))
    rows = np.searchsorted(snaps, instants)
    for k, (row, instant) in enumerate(zip(rows.tolist(), instants.tolist(), strict=True)):
        if row < len(snaps) and snaps[row] == instant:
            unreal[k] = own.unrealized[row]
    ts_today = own.frame["ts"].to_numpy()
    net_today = own.realized - own.frame["fee"].to_numpy()
    by_agent: dict[str, tuple[float, ...]] = {}
    portfolio = np.zeros(len(instants))
    flows = own.funding
    for a, agent_id in enumerate(agents):
        mine = own.codes == a
        cum = np.concatenate([[0.0], np.cumsum(net_today[mine])])
        realized_so_far = cum[np.searchsorted(ts_today[mine], instants, side="left")]
        values = realized_so_far + unreal[:, a] - unreal[0, a]
        if flows is not None:
            # Funding is paid at its event: a sample at an instant holds the events strictly before it.
            paid = np.array([x == agent_id for x in flows.agent], dtype=bool)
            order = np.argsort(flows.t_ns[paid], kind="stable")
            stamps, amounts = flows.t_ns[paid][order], flows.amount[paid][order]
            values = values + np.concatenate([[0.0], np.cumsum(amounts)])[np.searchsorted(stamps, instants)]
        portfolio += values
        by_agent[agent_id] = tuple(values.tolist())
    times = tuple(pd.Timestamp(int(t), tz="UTC").to_pydatetime() for t in instants)
    return IntradaySeries(times=times, by_agent=by_agent, portfolio=tuple(portfolio.tolist()))
