"""Movers (CONTRACT 3): each (agent, symbol) pair's share of the day, hand-computed on built days (a flip, a position
carried over midnight, funding, an agent with fees only), and on 60 agents against an independent per-pair walk;
they add up, in the order report.json lists them, to the very float of the day's total."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pytest
from factories import make_fill
from random_market import DAY, NOW, from_store, market, ns

from reports.calendar import period_of, trading_day
from reports.models import Fills, FundingEvents, Mover
from reports.numbers.compute import RunInputs, build_report
from reports.numbers.periods import period_report
from reports.settings import CapitalPolicy


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 11, day, hour, minute, tzinfo=UTC)


def report_of(fills, funding=None, day=DAY):
    return build_report(Fills.from_records(fills), day, CapitalPolicy(), RunInputs(NOW), funding)


def mover(report, agent="a", symbol="BTCUSDT") -> Mover:
    return next(m for m in report.movers if (m.agent_id, m.symbol) == (agent, symbol))


def added(movers) -> float:
    """What a reader of report.json does: add the movers' totals in the order listed."""
    total = 0.0
    for m in movers:
        total += m.total_pnl
    return total


def test_a_flip_realizes_the_long_and_marks_the_short():
    # a: buys 2 at 100, sells 5 at 110 (closes 2: +20, opens a short of 3 at 110), fee 1 each; m's fill marks
    # BTC at 105 at the end: the short is worth (105 − 110) × −3 = +15.
    r = report_of(
        [
            make_fill(price=100, quantity=2, fee=1.0, timestamp=at(21, 1)),
            make_fill(side="SELL", price=110, quantity=5, fee=1.0, timestamp=at(21, 2)),
            make_fill(agent_id="m", price=105, quantity=0.001, timestamp=at(21, 3)),
        ]
    )
    m = mover(r)
    assert (m.realized_pnl, m.fees, m.unrealized_change, m.funding_pnl) == (20.0, 2.0, 15.0, None)
    assert m.total_pnl == 33.0
    assert (m.trades, m.closing_fills, m.wins, m.quantity_before, m.quantity) == (2, 1, 1, 0.0, -3.0)
    assert added(r.movers) == r.totals.total_pnl
    assert [x.agent_id for x in r.movers] == ["a", "m"]  # the largest |total| first


def test_a_position_carried_over_midnight_counts_the_change_of_its_unrealized():
    # a holds 1 BTC bought at 100 on the 20th, marked at 110 that night (m's fill) and at 125 on the 21st: a has no
    # fill on the 21st, its mover is the change 25 − 10 = 15.
    fills = [
        make_fill(price=100, timestamp=at(20, 10)),
        make_fill(agent_id="m", price=110, quantity=0.001, timestamp=at(20, 20)),
        make_fill(agent_id="m", side="SELL", price=125, quantity=0.001, timestamp=at(21, 9)),
    ]
    r = report_of(fills)
    m = mover(r)
    assert (m.trades, m.realized_pnl, m.fees, m.unrealized_change, m.total_pnl) == (0, 0.0, 0.0, 15.0, 15.0)
    assert (m.quantity_before, m.quantity) == (1.0, 1.0)
    # m closed its 0.001 at 125, bought at 100... at 110: +0.015 realized, its unrealized of the night before gone
    assert mover(r, "m").realized_pnl == pytest.approx(0.015)
    assert mover(r, "m").unrealized_change == 0.0
    assert added(r.movers) == r.totals.total_pnl


