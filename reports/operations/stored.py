"""The report of a day the store holds, from the store alone: no fill read, no replay.

The bot sends such a day's summary from it at once (issue 21) and builds the rest (the album, report.html) as
the command line does, from the day's fills; it compares the two summaries. A day the store does not hold with
every figure is built from the fills, as before.
"""

from __future__ import annotations

from datetime import UTC, datetime

from reports.calendar import TradingDay, is_partial
from reports.models import Report
from reports.numbers.compute import RunInputs
from reports.numbers.stored_day import has_figures, stored_day_report
from reports.operations.pipeline import with_sources
from reports.settings import Settings
from reports.sources.stores import open_store
from reports.sources.trading_service import TradingService


def stored_report(settings: Settings, day: TradingDay, now: datetime | None = None) -> Report | None:
    """The report of ``day`` from the store of closed days, with its operations and reconciliation (Prometheus and
    the exchange, as a run); None when the store cannot give every figure of it: the day not stored, or stored by a
    version before the per-pair closes were kept, a day of its history without its funding, a damaged day."""
    if is_partial(day):
        return None
    with TradingService(settings.trading_service_url) as service:
        store, _ = open_store(settings.state_dir, service.base_url, settings.timezone, settings.state_url)
        with store:
            days, warnings = store.load(until=day.date)
        if warnings or not days or days[-1].date != day.date or not has_figures(days[-1]):
            return None
        if not all(d.funding_known for d in days):  # a run would read the missing funding first
            return None
        inputs = RunInputs(
            generated_at=now or datetime.now(UTC),
            agent_info=service.agents(),
            targets=settings.targets,
            agents=settings.agents,
            benchmark=settings.benchmark_symbol,
        )
        report = stored_day_report(days[:-1], days[-1], day, settings.capital, inputs)
    return with_sources(report, settings, demo=False)
