"""The benchmark (CONTRACT 3): buy and hold of one symbol from the report's own marks, against quantstats'
``stats.greeks`` (beta, alpha) and numpy's correlation on the same series to 1e-9, and hand-computed cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from factories import make_fill

from reports.calendar import trading_day
from reports.models import DailyPoint, Fills
from reports.numbers.benchmark import benchmark, compare, daily_marks, returns_of
from reports.numbers.compute import RunInputs, build_report
from reports.settings import CapitalPolicy, Settings

D1 = date(2026, 1, 1)


def points(returns: list[float | None], capital: float = 1000.0) -> list[DailyPoint]:
    out, equity = [], capital
    for k, r in enumerate(returns):
        pnl = 0.0 if r is None else equity * r
        out.append(DailyPoint(D1 + timedelta(days=k), pnl, equity + pnl, r))
        equity += pnl
    return out


def test_hand_computed_window():
    # marks 100 → 110 → 99 → 99: b = +10 %, −10 %, 0 %; the portfolio: +1 %, +2 %, −1 %
    marks = np.array([np.nan, 100.0, 110.0, 99.0, 99.0])
    daily = points([0.05, 0.01, 0.02, -0.01])
    got = benchmark("BTCUSDT", daily, marks, daily[-1].date)
    assert got is not None
    w = got.windows["7d"]
    assert w.days == 3  # the first day has no mark before it
    assert w.return_ == pytest.approx(1.1 * 0.9 - 1)
    assert w.excess_return == pytest.approx(1.01 * 1.02 * 0.99 - 1.1 * 0.9)
    r, b = np.array([0.01, 0.02, -0.01]), np.array([0.1, -0.1, 0.0])
    beta = np.cov(r, b)[0, 1] / np.var(b, ddof=1)
    assert w.beta == pytest.approx(beta)
    assert w.alpha == pytest.approx((r.mean() - beta * b.mean()) * 365)
    assert got.closes == tuple((daily[k].date, m) for k, m in enumerate([100.0, 110.0, 99.0, 99.0]))


def test_not_computable_is_null():
    assert compare(np.array([]), np.array([])).return_ is None
    one = compare(np.array([0.01]), np.array([0.02]))
    assert (one.days, one.return_, one.beta, one.alpha, one.correlation) == (1, pytest.approx(0.02), None, None, None)
    flat = compare(np.array([0.01, 0.03, -0.02]), np.array([0.0, 0.0, 0.0]))  # the symbol did not move
    assert (flat.beta, flat.alpha, flat.correlation) == (None, None, None) and flat.return_ == 0.0
    still = compare(np.array([0.01, 0.01, 0.01]), np.array([0.01, -0.02, 0.03]))  # the portfolio did not move
    assert still.correlation is None and still.beta == pytest.approx(0.0, abs=1e-12)
    assert benchmark("BTCUSDT", points([0.01, 0.02]), np.array([np.nan] * 3), D1) is None  # never traded


def test_marks_are_the_last_fill_strictly_before_each_end():
    ts = np.array([10, 20, 30], dtype=np.int64)
    got = daily_marks(ts, np.array([1.0, 2.0, 3.0]), np.array([5, 10, 25, 31], dtype=np.int64))
    assert np.isnan(got[0]) and np.isnan(got[1])  # a fill at the end instant belongs to the next day
    assert got[2:].tolist() == [2.0, 3.0]
    assert np.isnan(daily_marks(np.array([], dtype=np.int64), np.array([]), np.array([5]))).all()


@pytest.mark.parametrize("seed", range(5))
def test_against_quantstats_greeks_and_numpys_correlation(seed: int):
    import quantstats as qs  # the oracle: only in the test (bench extra)

    rng = np.random.default_rng(seed)
    n = 120
    returns: list[float | None] = rng.normal(0.002, 0.02, n).tolist()
    returns[7] = None  # a day whose return is not computable is left out of both
    marks = np.concatenate([[np.nan, np.nan], 30_000 * np.cumprod(1 + rng.normal(0, 0.03, n - 1))])
    marks[40] = np.nan  # (not possible once traded; the pairs that lack it are left out all the same)
    daily = points(returns)
    got = benchmark("BTCUSDT", daily, marks, daily[-1].date)
    assert got is not None
    b = returns_of(marks)
    r = np.array([np.nan if x is None else x for x in returns])
    for name, days in (("7d", 7), ("30d", 30), ("90d", 90)):
        w = got.windows[name]
        rr, bb = r[-days:], b[-days:]
        keep = ~np.isnan(rr) & ~np.isnan(bb)
        rr, bb = rr[keep], bb[keep]
        index = pd.date_range("2026-01-01", periods=len(rr), freq="D")
        greeks = qs.stats.greeks(pd.Series(rr, index=index), pd.Series(bb, index=index), periods=365)
        assert w.days == len(rr)
        assert w.beta == pytest.approx(greeks["beta"], abs=1e-9)
        assert w.alpha == pytest.approx(greeks["alpha"], abs=1e-9)
        assert w.correlation == pytest.approx(np.corrcoef(rr, bb)[0, 1], abs=1e-9)
        assert w.return_ == pytest.approx(np.prod(1 + bb) - 1, abs=1e-12)
        assert w.excess_return == pytest.approx(np.prod(1 + rr) - np.prod(1 + bb), abs=1e-12)
    assert got.windows["90d"].days == 90 - 2  # the two days around the missing 40th mark have no b


def test_the_report_takes_the_marks_of_its_fills_and_the_symbol_of_its_settings():
    at = [datetime(2026, 1, d, h, tzinfo=UTC) for d, h in ((1, 9), (1, 20), (2, 12), (4, 8))]
    fills = [
        make_fill(agent_id="a", symbol="ETHUSDT", price=10.0, timestamp=at[0]),
        make_fill(agent_id="m", price=100.0, quantity=0.01, timestamp=at[1]),
        make_fill(agent_id="m", side="SELL", price=104.0, quantity=0.01, timestamp=at[2]),
        make_fill(agent_id="a", symbol="ETHUSDT", side="SELL", price=11.0, timestamp=at[3]),
    ]
    day = trading_day(date(2026, 1, 4), "UTC")
    now = datetime(2026, 1, 5, tzinfo=UTC)
    r = build_report(Fills.from_records(fills), day, CapitalPolicy(), RunInputs(now))
    assert r.benchmark is not None and r.benchmark.symbol == "BTCUSDT"
    # BTC's mark at the end of each day: 100, 104, 104 (no fill on the 3rd and 4th: the last one stays)
    assert r.benchmark.closes == (
        (date(2026, 1, 1), 100.0),
        (date(2026, 1, 2), 104.0),
        (date(2026, 1, 3), 104.0),
        (date(2026, 1, 4), 104.0),
    )
    assert r.benchmark.windows["7d"].days == 3
    assert r.benchmark.windows["7d"].return_ == pytest.approx(0.04)
    eth = build_report(Fills.from_records(fills), day, CapitalPolicy(), RunInputs(now, benchmark="ETHUSDT"))
    assert eth.benchmark is not None and eth.benchmark.windows["7d"].return_ == pytest.approx(0.1)
    none = build_report(Fills.from_records(fills), day, CapitalPolicy(), RunInputs(now, benchmark="DOGEUSDT"))
    assert none.benchmark is None


def test_the_setting():
    assert Settings.from_env({}).benchmark_symbol == "BTCUSDT"
    assert Settings.from_env({"REPORT_BENCHMARK_SYMBOL": "ethusdt"}).benchmark_symbol == "ETHUSDT"
