"""The store of closed days in PostgreSQL (``REPORT_STATE_URL``): the same store as ``store.py``'s SQLite file.

One scope per trading service and time zone, shared by every report, period and desk that reads that service in
that zone (a desk's report filters the stored days; a week or a month reads what the day runs stored). A row per
(scope, day) holds the day's JSON (``store.FORMAT``) and its SHA-256; a day is written in one transaction; a row
that does not check out, or a gap, drops that day and every later one, to be computed again. Rows of another
format are dropped once on opening, with a warning (they are read again from the trading service).
Every database fault is :class:`~reports.statedb.StateDbError`: one line, exit 1.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from reports.closed_days import ClosedDay
from reports.sources.store import FORMAT, decode_day, encode_day, usable_days
from reports.statedb import connect, guard, scope_key, where


class PgDayStore:
    """Closed days of one trading service in one time zone, in the state database."""

    def __init__(self, url: str, scope: str) -> None:
        self.url, self.scope = url, scope
        self.path = f"{where(url)} (scope {scope})"
        """How lines name the store (the SQLite store's file path)."""
        self._db: Any = connect(url)

    @classmethod
    def open(cls, url: str, service_url: str, timezone: str) -> tuple[PgDayStore, list[str]]:
        """The store, and the warnings of opening it: days of another format are dropped, to be read again."""
        store = cls(url, scope_key(service_url, timezone))
        with guard(url, "opening the store of closed days"):
            dropped = store._db.execute(
                "DELETE FROM report_days WHERE scope = %s AND format <> %s", (store.scope, FORMAT)
            ).rowcount
        if not dropped:
            return store, []
        return store, [
            f"{dropped} stored day(s) in {store.path} are of another format (this version reads {FORMAT}): "
            "they were dropped and are read again from the trading service"
        ]

    def close(self) -> None:
        """Close the connection."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> PgDayStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dates(self) -> list[date]:
        """Every stored date, oldest first."""
        with guard(self.url, "reading the stored days"):
            rows = self._db.execute("SELECT date FROM report_days WHERE scope = %s ORDER BY date", (self.scope,))
            return [r[0] for r in rows.fetchall()]

    def load(self, until: date) -> tuple[list[ClosedDay], list[str]]:
        """The stored days up to ``until``, from the first, without a gap; and what was wrong, as warnings."""
        with guard(self.url, "reading the stored days"):
            rows = self._db.execute(
                "SELECT date, data, sha256 FROM report_days WHERE scope = %s AND date <= %s ORDER BY date",
                (self.scope, until),
            ).fetchall()
        return usable_days([(d.isoformat(), data, sha) for d, data, sha in rows], self.drop_from)

    def get(self, day: date) -> ClosedDay | None:
        """One stored day, or None (also for one that does not check out)."""
        with guard(self.url, "reading a stored day"):
            row = self._db.execute(
                "SELECT data, sha256 FROM report_days WHERE scope = %s AND date = %s", (self.scope, day)
            ).fetchone()
        return None if row is None else decode_day(row[0], row[1])

    def put(self, days: Iterable[ClosedDay]) -> None:
        """Store days (replacing those of the same dates) in one transaction."""
        rows = [(self.scope, d.date, FORMAT, *encode_day(d)) for d in days]
        if not rows:
            return
        with guard(self.url, "storing closed days"), self._db.transaction(), self._db.cursor() as cur:
            cur.executemany(
                "INSERT INTO report_days (scope, date, format, data, sha256) VALUES (%s, %s, %s, %s, %s) "
                "ON CONFLICT (scope, date) DO UPDATE SET format = EXCLUDED.format, data = EXCLUDED.data, "
                "sha256 = EXCLUDED.sha256",
                rows,
            )

    def drop_from(self, first: date) -> int:
        """Forget ``first`` and every later day; returns how many were stored."""
        with guard(self.url, "dropping stored days"):
            done = self._db.execute("DELETE FROM report_days WHERE scope = %s AND date >= %s", (self.scope, first))
            return int(done.rowcount)
