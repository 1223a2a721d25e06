"""Every convention of the numbers in one place (CONTRACT 3)."""

from __future__ import annotations

PERIODS_PER_YEAR = 365
"""Crypto trades every calendar day: annualize daily figures with 365 periods."""

RISK_FREE_RATE = 0.0

RISK_WINDOWS: dict[str, int] = {"7d": 7, "30d": 30, "90d": 90}
"""Risk windows: the N calendar days ending on the report date, not before the first day."""

INTRADAY_STEP_SECONDS = 300
"""Sampling step of the intraday cumulative P&L series (charts only)."""

CONVENTIONS = {
    "accounting": "average_cost",
    "periods_per_year": PERIODS_PER_YEAR,
    "risk_free_rate": RISK_FREE_RATE,
    "mark": "last_fill",
}
"""The ``conventions`` block of report.json."""
