"""The PostgreSQL database of ``REPORT_STATE_URL``: the URL checked, connections, the one line for a fault, the schema.

psycopg 3, sync API, one connection per store, autocommit (a transaction only where one is written on purpose),
no server-side prepared statements and no session state kept across transactions: it works the same behind
PgBouncer in transaction mode. The tables live in the role's own schema (the first of its ``search_path``, e.g.
``CREATE SCHEMA AUTHORIZATION report``): the role needs no right outside it. The schema is created here, once,
under a transaction-scoped advisory lock (two processes starting at once create it once), and carries its
version in ``report_state_version``; a database of a newer version is refused, never misread.
A fault is one line naming the database by host, port and name, never its password (exit 1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from reports import redact
from reports.errors import ReportError, UsageError

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = 1
"""1: ``report_days`` (the store of closed days) and ``report_deliveries`` (the delivery records)."""
CONNECT_TIMEOUT = 10
_SCHEMES = ("postgresql", "postgres")
# How libpq and the server say a connection ended under a running query or between two.
_LOST = (
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "consuming input failed",
    "connection is lost",
    "SSL SYSCALL error",
)
_SCHEMA_LOCK = 0x5EB0_2E90_0001  # the advisory lock under which the schema is created
_SCHEMA = (
    "CREATE TABLE report_state_version (version integer NOT NULL, checked_at timestamptz)",
    f"INSERT INTO report_state_version (version) VALUES ({SCHEMA_VERSION})",
    "CREATE TABLE report_days (scope text NOT NULL, date date NOT NULL, format integer NOT NULL, data text NOT NULL,"
    " sha256 text NOT NULL, PRIMARY KEY (scope, date))",
    "CREATE TABLE report_deliveries (scope text NOT NULL, kind text NOT NULL, report text NOT NULL,"
    " report_date date NOT NULL, chat text NOT NULL, record text NOT NULL, complete boolean NOT NULL,"
    " updated_at timestamptz NOT NULL, PRIMARY KEY (scope, kind, report, report_date, chat))",
)


class StateDbError(ReportError):
    """The state database cannot be used now (unreachable, refused, lost, full): exit 1, one line."""


def check_url(raw: str) -> str:
    """``REPORT_STATE_URL`` as given, or :class:`UsageError` (exit 2) naming what is wrong, never the password."""
    redact.register(*redact.url_secrets(raw))  # before any message can quote a part of it
    hint = "use postgresql://USER:PASSWORD@HOST:5432/DATABASE (percent-encode @ / # in the password)"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise UsageError(f"REPORT_STATE_URL is malformed (its port or host cannot be read): {hint}") from None
    if parts.scheme not in _SCHEMES:
        raise UsageError(f"REPORT_STATE_URL must start with postgresql:// (it starts with {parts.scheme!r}): {hint}")
    if not parts.hostname:
        raise UsageError(f"REPORT_STATE_URL names no host: {hint}")
    if port == 0:
        raise UsageError(f"REPORT_STATE_URL has port 0: {hint}")
    if not unquote(parts.path.lstrip("/")):
        raise UsageError(f"REPORT_STATE_URL names no database (the path after the host): {hint}")
    return raw


def where(url: str) -> str:
    """The database as the lines name it: ``host:port/name``, never the user or password."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or 5432}/{unquote(parts.path.lstrip('/'))}"


def scope_key(service_url: str, timezone: str) -> str:
    """One scope per trading service and report time zone: the name of the file store, so an import maps 1:1."""
    return hashlib.sha256(f"{service_url.rstrip('/')}\n{timezone}".encode()).hexdigest()[:16]


def lock_key(*parts: str) -> int:
    """A signed 64-bit advisory-lock key for ``parts``."""
    return int.from_bytes(hashlib.sha256("\x00".join(parts).encode()).digest()[:8], "big", signed=True)


def fault(url: str, exc: BaseException, doing: str) -> StateDbError:
    """The one line for a database fault: which database, what happened, what to do."""
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    if name == "DiskFull" or "No space left" in text:
        what, fix = "its disk is full", "free space on the database server"
    elif "password authentication failed" in text or name == "InvalidPassword":
        what, fix = "the user or password is refused", "check the password in REPORT_STATE_URL"
    elif name in ("InsufficientPrivilege", "InvalidSchemaName"):
        what, fix = f"permission denied ({text})", "give the role a schema of its own (see the README)"
    elif "Connection refused" in text or "timeout" in text.lower() or "could not translate" in text:
        what, fix = "it cannot be reached", "check that the server is up and REPORT_STATE_URL's host and port"
    elif any(lost in text for lost in _LOST):
        what, fix = "the connection was lost", "check that the server is up (what was committed is kept)"
    else:
        what, fix = f"{name}: {text}", "check the server and REPORT_STATE_URL"
    return StateDbError(f"the state database {where(url)} failed while {doing} ({what}): {fix}, then run again")


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection in autocommit, no prepared statements (PgBouncer's transaction mode), the schema made ready."""
    import psycopg

    try:
        conn = psycopg.connect(
            url,
            autocommit=True,
            prepare_threshold=None,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="sapphire-report",
        )
    except psycopg.Error as exc:
        raise fault(url, exc, "connecting") from None
    try:
        with guard(url, "creating its tables"):
            _ensure_schema(conn)
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def guard(url: str, doing: str) -> Iterator[None]:
    """Turn a psycopg error inside into :class:`StateDbError` (the one line)."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise fault(url, exc, doing) from None


def _ensure_schema(conn: psycopg.Connection[Any]) -> None:
    """Create the tables in the role's own schema once; refuse a database of another version."""
    with conn.transaction():
        schema = conn.execute("SELECT current_schema()").fetchone()
        if schema is None or schema[0] is None:
            raise StateDbError(
                "the state database has no schema for this role (its search_path names none that exists): "
                "CREATE SCHEMA AUTHORIZATION <the role>, then run again"
            )
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        found = conn.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'report_state_version'"
        ).fetchone()
        if found is None:
            for statement in _SCHEMA:
                conn.execute(statement)  # type: ignore[arg-type]  # literal statements, no parameters
            return
        row = conn.execute("SELECT max(version) FROM report_state_version").fetchone()
    version = row[0] if row else None
    if version != SCHEMA_VERSION:
        raise StateDbError(
            f"the state database holds schema version {version}, this version of the report reads "
            f"{SCHEMA_VERSION}: run the version that made it, or point REPORT_STATE_URL at a new schema"
        )
