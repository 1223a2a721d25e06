"""Risk windows against hand-computed values and an independent implementation (empyrical-reloaded)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import empyrical
import numpy as np
import pandas as pd
import pytest
from factories import make_fill

from reports.calendar import trading_day
from reports.models import Fills
from reports.numbers import risk
from reports.numbers.compute import RunInputs, build_report
from reports.settings import CapitalPolicy

ANN = 365


def test_hand_computed_window():
    r = np.array([0.10, -0.05, 0.02])
    got = risk.window_risk(np.array([10.0, -5.5, 2.09]), r)
    assert got.days == 3
    assert got.pnl == pytest.approx(6.59)
    assert got.return_ == pytest.approx(1.10 * 0.95 * 1.02 - 1)
    mean, sd = r.mean(), math.sqrt(((r - r.mean()) ** 2).sum() / 2)
    assert got.volatility == pytest.approx(sd * math.sqrt(365))
    assert got.sharpe == pytest.approx(mean / sd * math.sqrt(365))
    assert got.sortino == pytest.approx(mean / math.sqrt(0.05**2 / 3) * math.sqrt(365))
    assert got.max_drawdown == pytest.approx(-0.05)  # 1.1 -> 1.045
    assert got.win_days == pytest.approx(2 / 3)


def test_drawdown_from_the_start_counts_against_capital():
    assert risk.max_drawdown(np.array([-0.1, 0.05])) == pytest.approx(-0.1)
    assert risk.max_drawdown(np.array([0.1, 0.2])) == 0.0


def test_not_computable_cases_are_none():
    one = risk.window_risk(np.array([1.0]), np.array([0.01]))
    assert one.volatility is None and one.sharpe is None
    assert one.sortino is None  # no negative day
    flat = risk.window_risk(np.zeros(3), np.zeros(3))
    assert flat.sharpe is None and flat.win_days is None
    assert (flat.pnl, flat.return_, flat.max_drawdown) == (0.0, 0.0, 0.0)
    equal = risk.window_risk(np.zeros(3), np.array([0.1, 0.1, 0.1]))  # std is 1.7e-17 in floating point
    assert equal.sharpe is None
    empty = risk.window_risk(np.array([]), np.array([]))
    assert empty.days == 0 and empty.max_drawdown == 0.0


@pytest.mark.parametrize("seed", range(8))
def test_against_empyrical(seed):
    rng = np.random.default_rng(seed)
    r = rng.normal(0.002, 0.03, size=int(rng.integers(5, 120)))
    got = risk.window_risk(np.zeros(len(r)), r)
    s = pd.Series(r)
    assert got.return_ == pytest.approx(empyrical.cum_returns_final(s), rel=1e-9)
    assert got.volatility == pytest.approx(empyrical.annual_volatility(s, annualization=ANN), rel=1e-9)
    assert got.sharpe == pytest.approx(empyrical.sharpe_ratio(s, annualization=ANN), rel=1e-9)
    assert got.sortino == pytest.approx(empyrical.sortino_ratio(s, annualization=ANN), rel=1e-9)
    assert got.max_drawdown == pytest.approx(empyrical.max_drawdown(s), rel=1e-9)


def test_report_windows_match_empyrical_on_the_returns_series():
    # A month of alternating days for one agent; the 7-day window is the last 7 calendar days.
    fills = []
    for k in range(30):
        ts = datetime(2025, 10, 23, 12, tzinfo=UTC) + pd.Timedelta(days=k)
        fills.append(make_fill(price=100, quantity=1, timestamp=ts))
        fills.append(
            make_fill(side="SELL", price=100 + (k % 5) - 2 + 0.1 * k, quantity=1, timestamp=ts + pd.Timedelta(hours=1))
        )
    report = build_report(
        Fills.from_records(fills),
        trading_day(date(2025, 11, 21), "UTC"),
        CapitalPolicy(),
        RunInputs(datetime.now(UTC)),
    )
    returns = pd.Series([p.return_ for p in report.daily])
    for name, n in (("7d", 7), ("30d", 30), ("90d", 90)):
        window = returns.iloc[-n:]
        got = report.risk[name]
        assert got.days == len(window)
        assert got.sharpe == pytest.approx(empyrical.sharpe_ratio(window, annualization=ANN), rel=1e-9)
        assert got.max_drawdown == pytest.approx(empyrical.max_drawdown(window), rel=1e-9)
        assert got.return_ == pytest.approx(empyrical.cum_returns_final(window), rel=1e-9)
    # return(d) = total_pnl(d) / equity(d-1), equity starting from the capital of 100
    eq_prev = 100.0
    for p in report.daily:
        assert p.return_ == pytest.approx(p.total_pnl / eq_prev)
        eq_prev = p.equity
