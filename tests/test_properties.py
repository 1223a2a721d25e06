"""Properties of the engine over generated fill sequences (hypothesis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.calendar import trading_day
from reports.models import Fill, Fills
from reports.numbers.compute import RunInputs, build_report
from reports.numbers.engine import replay
from reports.settings import CapitalPolicy

START = datetime(2025, 11, 18, tzinfo=UTC)

legs = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.sampled_from(["BTCUSDT", "ETHUSDT"]),
        st.integers(min_value=-50, max_value=50).filter(lambda q: q != 0),
        st.integers(min_value=1, max_value=500),
        st.integers(min_value=0, max_value=4 * 24 * 60 - 1),
    ),
    min_size=1,
    max_size=40,
)


def to_fills(raw, close_flat: bool) -> list[Fill]:
    fills = []
    for i, (agent, symbol, q, price, minute) in enumerate(raw):
        fills.append(_fill(i + 1, agent, symbol, q / 10, float(price), START + timedelta(minutes=minute)))
    if close_flat:
        net: dict[tuple[str, str], float] = {}
        for f in fills:
            key = (f.agent_id, f.symbol)
            net[key] = net.get(key, 0.0) + (f.quantity if f.side == "BUY" else -f.quantity)
        for k, ((agent, symbol), q) in enumerate(sorted(net.items())):
            if abs(q) > 1e-12:
                fills.append(_fill(10_000 + k, agent, symbol, -q, 77.0, START + timedelta(days=4, minutes=k)))
    return fills


def _fill(fill_id, agent, symbol, signed_qty, price, ts) -> Fill:
    qty = abs(signed_qty)
    return Fill(fill_id, ts, symbol, "BUY" if signed_qty > 0 else "SELL", price, qty, price * qty, agent, 0.0)


@settings(max_examples=100, deadline=None)
@given(legs)
def test_flat_sequence_realizes_sell_minus_buy_notional(raw):
    fills = to_fills(raw, close_flat=True)
    result = replay(Fills.from_records(fills), [])
    sells = sum(f.price * f.quantity for f in fills if f.side == "SELL")
    buys = sum(f.price * f.quantity for f in fills if f.side == "BUY")
    assert result.positions == ()
    assert result.realized.sum() == pytest.approx(sells - buys, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(legs)
def test_final_quantity_is_the_sum_of_signed_quantities(raw):
    fills = to_fills(raw, close_flat=False)
    result = replay(Fills.from_records(fills), [])
    expected: dict[tuple[str, str], float] = {}
    for f in fills:
        key = (f.agent_id, f.symbol)
        expected[key] = expected.get(key, 0.0) + (f.quantity if f.side == "BUY" else -f.quantity)
    got = {(p.agent_id, p.symbol): p.quantity for p in result.positions}
    for key, q in expected.items():
        assert got.get(key, 0.0) == pytest.approx(q, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(legs)
def test_one_pass_equals_day_by_day(raw):
    """Each day's figures from one replay of the whole history equal those of a report run for that day."""
    fills = to_fills(raw, close_flat=False)
    last = build_report(
        Fills.from_records(fills), trading_day(date(2025, 11, 21), "UTC"), CapitalPolicy(), RunInputs(START)
    )
    by_date = {p.date: p for p in last.daily}
    for offset in range(4):
        day = date(2025, 11, 18) + timedelta(days=offset)
        if day not in by_date:
            continue
        daily = build_report(Fills.from_records(fills), trading_day(day, "UTC"), CapitalPolicy(), RunInputs(START))
        assert daily.totals.total_pnl == pytest.approx(by_date[day].total_pnl, abs=1e-7)
        # Agents' equity does not depend on the report date (the portfolio's capital does: it sums the
        # agents with a fill up to the report date).
        for a in daily.agents:
            same = next(p for p in next(x for x in last.agents if x.agent_id == a.agent_id).daily if p.date == day)
            assert a.totals.equity == pytest.approx(same.equity, abs=1e-7)
            assert a.totals.total_pnl == pytest.approx(same.total_pnl, abs=1e-7)
    # And the sum of daily totals is realized net + unrealized now: nothing lost between days.
    total = sum(p.total_pnl for p in last.daily)
    assert total == pytest.approx(
        sum(a.totals.unrealized_pnl for a in last.agents)
        + float(np.sum(replay(Fills.from_records(fills), []).realized)),
        abs=1e-6,
    )
