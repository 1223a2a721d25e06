"""The embedded demo (CONTRACT 1.3): a deterministic, realistic fill history for the six agents.

Each UTC day's trading is drawn from a random generator seeded by that day alone, and prices follow a
deterministic function of time: the same date always gives the same numbers, and a day's fills are the
same whichever report date asks for them. The history is the 45 days up to the report day, in whole
episodes (a position is never closed by a fill whose opening lies before the window), so equity starts
from the capital 45 days back: the same day seen from two report dates can show other equity figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from reports.calendar import TradingDay
from reports.models import FILL_COLUMNS, UNATTRIBUTED, AgentInfo, FetchResult, Fills

HISTORY_DAYS = 45


@dataclass(frozen=True)
class _Market:
    symbol: str
    price: float
    step: float  # quantity step
    tick: float
    daily_vol: float


MARKETS = (
    _Market("BTCUSDT", 96_000.0, 0.001, 0.1, 0.025),
    _Market("ETHUSDT", 3_400.0, 0.01, 0.01, 0.035),
    _Market("SOLUSDT", 190.0, 0.1, 0.01, 0.045),
    _Market("BNBUSDT", 640.0, 0.01, 0.01, 0.03),
    _Market("XRPUSDT", 2.3, 1.0, 0.0001, 0.045),
    _Market("DOGEUSDT", 0.36, 10.0, 0.00001, 0.055),
)


@dataclass(frozen=True)
class _Style:
    agent_id: str
    name: str
    emoji: str
    skill: float  # chance of reading the next move right
    episodes: float  # per day
    hold_minutes: tuple[int, int]
    notional: float
    symbols: tuple[str, ...]
    flip: float  # chance an episode ends by flipping
    same_second: float  # chance an add lands in the same second as the open
    edge_bps: float = 0.0  # price improvement a market maker earns on each fill


# fmt: off
STYLES = (
    # agent id, name, emoji, skill, episodes/day, hold minutes, notional, symbols, flip, same second, edge bps
    _Style("trend-momentum-agent", "Trend Momentum", "📈", 0.64, 3, (240, 1800), 380,
           ("BTCUSDT", "ETHUSDT", "SOLUSDT"), 0.1, 0),
    _Style("strategy-optimization-agent", "Strategy Optimizer", "🧠", 0.57, 5, (30, 360), 220,
           ("BTCUSDT", "ETHUSDT", "BNBUSDT", "XRPUSDT"), 0.15, 0),
    _Style("financial-sentiment-agent", "Sentiment", "📰", 0.43, 3, (120, 1200), 140,
           ("ETHUSDT", "SOLUSDT", "DOGEUSDT", "XRPUSDT"), 0.1, 0),
    _Style("market-prediction-agent", "Market Prediction", "🔮", 0.54, 4, (60, 720), 240,
           ("BTCUSDT", "SOLUSDT", "BNBUSDT"), 0.4, 0),
    _Style("volume-microstructure-agent", "Volume Micro", "📊", 0.54, 10, (5, 60), 150,
           ("BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"), 0.05, 0.1, 5.0),
    _Style("vpin-hft", "VPIN HFT", "⚡", 0.515, 40, (1, 10), 90, ("BTCUSDT", "ETHUSDT"), 0.05, 0.3, 3.5),
    _Style(UNATTRIBUTED, "Manual", "🛠", 0.5, 0.3, (30, 300), 200, ("BTCUSDT",), 0.0, 0),
)
# fmt: on


def agent_directory() -> dict[str, AgentInfo]:
    """Display names and emoji of the demo's agents (what ``/dashboard`` would give)."""
    return {s.agent_id: AgentInfo(s.agent_id, s.name, s.emoji) for s in STYLES if s.agent_id != UNATTRIBUTED}


_SEEDS: dict[str, int] = {}


def price(market: _Market, t: float) -> float:
    """The demo price of ``market`` at ``t`` (seconds since the epoch): a smooth, deterministic path."""
    days = t / 86_400.0
    seed = _SEEDS.get(market.symbol)
    if seed is None:
        seed = _SEEDS[market.symbol] = sum(ord(c) for c in market.symbol)
    wave = (
        0.6 * math.sin(days / 9.0 + seed)
        + 0.3 * math.sin(days / 2.3 + 2 * seed)
        + 0.15 * math.sin(days * 2.1 + 3 * seed)
        + 0.05 * math.sin(days * 37.0 + seed)
    )
    return market.price * math.exp(market.daily_vol * 2.2 * wave)


def demo_frame(day: TradingDay) -> pd.DataFrame:
    """Every demo fill before the end of ``day``, for the 45 days up to it, as :data:`~reports.models.FILL_COLUMNS`."""
    # Whole episodes only: every day from the window's first one, so no fill closes a position it never opened.
    first = day.date - timedelta(days=HISTORY_DAYS - 1)
    rows: list[tuple] = []
    for k in range((day.date - first).days + 2):
        rows.extend(_day_rows(first + timedelta(days=k)))
    names = ["id", "t", "symbol", "side", "price", "quantity", "agent_id", "fee"]
    frame = pd.DataFrame(dict(zip(names, map(list, zip(*rows, strict=True)), strict=True)), columns=names)
    frame["ts"] = (frame["t"] * 1_000_000_000).round().astype(np.int64)
    frame["notional"] = frame["price"] * frame["quantity"]
    frame["side"] = np.where(frame["side"] == "BUY", 1, -1).astype(np.int8)
    keep = frame["ts"] < int(pd.Timestamp(day.end).value)
    return frame.loc[keep, list(FILL_COLUMNS)].reset_index(drop=True)


