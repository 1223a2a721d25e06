"""The store of closed days in ``REPORT_STATE_DIR/store/``: what every later report needs from each day.

One SQLite file per trading service and time zone (the zone sets where days begin). A row per closed day
holds its :class:`~reports.models.ClosedDay` as JSON (per-agent and per-symbol sums, the engine's state at
the end of the day, the count and digest of its fills) with a SHA-256 of that JSON. A day is written in one
transaction, so a crash or a full disk leaves the days before it and never half a day. A row that does not
check out, or a gap in the days, invalidates that day and every later one: they are computed again from
the trading service, with a warning. ``PRAGMA user_version`` is the format; another one is rebuilt, never
misread.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterable
from dataclasses import MISSING, fields, is_dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from reports.closed_days import AgentDay, ClosedDay, EngineState, SymbolDay
from reports.errors import ReportError
from reports.models import Fills
from reports.statedb import scope_key

FORMAT = 2
"""2: funding per agent and per (agent, symbol) of each day (a store of format 1 is rebuilt once)."""
_log = logging.getLogger("reports")


class StoreError(Exception):
    """The store's file cannot be used as it is (it is damaged, or of another format): it is set aside."""


class StoreUnavailable(ReportError):
    """The store cannot be opened or written now (a full disk, no permission, a lock held too long): exit 1.

    Unlike a damaged file, nothing is set aside: the next run finds the days stored so far.
    """


def store_path(state_dir: Path, service_url: str, timezone: str) -> Path:
    """One store per trading service and report time zone."""
    return state_dir / "store" / f"days-{scope_key(service_url, timezone)}.sqlite"


def fills_digest(fills: Fills) -> str:
    """A digest of the fills' every column, in replay order: equal digests, the same fills."""
    frame = fills.frame
    h = hashlib.sha256()
    for name in ("id", "ts", "side", "price", "quantity", "notional", "fee"):
        h.update(np.ascontiguousarray(frame[name].to_numpy()).tobytes())
    for name in ("agent_id", "symbol"):
        h.update("\x00".join(frame[name].astype(str).tolist()).encode())
    return h.hexdigest()


def _encode(day: ClosedDay) -> str:
    """The day as JSON: the text of ``dataclasses.asdict`` (date in ISO), built without its deep copies."""
    doc = {name: _plain(getattr(day, name)) for name in _names(type(day))}
    doc["date"] = day.date.isoformat()
    return json.dumps(doc, separators=(",", ":"), allow_nan=False)


@functools.cache
def _names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def _plain(value: Any) -> Any:
    """What ``asdict`` makes of a field's value: records as dicts (in field order), sequences element-wise."""
    if is_dataclass(value) and not isinstance(value, type):
        return {name: _plain(getattr(value, name)) for name in _names(type(value))}
    if isinstance(value, tuple | list) and value and is_dataclass(value[0]):
        return [_plain(v) for v in value]
    return value


def _decode(text: str) -> ClosedDay:
    """A ClosedDay from its JSON; raises ValueError/KeyError/TypeError for anything of another shape."""
    try:
        doc = orjson.loads(text)  # the values json.loads reads, faster
    except orjson.JSONDecodeError:  # NaN, Infinity, a lone surrogate: as the standard library reads them
        doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("not an object")
    state = doc["state"]
    return ClosedDay(
        date=date.fromisoformat(doc["date"]),
        agents=_typed(doc["agents"], AgentDay),
        symbols=_typed(doc["symbols"], SymbolDay),
        state=EngineState(
            positions=tuple((_name(a), _name(s), float(q), float(p)) for a, s, q, p in state["positions"]),
            marks=tuple((_name(s), float(p)) for s, p in state["marks"]),
        ),
        fills=int(doc["fills"]),
        digest=str(doc["digest"]),
        tail_fills=int(doc["tail_fills"]),
        tail_digest=str(doc["tail_digest"]),
    )


_KINDS: dict[str, set[type]] = {
    "str": {str},
    "int": {int},
    "float": {int, float},
    "float | None": {int, float, type(None)},
    "int | None": {int, type(None)},
}


