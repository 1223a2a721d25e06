"""The P&L engine and compute stage on hand-computed cases (CONTRACT 3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from factories import make_fill

from reports.calendar import trading_day
from reports.models import UNATTRIBUTED, Fills
from reports.numbers.compute import RunInputs, build_report
from reports.settings import CapitalPolicy

DAY = trading_day(date(2025, 11, 21), "UTC")
NOW = datetime(2025, 11, 22, 0, 5, tzinfo=UTC)


def report_of(fills, day=DAY, capital=None):
    return build_report(Fills.from_records(fills), day, capital or CapitalPolicy(), RunInputs(NOW))


def agent(report, agent_id="a"):
    return next(a for a in report.agents if a.agent_id == agent_id)


def test_open_and_add_move_the_average_entry():
    r = report_of([make_fill(price=100, quantity=2, minutes=0), make_fill(price=110, quantity=2, minutes=1)])
    (pos,) = agent(r).open_positions
    assert pos.quantity == 4
    assert pos.avg_entry_price == pytest.approx(105.0)
    assert pos.mark_price == 110
    assert pos.unrealized_pnl == pytest.approx(20.0)  # (110 - 105) * 4
    assert r.totals.realized_pnl == 0
    assert r.totals.closing_fills == 0
    assert r.totals.win_rate is None
    assert r.totals.profit_factor is None


def test_partial_close_realizes_against_the_average_and_keeps_it():
    r = report_of(
        [
            make_fill(price=100, quantity=4, minutes=0),
            make_fill(side="SELL", price=120, quantity=1, fee=2.0, minutes=1),
        ]
    )
    t = r.totals
    assert t.realized_pnl == pytest.approx(20.0)
    assert t.fees == pytest.approx(2.0)
    assert t.net_realized_pnl == pytest.approx(18.0)
    (pos,) = agent(r).open_positions
    assert pos.quantity == 3 and pos.avg_entry_price == 100
    assert t.unrealized_pnl == pytest.approx(60.0)  # mark 120
    assert t.total_pnl == pytest.approx(78.0)  # 18 + 60 - 0
    assert (t.closing_fills, t.wins, t.win_rate) == (1, 1, 1.0)


def test_full_close_of_a_short_and_closing_fill_net_uses_fee_share():
    r = report_of(
        [
            make_fill(side="SELL", price=100, quantity=2, fee=1.0, minutes=0),
            make_fill(side="BUY", price=99, quantity=2, fee=3.0, minutes=5),
        ]
    )
    t = r.totals
    assert t.realized_pnl == pytest.approx(2.0)  # (100 - 99) * 2
    assert agent(r).open_positions == ()
    # net of the closing fill: 2 - 3 * 2/2 = -1: a loss, and no winner
    assert (t.closing_fills, t.wins, t.win_rate) == (1, 0, 0.0)
    assert t.profit_factor == pytest.approx(0.0)
    assert t.net_realized_pnl == pytest.approx(-2.0)


def test_flip_long_to_short_and_back():
    r = report_of(
        [
            make_fill(price=100, quantity=2, minutes=0),
            make_fill(side="SELL", price=110, quantity=5, minutes=1),  # closes 2 (+20), opens short 3 @ 110
            make_fill(side="BUY", price=90, quantity=4, minutes=2),  # closes 3 (+60), opens long 1 @ 90
        ]
    )
    assert r.totals.realized_pnl == pytest.approx(80.0)
    (pos,) = agent(r).open_positions
    assert pos.quantity == 1 and pos.avg_entry_price == 90
    assert r.totals.closing_fills == 2 and r.totals.wins == 2


def test_closing_fill_fee_share_on_a_flip():
    # The flip closes 2 of 5: its net is 20 - 5 * 2/5 = 18.
    r = report_of([make_fill(price=100, quantity=2), make_fill(side="SELL", price=110, quantity=5, fee=5.0, minutes=1)])
    assert r.totals.wins == 1
    assert r.totals.profit_factor is None  # no negative net
    assert r.totals.net_realized_pnl == pytest.approx(15.0)


def test_null_fees_count_as_zero_and_unattributed_agent():
    r = report_of([make_fill(agent_id=UNATTRIBUTED, fee=0.0), make_fill(agent_id=UNATTRIBUTED, side="SELL", minutes=1)])
    assert [a.agent_id for a in r.agents] == [UNATTRIBUTED]
    assert r.totals.fees == 0


def test_two_agents_on_one_symbol_keep_separate_positions_and_share_the_mark():
    r = report_of(
        [
            make_fill(agent_id="a", price=100, quantity=1, minutes=0),
            make_fill(agent_id="b", side="SELL", price=100, quantity=1, minutes=1),
            make_fill(agent_id="b", price=130, quantity=1, minutes=2),  # b closes its short: -30
        ]
    )
    assert agent(r, "a").totals.realized_pnl == 0
    assert agent(r, "a").totals.unrealized_pnl == pytest.approx(30.0)  # marked at b's last fill
    assert agent(r, "b").totals.realized_pnl == pytest.approx(-30.0)
    assert r.totals.total_pnl == pytest.approx(0.0)
    assert r.totals.profit_factor == pytest.approx(0.0)


def test_fills_sharing_a_timestamp_replay_in_id_order():
    ts = datetime(2025, 11, 21, 3, tzinfo=UTC)
    # Given out of order: id 11 (the sell) must come after id 10 (the buy) at the same instant.
    fills = [
        make_fill(id=11, side="SELL", price=105, quantity=1, timestamp=ts),
        make_fill(id=10, price=100, quantity=1, timestamp=ts),
    ]
    r = report_of(fills)
    assert r.totals.realized_pnl == pytest.approx(5.0)
    assert agent(r).open_positions == ()


def test_position_held_across_days_splits_pnl_by_day():
    day1 = trading_day(date(2025, 11, 20), "UTC")
    fills = [
        make_fill(price=100, quantity=1, timestamp=datetime(2025, 11, 20, 10, tzinfo=UTC)),
        make_fill(agent_id="m", price=110, quantity=0.001, timestamp=datetime(2025, 11, 20, 20, tzinfo=UTC)),
        make_fill(side="SELL", price=120, quantity=1, timestamp=datetime(2025, 11, 21, 10, tzinfo=UTC)),
    ]
    first = report_of(fills, day=day1)
    assert agent(first).totals.unrealized_pnl == pytest.approx(10.0)  # marked by m's fill at 110
    assert agent(first).totals.total_pnl == pytest.approx(10.0)
    second = report_of(fills)
    a = agent(second)
    assert a.totals.realized_pnl == pytest.approx(20.0)
    assert a.totals.unrealized_pnl == 0
    assert a.totals.total_pnl == pytest.approx(10.0)  # 20 realized - 10 unrealized of the day before
    # equity and returns: capital 100, then 110, then 120
    assert [p.equity for p in a.daily] == pytest.approx([110.0, 120.0])
    assert [p.return_ for p in a.daily] == pytest.approx([0.10, 10 / 110])


def test_fill_at_the_end_instant_belongs_to_the_next_day():
    fills = [make_fill(price=100), make_fill(side="SELL", price=150, timestamp=DAY.end)]
    r = report_of(fills)
    assert r.totals.trades == 1
    assert r.totals.realized_pnl == 0


def test_days_without_fills_are_days_like_any_other():
    fills = [make_fill(price=100, timestamp=datetime(2025, 11, 18, 12, tzinfo=UTC))]
    r = report_of(fills)
    assert [p.date for p in r.daily] == [date(2025, 11, d) for d in (18, 19, 20, 21)]
    assert [p.total_pnl for p in r.daily] == [0, 0, 0, 0]
    assert r.risk["7d"].days == 4  # not before the first day
    assert r.risk["7d"].win_days is None
    assert agent(r).active  # an open position, no fill today


def test_a_25_hour_day_in_new_york():
    day = trading_day(date(2025, 11, 2), "America/New_York")
    assert day.end - day.start == timedelta(hours=25)
    assert day.start == datetime(2025, 11, 2, 4, tzinfo=UTC)
    fills = [
        make_fill(price=100, timestamp=datetime(2025, 11, 2, 4, 0, tzinfo=UTC)),  # 00:00 EDT: in
        make_fill(side="SELL", price=110, timestamp=datetime(2025, 11, 3, 4, 30, tzinfo=UTC)),  # 23:30 EST: in
        make_fill(price=120, timestamp=datetime(2025, 11, 3, 5, 0, tzinfo=UTC)),  # 00:00 EST next day: out
        make_fill(price=90, timestamp=datetime(2025, 11, 2, 3, 59, tzinfo=UTC)),  # 23:59 EDT day before
    ]
    r = report_of(fills, day=day)
    assert r.totals.trades == 2
    assert r.totals.realized_pnl == pytest.approx(15.0)  # avg 95 after both buys, sold 1 at 110
    assert [p.date for p in r.daily] == [date(2025, 11, 1), date(2025, 11, 2)]
    assert r.intraday.times[0] == day.start and r.intraday.times[-1] == day.end
    assert r.intraday.portfolio[-1] == pytest.approx(r.totals.total_pnl)


def test_capital_policy_and_portfolio_equity():
    fills = [make_fill(agent_id="a"), make_fill(agent_id="b", side="SELL", price=100, minutes=1)]
    r = report_of(fills, capital=CapitalPolicy(100.0, {"b": 250.0}))
    assert agent(r, "b").totals.capital == 250
    assert r.totals.capital == 350
    assert r.totals.equity == pytest.approx(350 + r.totals.total_pnl)


def test_totals_are_the_sum_over_agents():
    fills = [
        make_fill(agent_id="a", price=100, quantity=2, fee=0.1),
        make_fill(agent_id="b", symbol="ETHUSDT", side="SELL", price=10, quantity=3, fee=0.2, minutes=3),
        make_fill(agent_id="a", side="SELL", price=90, quantity=1, fee=0.3, minutes=9),
        make_fill(agent_id="b", symbol="ETHUSDT", price=11, quantity=1, fee=None or 0.0, minutes=10),
    ]
    r = report_of(fills)
    for key in ("trades", "volume", "fees", "realized_pnl", "unrealized_pnl", "total_pnl", "closing_fills", "wins"):
        assert getattr(r.totals, key) == pytest.approx(sum(getattr(a.totals, key) for a in r.agents)), key
    symbols = {s.symbol: s for s in r.symbols}
    assert symbols["ETHUSDT"].realized_pnl == pytest.approx(-1.0)
    assert symbols["BTCUSDT"].net_realized_pnl == pytest.approx(-10.0 - 0.4)


def test_no_fill_at_all_gives_an_empty_but_valid_report():
    r = report_of([])
    assert r.agents == () and r.totals.trades == 0 and r.totals.equity == 0
    assert r.risk["30d"].pnl == 0 and r.risk["30d"].max_drawdown == 0
