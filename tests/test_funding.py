"""Funding attributed to each agent by its own positions (CONTRACT 3): hand-computed cases and an independent
implementation (a per-event walk over the fills with its own position arithmetic)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from factories import make_fill

from reports.closed_days import EngineState
from reports.models import Fills, FundingEvents
from reports.numbers.engine import replay
from reports.numbers.funding import FundingFlows, funding_flows

T0 = datetime(2025, 11, 21, 0, 0, tzinfo=UTC)
"""The first event of the hand cases: 00:00 UTC; fills are made at minutes from 01:00 (factories.BASE)."""


def ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000


def events(symbol: str, *rows: tuple[datetime, float, float]) -> FundingEvents:
    """Events of ``symbol`` as (instant, rate, mark)."""
    return FundingEvents(
        symbol,
        np.array([ns(t) for t, _, _ in rows], dtype=np.int64),
        np.array([r for _, r, _ in rows]),
        np.array([m for _, _, m in rows]),
    )


def flows(fills, series: dict[str, FundingEvents], start: EngineState | None = None, lo=None, hi=None) -> FundingFlows:
    frame = Fills.from_records(fills)
    result = replay(frame, [], start)
    held = {(a, s): q for a, s, q, _ in (start or EngineState()).positions}
    return funding_flows(
        frame.frame["ts"].to_numpy(),
        frame.frame["symbol"].to_numpy(),
        frame.frame["agent_id"].to_numpy(),
        result.position_after,
        held,
        series,
        ns(lo or T0),
        ns(hi or T0 + timedelta(days=1)),
    )


AT_08 = T0 + timedelta(hours=8)
AT_16 = T0 + timedelta(hours=16)


def test_a_long_pays_and_a_short_receives_across_two_events():
    # Long 2 BTC (a) and short 1 BTC (b) from 01:00; events at 08:00 (rate 0.0001, mark 100) and 16:00
    # (rate 0.0002, mark 110): a pays 2×100×0.0001 = 0.02 and 2×110×0.0002 = 0.044; b receives 0.01 and 0.022.
    fills = [make_fill(agent_id="a", quantity=2.0), make_fill(agent_id="b", side="SELL", quantity=1.0)]
    got = flows(fills, {"BTCUSDT": events("BTCUSDT", (AT_08, 0.0001, 100.0), (AT_16, 0.0002, 110.0))})
    sums = got.agent_sums()
    assert sums["a"] == pytest.approx(-(0.02 + 0.044), abs=1e-15)
    assert sums["b"] == pytest.approx(0.01 + 0.022, abs=1e-15)
    assert list(got.amount) == pytest.approx([-0.02, -0.044, 0.01, 0.022], abs=1e-15)


def test_a_fill_exactly_at_the_event_comes_after_it():
    # Opened at 08:00 sharp: the 08:00 event sees no position; the 16:00 one does.
    fills = [make_fill(agent_id="a", minutes=7 * 60)]  # 01:00 + 7 h = 08:00
    got = flows(fills, {"BTCUSDT": events("BTCUSDT", (AT_08, 0.001, 100.0), (AT_16, 0.001, 100.0))})
    assert got.agent_sums() == {"a": pytest.approx(-0.1)}
    assert got.t_ns.tolist() == [ns(AT_16)]


def test_a_flip_between_two_events_pays_then_receives():
    # Long 1 at 01:00, sells 3 at 10:00 (short 2): pays 1×100×0.001 at 08:00, receives 2×100×0.001 at 16:00.
    fills = [make_fill(agent_id="a"), make_fill(agent_id="a", side="SELL", quantity=3.0, minutes=9 * 60)]
    got = flows(fills, {"BTCUSDT": events("BTCUSDT", (AT_08, 0.001, 100.0), (AT_16, 0.001, 100.0))})
    assert got.amount.tolist() == pytest.approx([-0.1, 0.2])


def test_a_four_hour_symbol_a_zero_rate_and_a_negative_rate():
    # DOGE every 4 h: a long of 1000 at 01:00 held all day sees 04:00 … 20:00 (00:00 is before the fill).
    times = [T0 + timedelta(hours=h) for h in range(0, 24, 4)]
    rates = [0.0001, 0.0, -0.0002, 0.0001, 0.0, -0.0001]
    fills = [make_fill(agent_id="a", symbol="DOGEUSDT", price=0.3, quantity=1000.0)]
    got = flows(fills, {"DOGEUSDT": events("DOGEUSDT", *[(t, r, 0.3) for t, r in zip(times, rates, strict=True)])})
    expected = [-1000.0 * 0.3 * r for r in rates[1:]]
    assert got.amount.tolist() == pytest.approx(expected, abs=1e-15)
    assert got.agent_sums()["a"] == pytest.approx(sum(expected), abs=1e-15)  # +0.03 in all: shorts paid the longs


def test_a_position_held_from_the_day_before_pays_without_a_fill_that_day():
    start = EngineState(positions=(("a", "ETHUSDT", -3.0, 2000.0),), marks=(("ETHUSDT", 2000.0),))
    got = flows([], {"ETHUSDT": events("ETHUSDT", (T0, 0.0001, 2000.0))}, start)
    assert got.agent_sums() == {"a": pytest.approx(0.6)}  # short 3 × 2000 × 0.0001 received


def test_events_outside_the_span_are_left_out():
    fills = [make_fill(agent_id="a", minutes=-120)]  # 23:00 the day before
    series = {"BTCUSDT": events("BTCUSDT", (T0, 0.001, 100.0), (T0 + timedelta(days=1), 0.001, 100.0))}
    got = flows(fills, series, lo=T0 - timedelta(days=1), hi=T0 + timedelta(days=1))
    assert got.t_ns.tolist() == [ns(T0)]


def independent(fills, series: dict[str, FundingEvents]) -> tuple[dict[str, float], list[float]]:
    """Per agent and per event's account row: walk each event, sum each fill strictly before it."""
    per_agent: dict[str, float] = {}
    rows: list[float] = []
    ordered = sorted(fills, key=lambda f: (f.timestamp, f.id))
    for symbol, ev in sorted(series.items()):
        for t, rate, mark in zip(ev.t_ns.tolist(), ev.rate.tolist(), ev.mark.tolist(), strict=True):
            account = 0.0
            held: dict[str, float] = {}
            for f in ordered:
                if f.symbol != symbol or ns(f.timestamp) >= t:
                    continue
                q = held.get(f.agent_id, 0.0) + (f.quantity if f.side == "BUY" else -f.quantity)
                held[f.agent_id] = 0.0 if abs(q) < 1e-9 else q
            for agent, q in held.items():
                pay = -q * mark * rate
                per_agent[agent] = per_agent.get(agent, 0.0) + pay
                account += q
            rows.append(-account * mark * rate)  # the ledger's FUNDING_FEE row of the account's position
    return per_agent, rows