def _typed(rows: Any, cls: type) -> tuple[Any, ...]:
    """The rows as records: every field there, none more, each of the record's type (str, int or float; a bool
    is none of them). Checked a column at a time; anything amiss is named by the row-by-row check."""
    names = frozenset(cls.__slots__)  # type: ignore[attr-defined]
    if type(rows) is list and all(type(row) is dict and row.keys() == names for row in rows):
        columns = []
        for name, kind in cls.__annotations__.items():
            values = [row[name] for row in rows]
            types = set(map(type, values))
            if not types <= _KINDS[kind]:
                break
            if kind.startswith("float") and int in types:
                values = [None if v is None else float(v) for v in values]
            elif kind == "str":
                values = list(map(sys.intern, values))
            columns.append(values)
        else:
            return tuple(cls(*values) for values in zip(*columns, strict=True))
    return tuple(cls(**_typed_row(row, cls)) for row in rows)


def _name(value: Any) -> str:
    """An agent id or a symbol as one shared string: a year of days repeats the same few thousands of times."""
    return sys.intern(str(value))


def _typed_row(row: Any, cls: type) -> dict[str, Any]:
    """The row's fields with the record's types: str, int or float, nothing else, none missing."""
    # A field added later (with a default) may be missing from a day stored before it: it then takes the default.
    names = set(cls.__slots__)  # type: ignore[attr-defined]
    optional = {f.name for f in fields(cls) if f.default is not MISSING}
    if not isinstance(row, dict) or not names - optional <= set(row) <= names:
        raise ValueError(f"a {cls.__name__} row of another shape")
    out: dict[str, Any] = {}
    for name, kind in cls.__annotations__.items():
        if name not in row:
            continue
        value = row[name]
        want = tuple(_KINDS[kind])
        if not isinstance(value, want) or isinstance(value, bool):
            raise ValueError(f"{cls.__name__}.{name} is {type(value).__name__}")
        out[name] = float(value) if kind.startswith("float") and value is not None else value
    return out


class DayStore:
    """Closed days of one trading service in one time zone."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise unavailable(path, exc) from None
        try:
            self._db = sqlite3.connect(path, timeout=60, isolation_level=None)
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if version == 0 and not tables:
                self._db.executescript(
                    "BEGIN; CREATE TABLE days (date TEXT PRIMARY KEY, data TEXT NOT NULL, sha256 TEXT NOT NULL);"
                    f"PRAGMA user_version = {FORMAT}; COMMIT;"
                )
            elif version != FORMAT or "days" not in tables:
                raise StoreError(
                    f"the store {path} is of format {version}, this version reads {FORMAT} (format 2 adds funding)"
                )
        except sqlite3.OperationalError as exc:  # full disk, permissions, locked: the file itself may be fine
            self.close()
            raise unavailable(path, exc) from None
        except sqlite3.DatabaseError as exc:
            self.close()
            raise StoreError(f"the store {path} cannot be read ({exc})") from exc

    @classmethod
    def open(cls, state_dir: Path, service_url: str, timezone: str) -> tuple[DayStore, list[str]]:
        """The store, and the warnings of opening it: one that cannot be used is set aside and started anew."""
        path = store_path(state_dir, service_url, timezone)
        warnings = _drop_old_cache(state_dir)
        try:
            return cls(path), warnings
        except StoreError as exc:
            aside = path.with_name(path.name + ".unusable")
            path.replace(aside)
            warnings.append(f"{exc}: set aside as {aside.name}; every day is read again from the trading service")
            return cls(path), warnings

    def close(self) -> None:
        """Close the database."""
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
            self._db = None  # type: ignore[assignment]

    def __enter__(self) -> DayStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def dates(self) -> list[date]:
        """Every stored date, oldest first."""
        return [date.fromisoformat(r[0]) for r in self._db.execute("SELECT date FROM days ORDER BY date")]

    def load(self, until: date) -> tuple[list[ClosedDay], list[str]]:
        """The stored days up to ``until``, from the first, without a gap; and what was wrong, as warnings.

        A day that does not check out, or is missing between two stored days, is dropped with every later
        day: the state at its end is what every later day starts from.
        """
        query = "SELECT date, data, sha256 FROM days WHERE date <= ? ORDER BY date"
        return usable_days(self._db.execute(query, (until.isoformat(),)).fetchall(), self.drop_from)

    def get(self, day: date) -> ClosedDay | None:
        """One stored day, or None (also for one that does not check out)."""
        row = self._db.execute("SELECT data, sha256 FROM days WHERE date = ?", (day.isoformat(),)).fetchone()
        return None if row is None else decode_day(row[0], row[1])

    def put(self, days: Iterable[ClosedDay]) -> None:
        """Store days (replacing those of the same dates) in one transaction."""
        rows = [(d.date.isoformat(), *encode_day(d)) for d in days]
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO days (date, data, sha256) VALUES (?, ?, ?)", rows)

    def drop_from(self, first: date) -> int:
        """Forget ``first`` and every later day; returns how many were stored."""
        with self._transaction():
            return self._db.execute("DELETE FROM days WHERE date >= ?", (first.isoformat(),)).rowcount

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


def checked_days(rows: Iterable[tuple[str, str, str]]) -> tuple[list[ClosedDay], tuple[str, str] | None]:
    """The days of ``(date, JSON, SHA-256)`` rows, oldest first, up to the first one that does not check out (its
    checksum, its shape, its date, or a gap before it); and that one's date and what is wrong with it."""
    days: list[ClosedDay] = []
    for raw_date, data, digest in rows:
        problem = None
        try:
            if hashlib.sha256(data.encode()).hexdigest() != digest:
                problem = "its checksum does not match"
            else:
                day = _decode(data)
                if day.date.isoformat() != raw_date:
                    problem = "it holds another date"
                elif days and day.date != days[-1].date + timedelta(days=1):
                    problem = f"the day before it ({day.date - timedelta(days=1)}) is missing"
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            problem = f"it cannot be read ({type(exc).__name__})"
        if problem:
            return days, (raw_date, problem)
        days.append(day)
    return days, None