def demo_fills(day: TradingDay) -> FetchResult:
    """The demo's fills up to the end of ``day`` as one record (tests compare with the whole-history replay)."""
    return FetchResult(fills=Fills.from_frame(demo_frame(day)), agents=agent_directory())


def _day_rows(day: date) -> list[tuple]:
    """The fills of every episode that starts on UTC ``day`` (some end on later days)."""
    rng = np.random.default_rng(day.toordinal())
    day_start = datetime.combine(day, datetime.min.time(), UTC).timestamp()
    markets = {m.symbol: m for m in MARKETS}
    rows: list[tuple] = []
    seq = 0
    for style in STYLES:
        n = rng.poisson(style.episodes)
        for _ in range(n):
            market = markets[style.symbols[rng.integers(len(style.symbols))]]
            t0 = day_start + float(rng.integers(0, 86_400))
            hold = 60.0 * float(rng.integers(style.hold_minutes[0], style.hold_minutes[1] + 1))
            legs = _episode(rng, style, market, t0, hold)
            for t, side, qty, fill_price in legs:
                seq += 1
                fee_rate = 0.0002 if style.agent_id == "vpin-hft" else 0.0004
                fee = None if rng.random() < 0.05 else round(fill_price * qty * fee_rate, 6)
                rows.append(
                    (
                        day.toordinal() * 100_000 + seq,
                        t,
                        market.symbol,
                        side,
                        fill_price,
                        qty,
                        style.agent_id,
                        0.0 if fee is None else fee,
                    )
                )
    return rows


def _episode(rng: np.random.Generator, style: _Style, market: _Market, t0: float, hold: float) -> list[tuple]:
    """Open, maybe add, maybe close part, then close or flip: the fills as (t, side, qty, price)."""
    t1 = t0 + hold
    prices: dict[float, float] = {}  # the path is a pure function of time: each instant computed once

    def at(t: float) -> float:
        known = prices.get(t)
        if known is None:
            known = prices[t] = price(market, t)
        return known

    moves_up = at(t1) > at(t0)
    long = moves_up if rng.random() < style.skill else not moves_up
    qty = _qty(market, style.notional * float(rng.uniform(0.6, 1.4)) / at(t0))
    legs: list[tuple] = []

    def leg(t: float, buy: bool, q: float) -> None:
        noise = 1.0 + float(rng.normal(0.0, 0.0002)) + (style.edge_bps if not buy else -style.edge_bps) / 10_000
        legs.append((t, "BUY" if buy else "SELL", q, _round(at(t) * noise, market.tick)))

    whole = lambda t: float(int(t)) if style.same_second else t  # noqa: E731
    leg(whole(t0), long, qty)
    held = qty
    if rng.random() < 0.3:
        add = _qty(market, qty / 2)
        t_add = whole(t0) if rng.random() < style.same_second else t0 + hold * 0.25
        leg(t_add, long, add)
        held = round(held + add, 10)
    if rng.random() < 0.4 and held > market.step * 1.5:
        part = _qty(market, held / 2)
        leg(t0 + hold * 0.6, not long, part)
        held = round(held - part, 10)
    if rng.random() < style.flip:
        again = _qty(market, qty)
        leg(t1, not long, round(held + again, 10))
        leg(t1 + hold, long, again)
    else:
        leg(t1, not long, held)
    return legs


def _qty(market: _Market, raw: float) -> float:
    return round(max(market.step, round(raw / market.step) * market.step), 10)


def _round(value: float, tick: float) -> float:
    return round(round(value / tick) * tick, 10)


# ---- funding: the exchange's funding events of each symbol (CONTRACT 1.1, 3)

FUNDING_HOURS = {"DOGEUSDT": 4}
"""Hours between funding events; every other symbol settles every 8 hours (00:00, 08:00, 16:00 UTC)."""
_FUNDING_BASE = {
    # symbol -> (mean rate, swing) per event: a busy market's rates, longs paying on most symbols; BNB and DOGE
    # mostly pay the shorts.
    "BTCUSDT": (0.00030, 0.00024),
    "ETHUSDT": (0.00024, 0.00036),
    "SOLUSDT": (0.00015, 0.00075),
    "BNBUSDT": (-0.00012, 0.00009),
    "XRPUSDT": (0.00060, 0.00045),
    "DOGEUSDT": (-0.00036, 0.00030),
}


def funding_events(symbol: str, start_ms: int, end_ms: int) -> list[dict[str, object]]:
    """The demo's funding events of ``symbol`` with ``start_ms <= fundingTime <= end_ms``, oldest first, as the
    exchange relays them (rates and marks as strings). A pure function of time: the same event every time."""
    market = next((m for m in MARKETS if m.symbol == symbol), None)
    if market is None or end_ms < start_ms:
        return []
    step = FUNDING_HOURS.get(symbol, 8) * 3_600_000
    mean, swing = _FUNDING_BASE[symbol]
    first = -(-start_ms // step) * step
    out: list[dict[str, object]] = []
    for t in range(first, end_ms + 1, step):
        days = t / 86_400_000
        rate = mean + swing * math.sin(days / 3.1 + len(symbol)) * math.cos(days / 11.0)
        mark = _round(price(market, t / 1000.0), market.tick)
        out.append({"symbol": symbol, "fundingTime": t, "fundingRate": f"{rate:.8f}", "markPrice": f"{mark:.8f}"})
    return out
