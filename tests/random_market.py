"""Random markets for the movers' and the stored day's tests: fills of many agents in three symbols with funding,
and a report day built the way a run builds it (the days before closed one by one, then its own replay)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import numpy as np
from factories import make_fill

from reports.calendar import trading_day
from reports.closed_days import ClosedDay, EngineState
from reports.models import Fills, FundingEvents
from reports.numbers.closing import build_report_from, close_day
from reports.numbers.compute import RunInputs
from reports.settings import CapitalPolicy

DAY = trading_day(date(2025, 11, 21), "UTC")
NOW = datetime(2025, 11, 22, 0, 5, tzinfo=UTC)


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def market(seed: int, agents: int = 60, days: int = 4) -> tuple[list, dict[str, FundingEvents]]:
    """Random fills of ``agents`` agents in three symbols over ``days`` days up to the 21st, and funding every 8 h."""
    rng = random.Random(seed)
    symbols = {"BTCUSDT": 100.0, "ETHUSDT": 20.0, "SOLUSDT": 3.0}
    fills = []
    first = DAY.start - timedelta(days=days - 1)
    for _ in range(agents * 6):
        symbol = rng.choice(list(symbols))
        symbols[symbol] *= 1 + rng.gauss(0, 0.01)
        fills.append(
            make_fill(
                agent_id=f"agent-{rng.randrange(agents):02d}",
                symbol=symbol,
                side=rng.choice(["BUY", "SELL"]),
                price=round(symbols[symbol], 4),
                quantity=round(rng.uniform(0.1, 3.0), 3),
                fee=round(rng.uniform(0, 0.05), 4),
                timestamp=first + timedelta(seconds=rng.randrange(days * 86_400)),
            )
        )
    funding = {}
    for symbol in symbols:
        instants = [first + timedelta(hours=8 * k) for k in range(3 * days)]
        funding[symbol] = FundingEvents(
            symbol,
            np.array([ns(t) for t in instants]),
            np.array([rng.uniform(-0.0005, 0.0005) for _ in instants]),
            np.array([rng.uniform(1.0, 100.0) for _ in instants]),
        )
    return fills, funding


def from_store(fills, funding, day):
    """The report of ``day`` the way a run makes it: the days before closed one by one, then its own replay."""
    frame = Fills.from_records(fills)
    first = frame.frame["ts"].min()
    d = datetime.fromtimestamp(first / 1e9, UTC).date()
    past, marks, closed = [], [], []
    state = EngineState()
    while d < day.date:
        one = trading_day(d, "UTC")
        own = frame.since(one.start).before(one.end)
        known = [row.agent_id for row in past[-1][1]] if past else []
        rows, symbols, result = close_day(own, one, state, known, funding)
        closed.append(ClosedDay(d, rows, symbols, result.state, len(own), "", 0, ""))
        past.append((d, rows))
        marks.append(result.state.marks)
        state = result.state
        d += timedelta(days=1)
    own = frame.since(day.start).before(day.end)
    report, rows, result = build_report_from(
        past, own, state, day, CapitalPolicy(), RunInputs(NOW), funding=funding, marks=marks
    )
    closed.append(ClosedDay(day.date, rows, close_day(own, day, state, [], funding)[1], result.state, 0, "", 0, ""))
    return report, closed
