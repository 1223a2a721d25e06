"""The rows of a page of fills from the trading service (CONTRACT 1.1): validated, dropped by reason, and
turned into the fill columns of :class:`~reports.models.Fills`.

A page usually arrives decoded straight into typed rows (:mod:`reports.sources.fill_decode`) and is checked
column by column; a page with a malformed row is read generically and checked row by row, which names what is
wrong (:func:`page_from_rows`). Both build their columns and row fingerprints here, the same way, so that pages
read either way compare. Pages overlap at their boundaries: :mod:`reports.sources.seen_ids` keeps each id once.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reports.models import FILL_COLUMNS, UNATTRIBUTED
from reports.sources.timestamps import parse_timestamps

_MIX = np.uint64(0x9E3779B97F4A7C15)  # an odd constant with well-spread bits (the golden ratio's)


@dataclass(frozen=True)
class Page:
    """One page of validated rows: their fill columns (numpy arrays), a fingerprint of each row, how many
    rows the service sent, and a way back to a kept row as the service wrote it (for a drop's count)."""

    columns: dict[str, np.ndarray]
    marks: np.ndarray
    served: int
    raw: Callable[[int], Any]

    @property
    def ts(self) -> np.ndarray:
        """The rows' timestamps, int64 nanoseconds (UTC)."""
        return self.columns["ts"]

    @property
    def ids(self) -> np.ndarray:
        """The rows' ids, int64."""
        return self.columns["id"]


class Drops:
    """Rows dropped, by reason, each distinct row counted once (pages overlap at their boundaries)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._seen: set[str] = set()
        self.repaired: set[Any] = set()  # ids of rows kept with price x quantity for an unusable notional

    def add(self, reason: str, row: Any) -> None:
        """Count ``row`` as dropped for ``reason``, unless this very row was counted before."""
        key = json.dumps(row, sort_keys=True, default=str)
        if key not in self._seen:
            self._seen.add(key)
            self.counts[reason] += 1

    def warnings(self) -> tuple[str, ...]:
        """The drops and repairs as the report's warnings: none when every row was kept as it was."""
        out = []
        total = sum(self.counts.values())
        if total:
            ordered = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
            parts = ", ".join(f"{n} {reason}{'s' if n > 1 else ''}" for reason, n in ordered)
            out.append(f"{total} fill{'s' if total > 1 else ''} dropped: {parts}")
        if self.repaired:
            n = len(self.repaired)
            out.append(
                f"{n} fill{'s' if n > 1 else ''} with an unusable notional: price × quantity used for the volume"
            )
        return tuple(out)


@dataclass(frozen=True)
class RawColumns:
    """A page's values a column at a time, as decoded (``notionals``, ``agents`` and ``fees`` may hold None)."""

    ids: np.ndarray
    stamps: list[str]
    symbols: Sequence[str]
    sides: Sequence[str]
    price: np.ndarray
    qty: np.ndarray
    notionals: Sequence[Any]
    agents: Sequence[str | None]
    fees: Sequence[float | None]
    typed: bool = False
    """Decoded against the Trade shape: None is the only value that is not a number (no NaN, no string)."""


def page_from_rows(raw: list[Any], drops: Drops) -> Page:
    """The row-by-row path, for a page read generically: each malformed row dropped and counted by reason."""
    rows = []
    for row in raw:
        reason = _problem(row)
        if reason:
            drops.add(reason, row)
        else:
            rows.append(row)
    values = RawColumns(
        ids=np.array([r["id"] for r in rows], dtype=np.int64),
        stamps=[r["timestamp"] for r in rows],
        symbols=[r["symbol"] for r in rows],
        sides=[r["side"] for r in rows],
        price=np.array([r["price"] for r in rows], dtype=np.float64),
        qty=np.array([r["quantity"] for r in rows], dtype=np.float64),
        notionals=[r.get("notional") for r in rows],
        agents=[r.get("agent_id") for r in rows],
        fees=[r.get("fee") for r in rows],
    )
    ts, bad_ts = parse_timestamps(values.stamps)
    columns, marks = build(values, ts, drops)
    if bad_ts.any():
        for k in np.flatnonzero(bad_ts).tolist():
            drops.add("bad timestamp", rows[k])
        keep = np.flatnonzero(~bad_ts)
        columns = {name: col[keep] for name, col in columns.items()}
        marks = marks[keep]
        rows = [rows[k] for k in keep.tolist()]
    return Page(columns, marks, len(raw), rows.__getitem__)


def build(values: RawColumns, ts: np.ndarray, drops: Drops) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The fill columns and the row fingerprints of well-formed rows (timestamps aside: ``ts`` as parsed).

    Symbols and agents are held once each (interned), not once per row: a million fills hold ten symbols.
    """
    n = len(values.ids)
    if not n:
        return empty_columns(), np.zeros(0, dtype=np.uint64)
    fee = np.array(values.fees, dtype=np.float64).reshape(n)  # None is NaN here, and only None: NaN was dropped
    fee_none = np.isnan(fee)
    fee[fee_none] = 0.0
    notional, given = _notional(values.notionals, values.typed)
    price, qty = values.price, values.qty
    usable = np.isfinite(notional) & (notional > 0)
    unusable = given & ~usable
    if unusable.any():
        drops.repaired.update(values.ids[unusable].tolist())
    side_code, side_names = _factor(values.sides)
    sym_code, sym_names = _factor(values.symbols)
    agent_code, agent_names = _factor(values.agents)
    columns = {
        "id": values.ids,
        "ts": ts,
        "symbol": _interned(sym_names[:-1] or [""])[sym_code],
        "side": np.array([1 if s == "BUY" else -1 for s in side_names[:-1]] or [1], dtype=np.int8)[side_code],
        "price": price,
        "quantity": qty,
        "notional": np.where(usable, notional, price * qty),
        "agent_id": _interned([a or UNATTRIBUTED for a in agent_names])[agent_code],
        "fee": fee,
    }
    # A fingerprint of the row as the service wrote it: the same id read again with other content is a
    # second fill claiming that id. Equal values (1 and 1.0, -0.0 and 0.0) fingerprint alike, None does not.
    parts = [
        np.fromiter(map(hash, values.stamps), dtype=np.int64, count=n).view(np.uint64),
        _hashes(sym_names)[sym_code],
        _hashes(side_names)[side_code],
        _bits(price),
        _bits(qty),
        np.where(given, _bits(np.where(given, notional, 0.0)), _other_hashes(values.notionals, given)),
        _hashes(agent_names)[agent_code],
        np.where(fee_none, np.uint64(hash(None) & 0xFFFFFFFFFFFFFFFF), _bits(fee)),
    ]
    marks = np.zeros(n, dtype=np.uint64)
    for part in parts:
        marks = (marks ^ part) * _MIX
        marks ^= marks >> np.uint64(29)
    return columns, marks


def frame_of(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The fill columns as a frame with :data:`FILL_COLUMNS`, the string columns as pandas' strings.

    As before: the columns of no row at all (:func:`empty_columns`) are float, as pandas makes empty lists;
    rows all left out (outside the range) keep the string columns.
    """
    return pd.DataFrame(
        {
            name: pd.array([], dtype="str")
            if columns[name].dtype == object and not len(columns[name])
            else columns[name]
            for name in FILL_COLUMNS
        },
        copy=False,  # the columns as they are: stacking the floats into one block would copy a day's fills again
    )


def empty_columns() -> dict[str, np.ndarray]:
    """The fill columns of no row."""
    return {
        "id": np.zeros(0, dtype=np.int64),
        "ts": np.zeros(0, dtype=np.int64),
        "symbol": np.zeros(0, dtype=np.float64),
        "side": np.zeros(0, dtype=np.int8),
        "price": np.zeros(0, dtype=np.float64),
        "quantity": np.zeros(0, dtype=np.float64),
        "notional": np.zeros(0, dtype=np.float64),
        "agent_id": np.zeros(0, dtype=np.float64),
        "fee": np.zeros(0, dtype=np.float64),
    }


_NUMBER = {float, int}


def _notional(notionals: Sequence[Any], typed: bool) -> tuple[np.ndarray, np.ndarray]:
    """The notionals as floats and which were given as numbers (NaN where not): one that is missing or not
    a number only feeds the volume as price x quantity, never a lost fill."""
    types = set(map(type, notionals))
    if types <= _NUMBER | {type(None)}:
        notional = np.array(notionals, dtype=np.float64).reshape(len(notionals))
        given = ~np.isnan(notional)
        nones = (
            (len(notionals) - int(np.count_nonzero(given)) if typed else list(notionals).count(None))
            if type(None) in types
            else 0
        )
        if len(notionals) - int(np.count_nonzero(given)) == nones:  # else a NaN of its own too: not a number
            return notional, given
    given = np.array([type(v) in _NUMBER for v in notionals], dtype=bool)
    notional = np.array([v if ok else np.nan for v, ok in zip(notionals, given, strict=True)], dtype=np.float64)
    return notional, given


def _factor(values: Sequence[Any]) -> tuple[np.ndarray, list[Any]]:
    """Codes and distinct values, at C speed; None is the last value (code -1) whether or not it occurs."""
    codes, uniques = pd.factorize(np.array(values, dtype=object).reshape(len(values)))
    return codes, [*uniques, None]


def _interned(names: list[str]) -> np.ndarray:
    return np.array([sys.intern(name) for name in names], dtype=object)


def _hashes(values: list[Any]) -> np.ndarray:
    return np.array([hash(v) & 0xFFFFFFFFFFFFFFFF for v in values], dtype=np.uint64)


def _bits(values: np.ndarray) -> np.ndarray:
    return (values + 0.0).view(np.uint64)  # + 0.0 makes -0.0 0.0


def _other_hashes(values: Sequence[Any], given: np.ndarray) -> np.ndarray:
    """Fingerprints of values that are not numbers (None, a string): 0 for the numbers."""
    out = np.zeros(len(values), dtype=np.uint64)
    others = np.flatnonzero(~given).tolist()
    if others:
        out[others] = [_hash_any(values[k]) for k in others]
    return out


def _hash_any(value: Any) -> int:
    try:
        return hash(value) & 0xFFFFFFFFFFFFFFFF
    except TypeError:  # a list or an object
        return hash(json.dumps(value, sort_keys=True, default=str)) & 0xFFFFFFFFFFFFFFFF


def _problem(row: Any) -> str | None:
    """Why a Trade row cannot be used, or None."""
    if not isinstance(row, dict):
        return "non-object row"
    fill_id = row.get("id")
    if not isinstance(fill_id, int) or isinstance(fill_id, bool):
        return "bad id"
    if row.get("side") not in ("BUY", "SELL"):
        return "unknown side"
    if not isinstance(row.get("symbol"), str) or not row["symbol"]:
        return "missing symbol"
    if not isinstance(row.get("timestamp"), str):
        return "bad timestamp"
    if not _finite_positive(row.get("price")):
        return "bad price"
    if not _finite_positive(row.get("quantity")):
        return "bad quantity"
    fee = row.get("fee")
    if fee is not None and not (isinstance(fee, int | float) and not isinstance(fee, bool) and math.isfinite(fee)):
        return "bad fee"
    agent = row.get("agent_id")
    if agent is not None and not isinstance(agent, str):
        return "bad agent_id"
    return None


def _finite_positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
