"""The funding events a run needs, read once per symbol and run, and what is said when they cannot be read.

The days a run closes (a first run's year, the days since the last run, the report day) are asked for oldest
first; each symbol's events are read once, from the first day that needs them to the end of the report day, and
sliced per day. A symbol whose events cannot be read makes every day that needs it a day without funding: its
``funding_pnl`` is None (never a guessed 0), the report says so, and a later run completes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from reports.calendar import TradingDay
from reports.closed_days import EngineState
from reports.models import Fills, FundingEvents
from reports.sources.funding import FundingUnavailable
from reports.sources.trading_service import TradingService

log = logging.getLogger("reports")


class FundingReader:
    """Funding events of ``service`` up to ``until`` (the end of the report day), per day asked for."""

    def __init__(self, service: TradingService, until: datetime) -> None:
        self.service, self.until = service, until
        self._events: dict[str, tuple[datetime, FundingEvents]] = {}
        self.failures: dict[str, str] = {}
        """Symbol -> why its events could not be read."""
        self.missing: list[date] = []
        """The days asked for whose funding could not be read, in the order asked."""
        self.warnings: list[str] = []
        self.requests = 0

    def for_day(self, day: TradingDay, fills: Fills, start: EngineState) -> Mapping[str, FundingEvents] | None:
        """The events of the symbols the day involves (its fills and the positions open at its start), or None
        when one of them cannot be read."""
        symbols = set(fills.frame["symbol"].unique().tolist()) | {s for _, s, q, _ in start.positions if q != 0.0}
        out: dict[str, FundingEvents] = {}
        for symbol in sorted(symbols):
            events = self._read(symbol, day.start)
            if events is None:
                self.missing.append(day.date)
                return None
            out[symbol] = events
        return out

    def readable(self, symbols: set[str], since: datetime) -> bool:
        """Whether the events of ``symbols`` from ``since`` can be read (read and kept for the days asked next)."""
        return all(self._read(symbol, since) is not None for symbol in sorted(symbols))

    def _read(self, symbol: str, since: datetime) -> FundingEvents | None:
        if symbol in self.failures:
            return None
        cached = self._events.get(symbol)
        if cached is not None and cached[0] <= since:
            return cached[1]
        self.requests += 1
        try:
            events, warnings = self.service.funding(symbol, since, self.until)
        except FundingUnavailable as exc:
            self.failures[symbol] = str(exc)
            log.warning("%s", exc)
            return None
        self.warnings.extend(warnings)
        self._events[symbol] = (since, events)
        return events

    def missing_warning(self) -> str | None:
        """One line naming the days without funding and why, or None when every day had it."""
        if not self.missing:
            return None
        days = _spans(sorted(set(self.missing)))
        reason = next(iter(self.failures.values()), "the events could not be read")
        return (
            f"funding is not included in the P&L of {days}: {reason}. The trading service serves funding from its "
            "exchange connection (/api/exchange/funding-rate); a later run that can read it completes those days"
        )


def _spans(days: list[date]) -> str:
    """``2026-11-20..2026-11-22, 2026-11-25``: consecutive days as one span."""
    spans: list[tuple[date, date]] = []
    for d in days:
        if spans and d == spans[-1][1] + timedelta(days=1):
            spans[-1] = (spans[-1][0], d)
        else:
            spans.append((d, d))
    return ", ".join(a.isoformat() if a == b else f"{a}..{b}" for a, b in spans)
