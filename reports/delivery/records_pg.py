"""Delivery records in PostgreSQL (``REPORT_STATE_URL``): the records of ``records.py``, shared by every node.

A row per (scope, kind, report, report date, chat) holds the record's JSON, written (committed) after every successful
Bot API call, as the file store rewrites its file. The scope is the trading service and zone, the report its
``REPORT_NAME`` and the agents of ``REPORT_AGENTS``: two reports that differ in any never share a record.

The claim: a delivery holds a transaction-scoped advisory lock on its date, in a transaction of its own connection
that stays open for the whole delivery, so two processes on two machines never post a date at once. It ends with
the transaction: a killed process's connection closes and the server releases its lock at once, so a claim left
behind never blocks the next run. No session state is kept across transactions (PgBouncer's transaction mode).
The one window is the file store's: a call Telegram took and whose record could not be committed is sent again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

from reports.delivery.records import DeliveryRecord, parse_record
from reports.errors import DeliveryError
from reports.settings import ChatTarget
from reports.statedb import StateDbError, connect, guard, lock_key, where

_LOG = logging.getLogger(__name__)


class RecordsUnavailable(DeliveryError):
    """The database of the records cannot be used now: nothing may be posted, not even a failure notice."""


class PgDeliveryStore:
    """The delivery records of one report (scope, kind, desk) in the state database."""

    def __init__(self, url: str, scope: str, kind: str = "day", report: str = "daily") -> None:
        self.url, self.scope, self.kind, self.report = url, scope, kind, report
        self.where = where(url)
        self._db: Any = None

    def _conn(self) -> Any:
        if self._db is None or self._db.closed:
            try:
                self._db = connect(self.url)
            except StateDbError as exc:
                raise RecordsUnavailable(str(exc)) from None
        return self._db

    def close(self) -> None:
        """Close the connection (a later call opens another)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        try:
            with guard(self.url, doing):
                yield
        except StateDbError as exc:
            self.close()  # a connection that failed is not reused
            raise RecordsUnavailable(str(exc)) from None

    def _key(self) -> tuple[str, str, str]:
        return self.scope, self.kind, self.report

    def new(self, report_date: date, chat: ChatTarget) -> DeliveryRecord:
        """An empty record for a first (or forced) delivery."""
        return DeliveryRecord(report_date, str(chat), chat.chat_id, chat.thread_id)

    def load(self, report_date: date, chat: ChatTarget) -> DeliveryRecord | None:
        """The record, None when there is none; :class:`DeliveryError` when it cannot be read or trusted."""
        with self._guard("reading a delivery record"):
            row = (
                self._conn()
                .execute(
                    "SELECT record FROM report_deliveries WHERE scope = %s AND kind = %s AND report = %s "
                    "AND report_date = %s AND chat = %s",
                    (*self._key(), report_date, str(chat)),
                )
                .fetchone()
            )
        if row is None:
            return None
        try:
            record = parse_record(row[0].encode())
            if record.report_date != report_date or record.chat != str(chat):
                raise ValueError(f"it is the record of chat {record.chat!r} for {record.report_date}")
        except ValueError as err:
            raise DeliveryError(
                f"the delivery record of chat {chat} for {report_date} in {self.where} is unreadable ({err}): "
                "run with --force to send the report again"
            ) from None
        return record

    def check_writable(self, report_date: date | None = None) -> None:
        """:class:`DeliveryError` when records cannot be written (one committed write): before anything is sent."""
        del report_date
        with self._guard("writing a delivery record"):
            self._conn().execute("UPDATE report_state_version SET checked_at = now()")

    @contextmanager
    def lock(self, report_date: date, wait: float = 600.0) -> Iterator[None]:
        """Claim the date for a delivery: an advisory lock in a transaction of a connection of its own, held until
        the delivery ends; :class:`DeliveryError` when another process holds it for over ``wait`` seconds."""
        key = lock_key(*self._key(), report_date.isoformat())
        try:
            claim = connect(self.url)
        except StateDbError as exc:
            raise RecordsUnavailable(str(exc)) from None
        claim.autocommit = False  # one transaction for the whole delivery: the lock lives as long as it
        try:
            with self._guard("claiming the date"):
                # The claim's transaction sits idle while Telegram is called (up to 15 minutes under flood
                # control): a server-wide idle-in-transaction timeout must not end it (transaction-scoped).
                claim.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
                # A node that vanished without closing its connection: the server's keepalives end its claim
                # within about a minute, not the system's default two hours (a direct connection; not tested).
                for name, seconds in (("tcp_keepalives_idle", 30), ("tcp_keepalives_interval", 10)):
                    claim.execute(f"SET LOCAL {name} = {seconds}")  # type: ignore[arg-type]  # our constants
                claim.execute("SET LOCAL tcp_keepalives_count = 3")
                deadline = time.monotonic() + wait
                waited = False
                while not claim.execute("SELECT pg_try_advisory_xact_lock(%s)", (key,)).fetchone()[0]:
                    if not waited:
                        waited = True
                        _LOG.info(
                            "another run is delivering %s (its claim in %s): waiting for it", report_date, self.where
                        )
                    if time.monotonic() > deadline:
                        raise DeliveryError(
                            f"another report run is delivering {report_date} (its claim in {self.where}) for over "
                            f"{wait:g} s: let it finish, then re-run"
                        )
                    time.sleep(0.2)
            yield
        finally:
            try:
                claim.rollback()  # the claim ends with its transaction; it wrote nothing
            except Exception:  # a lost connection: the server released the lock with it
                _LOG.debug("the claim's connection was lost before its end")
            claim.close()

    def reserve(self, record: DeliveryRecord, slots: Sequence[tuple[str, str, int]]) -> None:
        """Before the first call to a chat: its record is stored when it is not yet (a failed write stops the chat
        before anything is sent). The database needs no room set aside."""
        del slots
        with self._guard("writing a delivery record"):
            self._write(record, "ON CONFLICT DO NOTHING")

    def save(self, record: DeliveryRecord) -> None:
        """Write (commit) the record; :class:`DeliveryError` (the one line) when it cannot be: the chat stops."""
        record.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        with self._guard("writing a delivery record"):
            self._write(
                record,
                "ON CONFLICT (scope, kind, report, report_date, chat) DO UPDATE SET record = EXCLUDED.record, "
                "complete = EXCLUDED.complete, updated_at = EXCLUDED.updated_at",
            )

    def put_imported(self, record: DeliveryRecord) -> None:
        """Store a record read from a state folder as it is (its time of writing kept): ``report state import``."""
        with self._guard("importing a delivery record"):
            self._write(
                record,
                "ON CONFLICT (scope, kind, report, report_date, chat) DO UPDATE SET record = EXCLUDED.record, "
                "complete = EXCLUDED.complete, updated_at = EXCLUDED.updated_at",
            )

    def _write(self, record: DeliveryRecord, conflict: str) -> None:
        text = json.dumps(record.to_json(), sort_keys=True)
        stamp = _stamp(record.updated_at)
        self._conn().execute(
            "INSERT INTO report_deliveries (scope, kind, report, report_date, chat, record, complete, updated_at) "
            f"VALUES (%s, %s, %s, %s, %s, %s, %s, %s) {conflict}",  # type: ignore[arg-type]
            (*self._key(), record.report_date, record.chat, text, record.complete, stamp),
        )

    def all_records(self) -> list[DeliveryRecord]:
        """Every record of this report and period, oldest date first (``report state export``); an unreadable one
        is :class:`DeliveryError` naming its date and chat."""
        with self._guard("reading the delivery records"):
            rows = (
                self._conn()
                .execute(
                    "SELECT report_date, chat, record FROM report_deliveries WHERE scope = %s AND kind = %s "
                    "AND report = %s ORDER BY report_date, chat",
                    self._key(),
                )
                .fetchall()
            )
        out = []
        for day, chat, text in rows:
            try:
                out.append(parse_record(text.encode()))
            except ValueError as err:
                raise DeliveryError(
                    f"the delivery record of chat {chat} for {day} in {self.where} is unreadable ({err})"
                ) from None
        return out

    def records_of_latest(self) -> list[DeliveryRecord]:
        """Every record of the latest date with a complete one (the bot's /status); read only."""
        with self._guard("reading the delivery records"):
            rows = (
                self._conn()
                .execute(
                    "SELECT record FROM report_deliveries WHERE scope = %s AND kind = %s AND report = %s AND "
                    "report_date = (SELECT max(report_date) FROM report_deliveries WHERE scope = %s AND kind = %s "
                    "AND report = %s AND complete)",
                    (*self._key(), *self._key()),
                )
                .fetchall()
            )
        out = []
        for (text,) in rows:
            try:
                out.append(parse_record(text.encode()))
            except ValueError:
                continue
        return out


def _stamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)
