"""Deterministic generated fills, column-wise, for the benchmark.

Each day is drawn from its own seeded generator (seed, day), so a day's fills never depend on which
other days are generated: the history of a next-day run is byte for byte the history of the day before.
Prices follow a smooth daily level per symbol joined by a random intraday bridge, so positions opened
late in a day stay open over midnight at a continuous price; several fills often share one timestamp,
and the first instant of every day is exactly midnight (the boundary that belongs to the new day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

# (symbol, base price, price decimals, quantity decimals)
SYMBOLS: tuple[tuple[str, float, int, int], ...] = (
    ("BTCUSDT", 64000.0, 1, 3),
    ("ETHUSDT", 3400.0, 2, 3),
    ("SOLUSDT", 150.0, 3, 2),
    ("BNBUSDT", 580.0, 2, 2),
    ("XRPUSDT", 0.52, 4, 1),
    ("DOGEUSDT", 0.13, 5, 0),
    ("ADAUSDT", 0.45, 4, 0),
    ("AVAXUSDT", 28.0, 3, 2),
    ("LINKUSDT", 14.5, 3, 2),
    ("ARBUSDT", 0.95, 4, 1),
)
SYMBOL_NAMES = tuple(s[0] for s in SYMBOLS)

# (agent id, share of the fills, model, strategy); the HFT agent fills most orders.
AGENTS: tuple[tuple[str, float, str, str], ...] = (
    ("vpin-hft", 0.55, "rule-based", "vpin_market_making"),
    ("volume-microstructure-agent", 0.15, "gemini-2.5-flash", "order_flow"),
    ("market-prediction-agent", 0.10, "gemini-2.5-pro", "forecast"),
    ("trend-momentum-agent", 0.08, "gemini-2.5-flash", "momentum"),
    ("strategy-optimization-agent", 0.05, "gemini-2.5-pro", "optimizer"),
    ("financial-sentiment-agent", 0.04, "gemini-2.5-flash-lite", "sentiment"),
)
AGENT_NAMES = tuple(a[0] for a in AGENTS)
NULL_AGENT_SHARE = 0.03
"""Share of fills with ``agent_id`` null (they belong to ``unattributed``)."""

DAY_US = 86_400_000_000
_ID_BASE = date(2020, 1, 1).toordinal()
_ID_STRIDE = 10_000_000
"""Ids are ``(day - 2020-01-01) * 10M + n``: unique, rising with time, fixed per day."""


@dataclass(frozen=True)
class Tape:
    """Fills sorted by (ts, id). ``agent`` is an index into :data:`AGENT_NAMES` (-1: null);
    ``notional``, ``fee`` and ``slippage_bps`` are NaN where the service gives null."""

    id: np.ndarray
    ts: np.ndarray  # int64 ns since the epoch, whole microseconds
    symbol: np.ndarray  # int8 index into SYMBOL_NAMES
    side: np.ndarray  # int8 +1 buy / -1 sell
    price: np.ndarray
    quantity: np.ndarray
    notional: np.ndarray
    agent: np.ndarray
    fee: np.ndarray
    slippage_bps: np.ndarray

    def __len__(self) -> int:
        return len(self.id)

    def count_between(self, start: datetime, end: datetime) -> int:
        """Fills with ``start <= ts < end``."""
        lo, hi = np.searchsorted(self.ts, [_ns(start), _ns(end)], side="left")
        return int(hi - lo)


def _ns(ts: datetime) -> int:
    return (ts - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1000


def _log_level(day_ordinal: int) -> np.ndarray:
    """Smooth daily log-price level per symbol: a deterministic function of the day alone."""
    phase = np.arange(len(SYMBOLS), dtype=np.float64)
    k = float(day_ordinal)
    return 0.06 * np.sin(k / 11.0 + phase) + 0.03 * np.sin(k / 3.7 + 2.0 * phase)


def generate_day(day: date, n: int, seed: int = 7) -> Tape:
    """``n`` fills on the UTC day ``day``, drawn from a generator seeded by (seed, day)."""
    rng = np.random.default_rng([seed, day.toordinal()])
    n_sym = len(SYMBOLS)
    base = np.array([s[1] for s in SYMBOLS])
    # Intraday path per symbol, minute by minute: a bridge from today's level to tomorrow's.
    minutes = 1441
    frac = np.linspace(0.0, 1.0, minutes)
    walk = np.cumsum(rng.normal(0.0, 0.0007, size=(minutes, n_sym)), axis=0)
    bridge = walk - frac[:, None] * walk[-1]
    start_lvl, end_lvl = _log_level(day.toordinal()), _log_level(day.toordinal() + 1)
    path = base * np.exp(start_lvl + frac[:, None] * (end_lvl - start_lvl) + bridge)

    # Bursts: about three fills per distinct instant, the first instant exactly at midnight.
    n_instants = max(1, n // 3)
    instants = np.sort(rng.integers(0, DAY_US, size=n_instants))
    instants[0] = 0
    offsets_us = np.sort(instants[rng.integers(0, n_instants, size=n)]) if n else np.array([], dtype=np.int64)
    day_us = (day.toordinal() - date(1970, 1, 1).toordinal()) * DAY_US
    ts = (day_us + offsets_us).astype(np.int64) * 1000

    symbol = rng.integers(0, n_sym, size=n).astype(np.int8)
    shares = np.array([a[1] for a in AGENTS] + [NULL_AGENT_SHARE])
    agent = rng.choice(len(AGENTS) + 1, size=n, p=shares / shares.sum()).astype(np.int8)
    agent[agent == len(AGENTS)] = -1
    side = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)

    minute = offsets_us // 60_000_000
    raw_price = path[minute, symbol] * (1.0 + rng.normal(0.0, 0.0002, size=n))
    price_dec = np.array([s[2] for s in SYMBOLS])[symbol]
    qty_dec = np.array([s[3] for s in SYMBOLS])[symbol]
    price = np.round(raw_price * 10.0**price_dec) / 10.0**price_dec
    notional_target = np.exp(rng.normal(np.log(250.0), 0.9, size=n))
    step = 10.0 ** (-qty_dec)
    quantity = np.maximum(np.round(notional_target / price / step), 1.0) * step
    quantity = np.round(quantity, 6)
    notional = np.round(price * quantity, 6)
    fee = np.round(notional * np.where(rng.random(n) < 0.6, 0.0004, 0.0002), 8)
    slippage = np.round(rng.normal(0.4, 1.5, size=n), 3)
    notional[rng.random(n) < 0.002] = np.nan
    fee[rng.random(n) < 0.02] = np.nan
    slippage[rng.random(n) < 0.05] = np.nan

    ids = (day.toordinal() - _ID_BASE) * _ID_STRIDE + 1 + np.arange(n, dtype=np.int64)
    return Tape(ids, ts, symbol, side, price, quantity, notional, agent, fee, slippage)


def generate(days: Sequence[tuple[date, int]], seed: int = 7) -> Tape:
    """The fills of several days (``(day, count)`` in any order), concatenated in (ts, id) order."""
    parts = [generate_day(d, n, seed) for d, n in sorted(days)]
    if not parts:
        parts = [generate_day(date(2020, 1, 1), 0, seed)]
    cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in Tape.__dataclass_fields__}
    return Tape(**cols)


def history(report_day: date, day_fills: int, history_days: int, history_fills: int) -> list[tuple[date, int]]:
    """``history_days`` days of ``history_fills`` fills before ``report_day``, then ``day_fills`` on it."""
    days = [(report_day - timedelta(days=k), history_fills) for k in range(history_days, 0, -1)]
    return [*days, (report_day, day_fills)]


def to_frame(tape: Tape) -> pd.DataFrame:
    """The tape as the fill frame of :class:`reports.models.Fills` (what the fetch stage would build)."""
    notional = np.where(np.isnan(tape.notional), tape.price * tape.quantity, tape.notional)
    agents = np.array([*AGENT_NAMES, "unattributed"], dtype=object)
    return pd.DataFrame(
        {
            "id": tape.id,
            "ts": tape.ts,
            "symbol": np.array(SYMBOL_NAMES, dtype=object)[tape.symbol],
            "side": tape.side,
            "price": tape.price,
            "quantity": tape.quantity,
            "notional": notional,
            "agent_id": agents[tape.agent],  # -1 picks the last one: unattributed
            "fee": np.nan_to_num(tape.fee, nan=0.0),
        }
    )
