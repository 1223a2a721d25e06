"""``report verify --from D1 --to D2``: compare the stored days with the trading service, day by day.

A daily run re-reads only the last hour before the day it reports, so a correction upstream older than
that is not seen by it. This command reads every day of the range again and says which stored days differ.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from reports.calendar import trading_day
from reports.settings import Settings
from reports.sources.store import fills_digest
from reports.sources.stores import open_store
from reports.sources.trading_service import TradingService

log = logging.getLogger("reports")


@dataclass(frozen=True)
class DayCheck:
    """One day of the range: ``same``, ``differs`` or ``not stored``, with the two counts."""

    date: date
    outcome: str
    service_fills: int
    stored_fills: int | None

    def render(self) -> str:
        """One line: the date, the outcome and the counts."""
        if self.outcome == "not stored":
            return f"{self.date}  not stored  service {self.service_fills:,} fills"
        detail = f"service {self.service_fills:,} fills, stored {self.stored_fills:,}"
        if self.outcome == "differs":
            return f"{self.date}  differs     {detail}: run 'report --rebuild-from {self.date}' to read it again"
        return f"{self.date}  same        {detail}"


def verify(settings: Settings, first: date, last: date) -> list[DayCheck]:
    """Every day from ``first`` to ``last``: its fills from the service against the stored copy."""
    checks = []
    with TradingService(settings.trading_service_url) as service:
        store, warnings = open_store(settings.state_dir, service.base_url, settings.timezone, settings.state_url)
        for warning in warnings:
            log.warning("%s", warning)
        with store:
            d = first
            while d <= last:
                day = trading_day(d, settings.timezone)
                fills = service.fills(end=day.end, start=day.start).fills
                stored = store.get(d)
                if stored is None:
                    outcome = "not stored"
                elif stored.fills == len(fills) and stored.digest == fills_digest(fills):
                    outcome = "same"
                else:
                    outcome = "differs"
                checks.append(DayCheck(d, outcome, len(fills), stored.fills if stored else None))
                d += timedelta(days=1)
    return checks
