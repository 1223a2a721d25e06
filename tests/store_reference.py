"""What the store's days are checked against: the cold replay of the whole history, read in one go and replayed
from its first fill (``build_report``), as the report did before the store existed."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from reports.calendar import TradingDay, trading_day
from reports.models import Report
from reports.numbers.compute import RunInputs, build_report
from reports.presentation import report_json
from reports.settings import Settings
from reports.sources.store import DayStore, store_path
from reports.sources.trading_service import HISTORY_START, TradingService

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def reference(settings: Settings, d: date) -> Report:
    """The cold replay of day ``d``, with the settings' targets as a run attaches them."""
    return cold_replay(settings, trading_day(d, settings.timezone))


def cold_replay(settings: Settings, day: TradingDay, now: datetime = NOW) -> Report:
    """The cold replay: every fill before the end of ``day``, read at once, replayed from the first, with every
    funding event of their symbols read at once too."""
    with TradingService(settings.trading_service_url) as service:
        fills = service.fills(end=day.end).fills
        symbols = sorted(set(fills.frame["symbol"]))
        funding = {s: service.funding(s, HISTORY_START, day.end)[0] for s in symbols}
        return build_report(
            fills,
            day,
            settings.capital,
            RunInputs(generated_at=now, agent_info=service.agents(), targets=settings.targets),
            funding,
        )


def figures(report: Report) -> dict:
    """report.json less what is about the run rather than the numbers."""
    doc = json.loads(report_json.dumps(report))
    for key in ("warnings", "sources"):
        doc.pop(key)
    return doc


def stored_dates(settings: Settings) -> list[date]:
    """The dates the store of these settings holds."""
    if settings.state_url:  # the state database's store (opening the SQLite one also sweeps old caches)
        from reports.sources.store_pg import PgDayStore

        with PgDayStore.open(settings.state_url, settings.trading_service_url, settings.timezone)[0] as pg:
            return pg.dates()
    with DayStore(store_path(settings.state_dir, settings.trading_service_url, settings.timezone)) as store:
        return store.dates()
