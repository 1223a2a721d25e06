"""``report state export``: going back from ``REPORT_STATE_URL`` to ``REPORT_STATE_DIR`` without losing anything.

The database's store of closed days (these settings' trading service and zone) is written into the folder's SQLite
store, and this report's delivery records (day, week and month, under ``REPORT_NAME`` and ``REPORT_AGENTS``) into
its record files, so that a run from the folder posts no date again and reads no history again. The database is only
read. A record file already there is kept unless the database's record says more was delivered (complete where the
file's is not, or more calls); a file that cannot be read is replaced by the database's record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from reports.delivery.record_stores import records_for
from reports.delivery.records import DeliveryRecord, DeliveryStore, chat_target
from reports.errors import DeliveryError, UsageError
from reports.operations.state_import import KINDS
from reports.settings import Settings
from reports.sources.store import DayStore
from reports.sources.store_pg import PgDayStore


@dataclass
class Exported:
    """What one export wrote and kept."""

    days: list[date] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)
    records_kept: int = 0
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per part, as ``report state export`` prints them."""
        span = f" ({self.days[0]} to {self.days[-1]})" if self.days else ""
        counts = ", ".join(f"{self.records.get(k, 0)} {k}" for k in KINDS)
        return [
            f"store of closed days: {len(self.days)} day(s) exported{span}",
            f"delivery records: {counts} exported, {self.records_kept} already in the folder",
            *self.notes,
        ]


def export_state(settings: Settings) -> Exported:
    """Copy the database's store of closed days and this report's delivery records into the folder (the module)."""
    if not settings.state_url:
        raise UsageError("REPORT_STATE_URL is not set: set it to the database to export into REPORT_STATE_DIR")
    done = Exported()
    source, warnings = PgDayStore.open(settings.state_url, settings.trading_service_url, settings.timezone)
    with source:
        days, problems = source.load(until=date.max)
    done.notes += [*warnings, *problems]
    target, notes = DayStore.open(settings.state_dir, settings.trading_service_url, settings.timezone)
    with target:
        target.put(days)
    done.notes += notes
    done.days = [d.date for d in days]
    for kind in KINDS:
        _export_records(settings, kind, done)
    return done


def _export_records(settings: Settings, kind: str, done: Exported) -> None:
    source = records_for(settings, kind)
    try:
        records: list[DeliveryRecord] = source.all_records()  # type: ignore[attr-defined]
    finally:
        source.close()
    folder = DeliveryStore(settings.state_dir, kind)
    for record in records:
        try:
            there = folder.load(record.report_date, chat_target(record.chat))
        except DeliveryError:
            there = None  # unreadable: the database's record replaces it
        if there is not None and (there.complete or not (record.complete or len(record.calls) > len(there.calls))):
            done.records_kept += 1
            continue
        folder.save(record)  # atomically, as a run writes it (its time of writing becomes the export's)
        done.records[kind] = done.records.get(kind, 0) + 1