@pytest.mark.parametrize("seed", range(5))
def test_against_an_independent_walk_and_the_account_ledger(seed: int):
    rng = random.Random(seed)
    fills = [
        make_fill(
            agent_id=rng.choice(["a", "b", "c"]),
            symbol=rng.choice(["BTCUSDT", "ETHUSDT"]),
            side=rng.choice(["BUY", "SELL"]),
            quantity=rng.choice([0.5, 1.0, 1.5, 2.0]),
            price=round(rng.uniform(90, 110), 2),
            minutes=rng.randrange(-60, 23 * 60),  # some at an event's very minute (07:00 → 08:00)
        )
        for _ in range(300)
    ]
    series = {
        s: events(s, *[(T0 + timedelta(hours=h), rng.uniform(-0.001, 0.001), rng.uniform(90, 110)) for h in (0, 8, 16)])
        for s in ("BTCUSDT", "ETHUSDT")
    }
    got = flows(fills, series)
    expected, ledger = independent(fills, series)
    sums = got.agent_sums()
    assert set(sums) == {a for a, v in expected.items() if v != 0.0}
    for agent, value in expected.items():
        assert sums.get(agent, 0.0) == pytest.approx(value, abs=1e-9)
    # The agents' shares of each event add up to the account's ledger row.
    by_event: dict[tuple[str, int], float] = {}
    for symbol, t, amount in zip(got.symbol, got.t_ns.tolist(), got.amount.tolist(), strict=True):
        by_event[(symbol, t)] = by_event.get((symbol, t), 0.0) + amount
    keys = [(s, t) for s, ev in sorted(series.items()) for t in ev.t_ns.tolist()]
    assert [by_event.get(k, 0.0) for k in keys] == pytest.approx(ledger, abs=1e-9)