def test_funding_is_the_pairs_own_and_a_position_without_fill_pays_it():
    # a is long 2 BTC from the 20th; at 08:00 on the 21st the rate is 0.0001 at mark 100: a pays 0.02. b opens a
    # short of 1 ETH at 10:00 and receives at 16:00 (rate 0.0003, mark 20): 0.006.
    fills = [
        make_fill(price=100, quantity=2, timestamp=at(20, 10)),
        make_fill(agent_id="b", symbol="ETHUSDT", side="SELL", price=20, timestamp=at(21, 10)),
    ]
    funding = {
        "BTCUSDT": FundingEvents("BTCUSDT", np.array([ns(at(21, 8))]), np.array([0.0001]), np.array([100.0])),
        "ETHUSDT": FundingEvents("ETHUSDT", np.array([ns(at(21, 16))]), np.array([0.0003]), np.array([20.0])),
    }
    r = report_of(fills, funding)
    assert mover(r).funding_pnl == pytest.approx(-0.02)
    assert mover(r).total_pnl == pytest.approx(-0.02)
    assert mover(r, "b", "ETHUSDT").funding_pnl == pytest.approx(0.006)
    assert added(r.movers) == r.totals.total_pnl
    assert sum(m.funding_pnl for m in r.movers) == pytest.approx(r.totals.funding_pnl)


def test_an_agent_with_fees_only():
    # c buys and sells 1 BTC at 100 with 0.5 of fee each: nothing realized, nothing held, −1 in fees.
    r = report_of(
        [
            make_fill(agent_id="c", fee=0.5, timestamp=at(21, 1)),
            make_fill(agent_id="c", side="SELL", fee=0.5, timestamp=at(21, 2)),
        ]
    )
    (m,) = r.movers
    assert (m.realized_pnl, m.fees, m.unrealized_change, m.total_pnl) == (0.0, 1.0, 0.0, -1.0)
    assert (m.closing_fills, m.wins) == (1, 0)
    assert added(r.movers) == r.totals.total_pnl == -1.0


def _walk(fills, funding, day) -> dict[tuple[str, str], float]:
    """An independent walk: per pair, its own average-cost position fill by fill, its funding event by event, and
    its P&L of ``day`` as realized − fees + funding + the change of its unrealized (marks: each symbol's last
    fill)."""
    qty: dict = {}
    avg: dict = {}
    mark: dict = {}
    out: dict = {}
    lo, hi = ns(day.start), ns(day.end)
    unreal_start: dict = {}
    events = sorted(
        (int(t), s, rate, m) for s, e in funding.items() for t, rate, m in zip(e.t_ns, e.rate, e.mark, strict=True)
    )
    stream = sorted(
        [(ns(f.timestamp), 1, f.id, f) for f in fills] + [(t, 0, 0, (s, rate, m)) for t, s, rate, m in events],
        key=lambda x: x[:3],
    )
    started = False
    for t, kind, _, item in stream:
        if t >= hi:
            break
        if not started and t >= lo:
            started = True
            unreal_start = {p: (mark[p[1]] - avg[p]) * q for p, q in qty.items() if q}
        if kind == 0:
            symbol, rate, m = item
            for p, q in qty.items():
                if p[1] == symbol and q and t >= lo:
                    out[p] = out.get(p, 0.0) - q * m * rate
            continue
        f = item
        p = (f.agent_id, f.symbol)
        q = f.quantity if f.side == "BUY" else -f.quantity
        held, entry = qty.get(p, 0.0), avg.get(p, 0.0)
        gained = 0.0
        if held == 0 or (held > 0) == (q > 0):
            avg[p] = (entry * abs(held) + f.price * abs(q)) / abs(held + q)
        else:
            closed = min(abs(q), abs(held))
            gained = (f.price - entry) * closed if held > 0 else (entry - f.price) * closed
            if abs(q) > abs(held):
                avg[p] = f.price
        qty[p] = 0.0 if abs(held + q) < 1e-9 else held + q
        mark[f.symbol] = f.price
        if t >= lo:
            out[p] = out.get(p, 0.0) + gained - f.fee
    if not started:
        unreal_start = {p: (mark[p[1]] - avg[p]) * q for p, q in qty.items() if q}
    unreal_end = {p: (mark[p[1]] - avg[p]) * q for p, q in qty.items() if q}
    for p in set(unreal_end) | set(unreal_start):
        out[p] = out.get(p, 0.0) + unreal_end.get(p, 0.0) - unreal_start.get(p, 0.0)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sixty_agents_add_up_exactly_and_match_an_independent_walk(seed: int):
    fills, funding = market(seed)
    reference = report_of(fills, funding)
    stored, _ = from_store(fills, funding, DAY)
    assert len({m.agent_id for m in reference.movers}) >= 50
    assert added(reference.movers) == reference.totals.total_pnl
    assert added(stored.movers) == stored.totals.total_pnl
    assert stored.movers == reference.movers  # the production path gives the same floats
    assert stored.totals == reference.totals
    walked = _walk(fills, funding, DAY)
    got = {(m.agent_id, m.symbol): m.total_pnl for m in reference.movers}
    assert set(got) >= {p for p, v in walked.items() if v != 0.0}
    for pair, value in got.items():
        assert value == pytest.approx(walked.get(pair, 0.0), abs=1e-9), pair
    for m in reference.movers:
        assert m.total_pnl == m.realized_pnl - m.fees + m.funding_pnl + m.unrealized_change
    # the agents' own totals are their pairs' sums
    for a in reference.agents:
        mine = [m.total_pnl for m in reference.movers if m.agent_id == a.agent_id]
        assert sum(mine) == pytest.approx(a.totals.total_pnl, abs=1e-9)


