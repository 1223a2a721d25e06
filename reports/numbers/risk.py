"""Risk metrics over a window of daily returns (CONTRACT 3): small pure functions, one per metric.

Conventions of quantstats' ``stats`` functions: risk-free rate 0, 365 periods a year, sample
standard deviation (ddof=1). ``None`` means "not computable", never a guess.
"""

from __future__ import annotations

import math

import numpy as np

from reports.models import Risk
from reports.numbers.conventions import PERIODS_PER_YEAR


def total_return(r: np.ndarray) -> float:
    """Compounded return: ``prod(1 + r) - 1`` (0 for an empty window)."""
    return float(np.prod(1.0 + r) - 1.0) if len(r) else 0.0


def volatility(r: np.ndarray) -> float | None:
    """Annualized volatility: ``std(r, ddof=1) * sqrt(365)``; None with fewer than 2 days."""
    if len(r) < 2:
        return None
    return float(np.std(r, ddof=1) * math.sqrt(PERIODS_PER_YEAR))


def sharpe(r: np.ndarray) -> float | None:
    """Annualized Sharpe ratio: ``mean(r) / std(r, ddof=1) * sqrt(365)``; None with < 2 days or zero deviation."""
    if len(r) < 2:
        return None
    sd = float(np.std(r, ddof=1))
    # Equal returns leave rounding noise (1e-17), not a deviation: that is the "zero deviation" case.
    if sd <= 1e-12 * abs(float(np.mean(r))) or sd == 0.0 or not math.isfinite(sd):
        return None
    return float(np.mean(r) / sd * math.sqrt(PERIODS_PER_YEAR))


def sortino(r: np.ndarray) -> float | None:
    """Annualized Sortino ratio: ``mean(r) / sqrt(sum(min(r, 0)^2) / n) * sqrt(365)``; None with no negative day."""
    downside = np.minimum(r, 0.0)
    if not np.any(downside < 0.0):
        return None
    dd = math.sqrt(float(np.sum(downside**2)) / len(r))
    return float(np.mean(r) / dd * math.sqrt(PERIODS_PER_YEAR))


def max_drawdown(r: np.ndarray) -> float:
    """Maximum drawdown: ``min(E / max(1, running_max(E)) - 1)`` with ``E = cumprod(1 + r)``; 0 if empty."""
    if not len(r):
        return 0.0
    equity = np.cumprod(1.0 + r)
    peak = np.maximum(np.maximum.accumulate(equity), 1.0)
    return float(min(np.min(equity / peak - 1.0), 0.0))


def win_days(r: np.ndarray) -> float | None:
    """Share of winning days: days with ``r > 0`` / days with ``r != 0``; None with no such day."""
    moved = int(np.count_nonzero(r))
    if moved == 0:
        return None
    return float(np.count_nonzero(r > 0.0) / moved)


def window_risk(pnl: np.ndarray, returns: np.ndarray) -> Risk:
    """The RISK block for one window of days: ``pnl`` and ``returns`` hold one value per day.

    Days whose return is not computable (NaN: the equity before them was 0) count in ``days`` and
    ``pnl`` but are left out of the return-based metrics.
    """
    r = returns[~np.isnan(returns)]
    return Risk(
        days=len(pnl),
        pnl=float(np.sum(pnl)),
        return_=total_return(r),
        volatility=volatility(r),
        sharpe=sharpe(r),
        sortino=sortino(r),
        max_drawdown=max_drawdown(r),
        win_days=win_days(r),
    )