def usable_days(
    rows: Iterable[tuple[str, str, str]], drop_from: Callable[[date], int]
) -> tuple[list[ClosedDay], list[str]]:
    """A store's ``(date, JSON, SHA-256)`` rows read as :func:`checked_days` does; the first day that does not check
    out is dropped with every later one (``drop_from``, which says how many), and a warning says so."""
    days, bad = checked_days(rows)
    if bad is None:
        return days, []
    raw_date, problem = bad
    dropped = drop_from(date.fromisoformat(raw_date))
    return days, [
        f"the stored day {raw_date} is unusable ({problem}): it and {dropped - 1} later day(s) are "
        "computed again from the trading service"
    ]


def encode_day(day: ClosedDay) -> tuple[str, str]:
    """A day's JSON and its SHA-256, as a row stores them."""
    text = _encode(day)
    return text, hashlib.sha256(text.encode()).hexdigest()


def decode_day(text: str, sha256: str) -> ClosedDay | None:
    """A stored day from its JSON, or None when it does not check out."""
    if hashlib.sha256(text.encode()).hexdigest() != sha256:
        return None
    try:
        return _decode(text)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error (a full disk included)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *exc: object) -> None:
        if kind is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")


def unavailable(path: Path, exc: BaseException) -> StoreUnavailable:
    """The one line for a store that cannot be opened or written: what failed and what to do."""
    return StoreUnavailable(
        f"cannot use the store of closed days {path} ({exc}): free space or fix the permissions of "
        "REPORT_STATE_DIR, then run again; the days already stored are kept"
    )


def _drop_old_cache(state_dir: Path) -> list[str]:
    """The one-file fill cache of earlier versions is never read: it is removed once, with a warning."""
    old = sorted((state_dir / "cache").glob("fills-*.npz")) + sorted((state_dir / "cache").glob("*.tmp.npz"))
    for path in old:
        path.unlink(missing_ok=True)
    if not old:
        return []
    return [
        f"the fill cache of an earlier version ({old[0].name}) was removed: the history is read once more "
        "into the store of closed days"
    ]
