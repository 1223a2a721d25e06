"""Drawdowns of an equity series (CONTRACT 3 Drawdowns): when, how deep, how long. Pure: no I/O.

E(d) is the equity at the end of day d, the peak the highest equity so far with the capital (the equity before
the first day) included. A drawdown starts on the first day with E below the peak; its valley is the day of its
lowest E ÷ peak (the first such day on a tie); it ends on the first day E is back at or above that peak (``end``
None while it has not). ``depth`` = lowest E ÷ peak − 1 (≤ 0); ``days`` counts from ``start`` to ``end`` (to the
report date while open), both included.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from reports.models import DailyPoint, Drawdown

WORST_SHOWN = 5
"""The report lists this many drawdowns, the deepest first."""


def drawdowns(daily: Sequence[DailyPoint], capital: float, report_date: date) -> list[Drawdown]:
    """Every drawdown of ``daily`` (oldest first), the peak starting at ``capital``."""
    out: list[Drawdown] = []
    peak = capital
    start: date | None = None
    valley: date | None = None
    low = 0.0
    for p in daily:
        if start is None:
            if p.equity < peak and peak > 0:
                start, valley, low = p.date, p.date, p.equity / peak - 1
            else:
                peak = max(peak, p.equity)
            continue
        if p.equity >= peak:
            assert valley is not None
            out.append(Drawdown(start, valley, p.date, (p.date - start).days + 1, low))
            start, peak = None, p.equity
        elif p.equity / peak - 1 < low:
            valley, low = p.date, p.equity / peak - 1
    if start is not None:
        assert valley is not None
        out.append(Drawdown(start, valley, None, (report_date - start).days + 1, low))
    return out


def worst_drawdowns(
    daily: Sequence[DailyPoint], capital: float, report_date: date, n: int = WORST_SHOWN
) -> tuple[Drawdown, ...]:
    """The ``n`` deepest drawdowns of ``daily``, deepest first; of two equally deep, the earlier first."""
    return tuple(sorted(drawdowns(daily, capital, report_date), key=lambda d: (d.depth, d.start))[:n])


def open_drawdown(daily: Sequence[DailyPoint], capital: float, report_date: date) -> Drawdown | None:
    """The drawdown ``daily`` is still in on its last day (not recovered), if any: deep or not, the one the
    summary's risk line names."""
    found = drawdowns(daily, capital, report_date)
    return found[-1] if found and found[-1].end is None else None