def test_a_desks_movers_are_its_own_agents_and_add_up_to_its_total():
    fills, funding = market(4, agents=10)
    desk = ("agent-01", "agent-02", "agent-07")
    r = build_report(Fills.from_records(fills), DAY, CapitalPolicy(), RunInputs(NOW, agents=desk), funding)
    assert {m.agent_id for m in r.movers} <= set(desk) and r.movers
    assert added(r.movers) == r.totals.total_pnl


def test_a_weeks_movers_are_the_pairs_sums_over_its_days():
    fills, funding = market(5, agents=12, days=10)
    sunday = trading_day(date(2025, 11, 23), "UTC")
    fills = [f for f in fills if f.timestamp < DAY.end]  # history up to the 21st, the week runs to the 23rd
    last, closed = from_store(fills, funding, sunday)
    week = period_report(last, closed, period_of("week", sunday.date, "UTC"))
    daily = {}
    for d in (17, 18, 19, 20, 21, 22, 23):
        r, _ = from_store(fills, funding, trading_day(date(2025, 11, d), "UTC"))
        for m in r.movers:
            daily[(m.agent_id, m.symbol)] = daily.get((m.agent_id, m.symbol), 0.0) + m.total_pnl
    got = {(m.agent_id, m.symbol): m for m in week.movers}
    assert set(got) == set(daily)
    for pair, m in got.items():
        assert m.total_pnl == pytest.approx(daily[pair], abs=1e-9), pair
        assert m.total_pnl == pytest.approx(m.realized_pnl - m.fees + m.funding_pnl + m.unrealized_change, abs=1e-9)
    assert added(week.movers) == pytest.approx(week.totals.total_pnl, abs=1e-9)
    assert [abs(m.total_pnl) for m in week.movers] == sorted((abs(m.total_pnl) for m in week.movers), reverse=True)


def test_the_demo_day_adds_up_exactly_and_its_week_and_month_to_their_totals(tmp_path):
    from reports.operations.pipeline import build
    from reports.settings import Settings

    settings = Settings(state_dir=tmp_path)
    day = build(settings, trading_day(date(2026, 11, 25), "UTC"), demo=True)
    assert len(day.movers) > 10
    assert added(day.movers) == day.totals.total_pnl
    pairs = {(m.agent_id, m.symbol) for m in day.movers}
    assert len(pairs) == len(day.movers)
    for a in day.agents:  # every agent with a fill or an open position has its pairs
        if a.totals.trades or a.open_positions:
            assert any(m.agent_id == a.agent_id for m in day.movers)
        for p in a.open_positions:
            assert (a.agent_id, p.symbol) in pairs
    for kind, last in (("week", date(2026, 11, 29)), ("month", date(2026, 10, 31))):
        period = build(settings, trading_day(last, "UTC"), demo=True, period=kind)
        assert period.movers and added(period.movers) == pytest.approx(period.totals.total_pnl, abs=1e-9)
        assert sum(m.funding_pnl for m in period.movers) == pytest.approx(period.totals.funding_pnl, abs=1e-9)
        assert sum(m.fees for m in period.movers) == pytest.approx(period.totals.fees, abs=1e-9)
