"""What the delivery records say was delivered last (the bot's ``/status``): read only, no lock, nothing written.

A record that cannot be read is passed over here; the next run of the report is what reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from reports.delivery.record_stores import records_for
from reports.delivery.records import DeliveryRecord, DeliveryStore, parse_record
from reports.errors import DeliveryError
from reports.settings import Settings


@dataclass(frozen=True, slots=True)
class Delivered:
    """The latest report of a kind that went out whole to at least one chat."""

    kind: str
    report_date: date
    """The day, or the last day of the week or month."""
    at: datetime | None
    """When its last record was written (UTC)."""
    chats: int
    """Chats that got it whole."""
    records: int
    """Chats with a record for that date (some may have got it in part)."""


def last_delivered(where: Path | Settings, kind: str = "day") -> Delivered | None:
    """The latest date of ``kind`` delivered whole to at least one chat, from the records (of a state folder, or of
    the settings: those of ``REPORT_STATE_URL`` when it is set); None if there is none."""
    if isinstance(where, Settings):
        if where.state_url:
            return _last_in_database(where, kind)
        where = where.state_dir
    root = DeliveryStore(where, kind).root
    try:
        folders = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    except OSError:
        return None
    for folder in folders:
        try:
            day = date.fromisoformat(folder.name)
        except ValueError:
            continue
        records = []
        for path in folder.glob("*.json"):
            try:
                records.append(parse_record(path.read_bytes()))
            except (OSError, ValueError):
                continue
        delivered = _delivered(kind, day, records)
        if delivered is not None:
            return delivered
    return None


def _last_in_database(settings: Settings, kind: str) -> Delivered | None:
    """The same, from the records in the state database (the ones every node writes); None when it cannot be read."""
    store = records_for(settings, kind)
    try:
        records: list[DeliveryRecord] = store.records_of_latest()  # type: ignore[attr-defined]
    except DeliveryError:
        return None
    finally:
        store.close()
    return _delivered(kind, records[0].report_date, records) if records else None


def _delivered(kind: str, day: date, records: list[DeliveryRecord]) -> Delivered | None:
    """``day`` as delivered by ``records`` (its records in every chat): None when none of them is complete; the
    time is the latest a complete one was written at."""
    done = [r for r in records if r.complete]
    if not done:
        return None
    stamps = []
    for r in done:
        try:
            stamps.append(datetime.fromisoformat(r.updated_at))
        except ValueError:
            continue
    return Delivered(kind, day, max(stamps) if stamps else None, len(done), len(records))
