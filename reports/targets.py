"""The report's targets: one frozen record, built once from the settings and carried on the report.

Its own module at the bottom because both :mod:`reports.settings` (which builds it) and :mod:`reports.models`
(whose ``Report`` carries it) need it, and those two may not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Targets:
    """What the day is judged against: a P&L target (USDT), a win rate and a drawdown limit (fractions)."""

    daily_pnl: float = 350.0
    win_rate: float = 0.55
    max_drawdown: float = 0.25
    """A positive fraction: a drawdown at or past ``-max_drawdown`` is flagged."""
