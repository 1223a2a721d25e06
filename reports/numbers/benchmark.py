"""The portfolio against buy and hold of one symbol (CONTRACT 3 Benchmark). Pure: no I/O.

The benchmark's daily return is b(d) = mark(end of d) ÷ mark(end of d−1) − 1 over the days where both marks
exist, marks being the price of the symbol's last fill before each end (the report's own marks). Over each risk
window, on the days that have both the portfolio's return r and b (``days`` counts them):

- ``return`` = Π(1+b) − 1;  ``excess_return`` = Π(1+r) − Π(1+b);
- ``beta`` = cov(r, b) ÷ var(b), sample (ddof 1) covariance and variance;
- ``alpha`` = (mean(r) − beta · mean(b)) · 365;  ``correlation`` = Pearson's r.

The conventions of quantstats' ``stats.greeks`` with 365 periods a year. None where a figure is not computable:
no day (return, excess return), fewer than two days or a variance of 0 (beta, alpha, correlation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np

from reports.models import Benchmark, DailyPoint
from reports.numbers.conventions import PERIODS_PER_YEAR, RISK_WINDOWS
from reports.performance import BenchmarkWindow


def daily_marks(ts: np.ndarray, price: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The mark at each instant of ``ends`` (int64 ns): the price of the last of the symbol's fills (``ts`` sorted,
    ``price``) strictly before it; NaN before its first fill."""
    if not len(ts):
        return np.full(len(ends), np.nan)
    at = np.searchsorted(ts, ends, side="left") - 1
    return np.where(at >= 0, np.asarray(price, dtype=np.float64)[np.maximum(at, 0)], np.nan)


def returns_of(marks: np.ndarray) -> np.ndarray:
    """b(d) = marks[d] ÷ marks[d−1] − 1 for d ≥ 1 (NaN where a mark is missing): one value fewer than ``marks``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return marks[1:] / marks[:-1] - 1.0


def _flat(x: np.ndarray) -> bool:
    """A sample deviation of 0, or only rounding noise around the mean (as the Sharpe ratio's)."""
    sd = float(np.std(x, ddof=1))
    return sd == 0.0 or sd <= 1e-12 * abs(float(np.mean(x))) or not math.isfinite(sd)


def compare(r: np.ndarray, b: np.ndarray) -> BenchmarkWindow:
    """The benchmark figures of one window from the portfolio's returns ``r`` and the benchmark's ``b``, both over
    the same days (NaN: that day has no value; it is left out of both)."""
    both = ~np.isnan(r) & ~np.isnan(b)
    r, b = r[both], b[both]
    n = len(r)
    if n == 0:
        return BenchmarkWindow(0, None, None, None, None, None)
    held = float(np.prod(1.0 + b))
    ret = held - 1.0
    excess = float(np.prod(1.0 + r)) - held
    if n < 2 or _flat(b):
        return BenchmarkWindow(n, ret, excess, None, None, None)
    matrix = np.cov(r, b)
    beta = float(matrix[0, 1] / matrix[1, 1])
    alpha = float((np.mean(r) - beta * np.mean(b)) * PERIODS_PER_YEAR)
    correlation = None if _flat(r) else float(np.corrcoef(r, b)[0, 1])
    return BenchmarkWindow(n, ret, excess, beta, alpha, correlation)


def benchmark(symbol: str, daily: Sequence[DailyPoint], marks: np.ndarray, report_date: date) -> Benchmark | None:
    """Buy and hold of ``symbol`` against the ``daily`` series over the risk windows ending on ``report_date``.

    ``marks`` holds one mark more than ``daily`` has days: the symbol's mark at the end of the day before the
    first, then at the end of each day (NaN where it had no fill yet). None when it never had one.
    """
    if len(marks) != len(daily) + 1:
        raise ValueError(f"{len(marks)} marks for {len(daily)} days: give the day before the first one too")
    if np.isnan(marks).all():
        return None
    b = returns_of(marks)
    r = np.array([np.nan if p.return_ is None else p.return_ for p in daily], dtype=np.float64)
    dates = [p.date for p in daily]
    windows = {}
    for name, n in RISK_WINDOWS.items():
        first = report_date - timedelta(days=n - 1)
        inside = np.array([d >= first for d in dates], dtype=bool)
        windows[name] = compare(r[inside], b[inside])
    closes = tuple((d, float(m)) for d, m in zip(dates, marks[1:].tolist(), strict=True) if not math.isnan(m))
    return Benchmark(symbol, windows, closes)
