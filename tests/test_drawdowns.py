"""Drawdowns (CONTRACT 3): hand-computed series (a recovered one, two of equal depth, an open one, one ending on the
report date) and an independent implementation on random series (runs under water found with numpy)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from reports.models import DailyPoint, Drawdown
from reports.numbers.drawdowns import drawdowns, open_drawdown, worst_drawdowns

D1 = date(2026, 3, 1)


def series(equities: list[float], capital: float = 100.0, first: date = D1) -> list[DailyPoint]:
    out, before = [], capital
    for k, e in enumerate(equities):
        out.append(DailyPoint(first + timedelta(days=k), e - before, e, (e - before) / before))
        before = e
    return out


def day(n: int) -> date:
    return D1 + timedelta(days=n - 1)


# Capital 100. A: under it on day 1 (90: −10 %), back at 100 on day 3. B: from the peak 110 of day 4 to 99 on
# days 5 and 6 (−10 % again: 99 ÷ 110 and 90 ÷ 100 are the same float), back above on day 7 (115). C: 92 on day 9,
# 115 × 0.8 (−20 %), open on day 9.
EQUITY = [90.0, 95.0, 100.0, 110.0, 99.0, 99.0, 115.0, 112.0, 92.0]
A = Drawdown(day(1), day(1), day(3), 3, 90.0 / 100.0 - 1)
B = Drawdown(day(5), day(5), day(7), 3, 99.0 / 110.0 - 1)  # the first of its two lowest days
C_OPEN = Drawdown(day(8), day(9), None, 2, 92.0 / 115.0 - 1)


def test_a_recovered_one_two_of_equal_depth_and_an_open_one():
    found = drawdowns(series(EQUITY), 100.0, day(9))
    assert found == [A, B, C_OPEN]
    assert A.depth == B.depth == pytest.approx(-0.1)
    assert C_OPEN.depth == pytest.approx(-0.2)
    # deepest first; of the two equally deep, the earlier first
    assert worst_drawdowns(series(EQUITY), 100.0, day(9)) == (C_OPEN, A, B)
    assert open_drawdown(series(EQUITY), 100.0, day(9)) == C_OPEN


def test_an_open_one_counts_its_days_to_the_report_date():
    # the daily series ends on the report date; an open drawdown runs to it, both days included
    assert drawdowns(series(EQUITY), 100.0, day(12))[-1].days == 5


def test_one_ending_on_the_report_date():
    found = drawdowns(series([*EQUITY, 115.0]), 100.0, day(10))
    assert found[-1] == Drawdown(day(8), day(9), day(10), 3, 92.0 / 115.0 - 1)
    assert open_drawdown(series([*EQUITY, 115.0]), 100.0, day(10)) is None


def test_only_the_five_deepest_and_none_above_water():
    equity = []
    for depth in (1, 6, 2, 5, 3, 4, 7):  # seven drawdowns from a peak of 100 each time
        equity += [100.0 - depth, 100.0]
    found = worst_drawdowns(series(equity), 100.0, day(len(equity)))
    assert [round(-d.depth * 100) for d in found] == [7, 6, 5, 4, 3]
    assert worst_drawdowns(series([100.0, 101.0, 101.0]), 100.0, day(3)) == ()
    assert worst_drawdowns([], 100.0, day(1)) == ()


def reference(equity: np.ndarray, capital: float, dates: list[date], report_date: date) -> list[Drawdown]:
    """Independently: the peak as numpy's running maximum with the capital in front, the days under water as
    runs of a boolean mask, each run's valley by argmin (the first on a tie), its end the day after the run."""
    peak = np.maximum.accumulate(np.concatenate([[capital], equity]))[:-1]
    peak = np.maximum(peak, 0)  # (the capital is positive: no effect)
    under = equity < peak
    # a run starts where under turns True; the peak of a run is the one at its start
    out = []
    k = 0
    n = len(equity)
    while k < n:
        if not under[k]:
            k += 1
            continue
        j = k
        top = peak[k]
        while j < n and equity[j] < top:
            j += 1
        ratio = equity[k:j] / top - 1
        low = int(np.argmin(ratio))
        end = dates[j] if j < n else None
        days = ((end or report_date) - dates[k]).days + 1
        out.append(Drawdown(dates[k], dates[k + low], end, days, float(ratio[low])))
        k = j
    return out


@pytest.mark.parametrize("seed", range(6))
def test_against_an_independent_implementation(seed: int):
    rng = np.random.default_rng(seed)
    pnl = np.round(rng.normal(0.3, 2.0, 200), 2)
    capital = 100.0
    points = []
    equity = capital
    for k, x in enumerate(pnl.tolist()):
        before, equity = equity, equity + x
        points.append(DailyPoint(D1 + timedelta(days=k), x, equity, x / before))
    dates = [p.date for p in points]
    report_date = dates[-1]
    expected = reference(np.array([p.equity for p in points]), capital, dates, report_date)
    assert len(expected) >= 5
    assert drawdowns(points, capital, report_date) == expected
    ordered = sorted(expected, key=lambda d: (d.depth, d.start))[:5]
    assert list(worst_drawdowns(points, capital, report_date)) == ordered
