"""``report state import``: the state of ``REPORT_STATE_DIR`` copied into ``REPORT_STATE_URL``, once, before switching.

The store of closed days of these settings' trading service and zone (the SQLite file) and the delivery records of
this report (day, week and month; the desk of ``REPORT_AGENTS``) are copied into the database, so that the first
run on the database reads no history again and posts no date again. The files are only read, never changed. What
the database holds already is kept: a day stored there stays, a record there stays unless the folder's says more
was delivered (complete where the database's is not, or more calls). Running it again copies nothing new.
A record file that cannot be read is named and the import ends with exit 1: without its record, a date would be
posted again from the database.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date

from reports.delivery.record_stores import records_for
from reports.delivery.records import DeliveryRecord, DeliveryStore, chat_target, parse_record
from reports.errors import ReportError, UsageError
from reports.settings import Settings
from reports.sources.store import FORMAT, checked_days, store_path
from reports.sources.store_pg import PgDayStore

KINDS = ("day", "week", "month")


@dataclass
class Imported:
    """What one import copied, kept, and could not read."""

    days: list[date] = field(default_factory=list)
    days_kept: int = 0
    records: dict[str, int] = field(default_factory=dict)
    records_kept: int = 0
    notes: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per part, as ``report state import`` prints them."""
        span = f" ({self.days[0]} to {self.days[-1]})" if self.days else ""
        counts = ", ".join(f"{self.records.get(k, 0)} {k}" for k in KINDS)
        return [
            f"store of closed days: {len(self.days)} day(s) imported{span}, {self.days_kept} already in the database",
            f"delivery records: {counts} imported, {self.records_kept} already in the database",
            *self.notes,
        ]


def import_state(settings: Settings) -> Imported:
    """Copy the folder's store of closed days and delivery records into the state database (see the module)."""
    if not settings.state_url:
        raise UsageError("REPORT_STATE_URL is not set: set it to the database to import REPORT_STATE_DIR into")
    done = Imported()
    _import_days(settings, done)
    for kind in KINDS:
        _import_records(settings, kind, done)
    if done.unreadable:
        raise ImportIncomplete(done)
    return done


class ImportIncomplete(ReportError):
    """Some record files could not be read: everything else was imported (exit 1)."""

    def __init__(self, done: Imported) -> None:
        super().__init__(
            f"{len(done.unreadable)} delivery record file(s) could not be read ({done.unreadable[0]}): fix or delete "
            "them and run 'report state import' again before switching to REPORT_STATE_URL (the rest is imported)"
        )
        self.done = done


def _import_days(settings: Settings, done: Imported) -> None:
    path = store_path(settings.state_dir, settings.trading_service_url, settings.timezone)
    if not path.exists():
        done.notes.append(f"no store of closed days in {path}: the first run reads the history")
        return
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:  # only read, never changed
            version = db.execute("PRAGMA user_version").fetchone()[0]
            query = "SELECT date, data, sha256 FROM days ORDER BY date"
            rows = db.execute(query).fetchall() if version == FORMAT else []
    except sqlite3.Error as exc:
        done.notes.append(f"the store {path} cannot be read ({exc}): its days are read again from the trading service")
        return
    if version != FORMAT:
        done.notes.append(f"the store {path} is of format {version}, not {FORMAT}: its days are read again")
        return
    days, bad = checked_days(rows)
    if bad is not None:
        done.notes.append(f"the stored day {bad[0]} in {path} is unusable ({bad[1]}): it and later days are read again")
    store, _ = PgDayStore.open(settings.state_url or "", settings.trading_service_url, settings.timezone)
    with store:
        have = set(store.dates())
        fresh = [d for d in days if d.date not in have]
        store.put(fresh)
    done.days = [d.date for d in fresh]
    done.days_kept = len(days) - len(fresh)


def _import_records(settings: Settings, kind: str, done: Imported) -> None:
    folder = DeliveryStore(settings.state_dir, kind).root
    files = sorted(folder.glob("*/*.json")) if folder.is_dir() else []
    if not files:
        return
    target = records_for(settings, kind)
    try:
        for path in files:
            try:
                record = parse_record(path.read_bytes())
            except (OSError, ValueError) as exc:
                done.unreadable.append(f"{path}: {exc}")
                continue
            if _wins(record, target.load(record.report_date, chat_target(record.chat))):
                target.put_imported(record)
                done.records[kind] = done.records.get(kind, 0) + 1
            else:
                done.records_kept += 1
    finally:
        target.close()


def _wins(record: DeliveryRecord, there: DeliveryRecord | None) -> bool:
    """Whether the folder's record replaces the database's: there is none, or the folder's says more went out."""
    if there is None:
        return True
    if there.complete:
        return False
    return record.complete or len(record.calls) > len(there.calls)
