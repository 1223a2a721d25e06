"""A seeded fill history for the store tests: several agents and symbols, fills in every hour of every day
(so the last hour of a day, which a run reads again, always holds some), positions carried over midnight,
partial closes and flips, a few unattributed fills, fees on every fill."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

AGENTS = (
    "trend-momentum-agent",
    "strategy-optimization-agent",
    "financial-sentiment-agent",
    "market-prediction-agent",
    "volume-microstructure-agent",
    "vpin-hft",
    None,
)
BASE_PRICE = {"BTCUSDT": 60_000.0, "ETHUSDT": 3_000.0, "SOLUSDT": 150.0, "BNBUSDT": 600.0, "XRPUSDT": 0.6}
SYMBOLS = tuple(BASE_PRICE)


def history_rows(first: date, last: date, per_hour: int = 3, seed: int = 7, skip: tuple[date, ...] = ()) -> list[dict]:
    """Trade rows as the service sends them, for every UTC hour from ``first`` to ``last`` (both included),
    none on the dates in ``skip``."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    t = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    next_id = 1
    while t < end:
        if t.date() not in skip:
            for _ in range(per_hour):
                symbol = rng.choice(SYMBOLS)
                drift = 1 + 0.02 * ((t - datetime(2025, 1, 1, tzinfo=UTC)).days % 17 - 8) / 8
                price = round(BASE_PRICE[symbol] * drift * (1 + rng.uniform(-0.01, 0.01)), 2)
                quantity = round(rng.choice((0.5, 1.0, 1.5, 2.5)) * 10 / BASE_PRICE[symbol] * 100, 6)
                when = t + timedelta(seconds=rng.randrange(3600))
                rows.append(
                    {
                        "id": next_id,
                        "timestamp": when.isoformat(),
                        "symbol": symbol,
                        "side": rng.choice(("BUY", "SELL")),
                        "price": price,
                        "quantity": quantity,
                        "notional": round(price * quantity, 8),
                        "agent_id": rng.choice(AGENTS),
                        "agent_model": None,
                        "strategy": None,
                        "fee": round(price * quantity * 0.0004, 8),
                        "slippage_bps": None,
                        "metadata": None,
                    }
                )
                next_id += 1
        t += timedelta(hours=1)
    return rows


def funding_rows(first: date, last: date, seed: int = 11) -> list[dict]:
    """Funding events as the exchange relays them, for every symbol from ``first`` to ``last`` (both included):
    every 8 hours (00:00, 08:00, 16:00 UTC), XRPUSDT every 4 hours; rates of both signs, one of them 0."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    for symbol in SYMBOLS:
        step = timedelta(hours=4 if symbol == "XRPUSDT" else 8)
        t = datetime(first.year, first.month, first.day, tzinfo=UTC)
        while t < end:
            rate = 0.0 if rng.random() < 0.05 else rng.uniform(-0.0003, 0.0005)
            mark = round(BASE_PRICE[symbol] * (1 + rng.uniform(-0.02, 0.02)), 2)
            rows.append(
                {
                    "symbol": symbol,
                    "fundingTime": int(t.timestamp() * 1000),
                    "fundingRate": f"{rate:.8f}",
                    "markPrice": f"{mark:.8f}",
                }
            )
            t += step
    return rows
