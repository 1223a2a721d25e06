"""The client's fills before issue 22, kept as the reference the columnar decoder is checked against.

The rows of a page decoded by orjson into dicts, checked by :func:`validate_page` (column-wise when every
row is well formed, else row by row) and paged as ``TradingService.fills`` did at 9225a86.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd

from reports.errors import FetchError
from reports.models import UNATTRIBUTED, FetchResult, Fills
from reports.sources.http import get_json
from reports.sources.timestamps import parse_timestamps


@dataclass(frozen=True)
class Page:
    """One page of validated rows: their fill columns, a fingerprint of each row, and the rows themselves."""

    frame: pd.DataFrame
    marks: list[int]
    rows: list[dict[str, Any]]
    ids: list[int]

    @property
    def ts(self) -> np.ndarray:
        """The rows' timestamps, int64 nanoseconds (UTC)."""
        return self.frame["ts"].to_numpy()


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


def validate_page(raw: list[Any], drops: Drops) -> Page:
    """Keep the well-formed rows of a page, column-wise; count the others by reason.

    A page of well-formed rows takes the fast path (whole columns checked at once); any doubt sends
    the page through the row-by-row check that names what is wrong.
    """
    built = _columns(raw, drops) if set(map(type, raw)) <= {dict} else None
    if built is None:
        rows = []
        for row in raw:
            reason = _problem(row)
            if reason:
                drops.add(reason, row)
            else:
                rows.append(row)
        built = _columns(rows, drops)
        assert built is not None  # every row passed the row-by-row check
        raw = rows
    frame, marks, bad_ts, ids = built
    if bad_ts.any():
        for row, bad in zip(raw, bad_ts.tolist(), strict=True):
            if bad:
                drops.add("bad timestamp", row)
        keep = ~bad_ts
        frame = frame[keep].reset_index(drop=True)
        marks = [m for m, k in zip(marks, keep.tolist(), strict=True) if k]
        raw = [r for r, k in zip(raw, keep.tolist(), strict=True) if k]
        ids = [i for i, k in zip(ids, keep.tolist(), strict=True) if k]
    return Page(frame=frame, marks=marks, rows=raw, ids=ids)


def new_rows(ids: list[int], page: Page, seen: dict[int, int], drops: Drops) -> list[int]:
    """Indices of the page's rows not read before; a known id with other content is a dropped duplicate."""
    if len(set(ids)) == len(ids):
        known = seen.keys() & ids  # pages overlap at their boundaries only: a few ids, or none
        if not known:
            seen.update(zip(ids, page.marks, strict=True))
            return list(range(len(ids)))
        first = {fill_id: seen[fill_id] for fill_id in known}
        again = np.isin(page.frame["id"].to_numpy(), np.fromiter(known, dtype=np.int64, count=len(known)))
        for k in np.flatnonzero(again).tolist():
            if first[ids[k]] != page.marks[k]:
                # The same id with other content: a second fill claims the id. The first one read stays.
                drops.add("duplicate id", page.rows[k])
        seen.update(zip(ids, page.marks, strict=True))
        seen.update(first)  # the first one read stays
        return np.flatnonzero(~again).tolist()
    new_idx = []
    for k, fill_id in enumerate(ids):  # the same id twice in one page: first come, first kept
        prev = seen.get(fill_id)
        if prev is None:
            seen[fill_id] = page.marks[k]
            new_idx.append(k)
        elif prev != page.marks[k]:
            drops.add("duplicate id", page.rows[k])
    return new_idx


def empty_frame() -> pd.DataFrame:
    """The fill columns of no row."""
    built = _columns([])
    assert built is not None  # no row is always well formed
    return built[0]


_NUMBER = {float, int}
_NONE = type(None)


def _columns(
    rows: list[dict[str, Any]], drops: Drops | None = None
) -> tuple[pd.DataFrame, list[int], np.ndarray, list[int]] | None:
    """The fill columns of rows that are all well formed (timestamps aside), else None.

    Returns the frame, a fingerprint per row, which timestamps did not parse, and the ids. Every column is
    read with one pass over the rows and checked by the set of its types (or values), at C speed; the few
    distinct symbols, sides and agents are checked as sets.
    """
    try:  # a row without one of the required keys is not well formed: the row-by-row check names it
        ids = [r["id"] for r in rows]
        stamps = [r["timestamp"] for r in rows]
        symbols = [r["symbol"] for r in rows]
        sides = [r["side"] for r in rows]
        prices = [r["price"] for r in rows]
        qtys = [r["quantity"] for r in rows]
    except KeyError:
        return None
    notionals, agents, fees = (_optional(rows, key) for key in ("notional", "agent_id", "fee"))
    agent_set: set[Any] = set()
    if rows:
        try:
            symbol_set, side_set, agent_set = set(symbols), set(sides), set(agents)
        except TypeError:  # a list or an object where a string belongs
            return None
        if not (
            set(map(type, ids)) == {int}
            and set(map(type, stamps)) == {str}
            and set(map(type, symbol_set)) == {str}
            and "" not in symbol_set
            and side_set <= {"BUY", "SELL"}
            and set(map(type, prices)) <= _NUMBER
            and set(map(type, qtys)) <= _NUMBER
            and set(map(type, agent_set)) <= {str, _NONE}
        ):
            return None
    fee_types = set(map(type, fees))
    if not fee_types <= {*_NUMBER, _NONE}:
        return None
    price = np.array(prices, dtype=np.float64)
    qty = np.array(qtys, dtype=np.float64)
    fee = np.array(fees, dtype=np.float64)  # None is NaN here
    if _NONE in fee_types:
        missing = np.isnan(fee)
        if int(np.count_nonzero(missing)) != fees.count(None):  # a NaN of its own too: a bad fee
            return None
        fee[missing] = 0.0
    if not (
        np.all(np.isfinite(price) & (price > 0)) and np.all(np.isfinite(qty) & (qty > 0)) and np.all(np.isfinite(fee))
    ):
        return None
    # notional only feeds the volume: one that is missing or unusable is price x quantity, never a lost fill.
    notional_types = set(map(type, notionals))
    if notional_types <= _NUMBER:  # the usual page: every notional a number
        notional = np.array(notionals, dtype=np.float64)
        given = np.ones(len(notionals), dtype=bool)
    else:
        notional = given = None
        if notional_types <= {*_NUMBER, _NONE}:  # some null: those are the NaNs, unless a NaN is given too
            notional = np.array(notionals, dtype=np.float64)
            given = ~np.isnan(notional)
            if len(notionals) - int(np.count_nonzero(given)) != notionals.count(None):
                notional = given = None
        if notional is None or given is None:
            given = np.array([type(v) in _NUMBER for v in notionals], dtype=bool)
            notional = np.array([v if ok else np.nan for v, ok in zip(notionals, given, strict=True)], dtype=np.float64)
    usable = np.isfinite(notional) & (notional > 0)
    unusable = given & ~usable
    if drops is not None and unusable.any():
        drops.repaired.update(np.asarray(ids)[unusable].tolist())
    ts, bad_ts = parse_timestamps(stamps)
    frame = pd.DataFrame(
        {
            "id": np.array(ids, dtype=np.int64),
            "ts": ts,
            "symbol": symbols,
            "side": np.where(np.array(sides, dtype=object) == "BUY", 1, -1).astype(np.int8),
            "price": price,
            "quantity": qty,
            "notional": np.where(usable, notional, price * qty),
            "agent_id": agents if agent_set.isdisjoint((None, "")) else [a or UNATTRIBUTED for a in agents],
            "fee": fee,
        }
    )
    marks = list(map(hash, zip(stamps, symbols, sides, prices, qtys, notionals, agents, fees, strict=True)))
    return frame, marks, bad_ts, ids


def _optional(rows: list[dict[str, Any]], key: str) -> list[Any]:
    """A key the service may leave out (null then): its values, None where a row has none."""
    try:
        return [r[key] for r in rows]
    except KeyError:
        return [r.get(key) for r in rows]


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


def reference_fills(base_url: str, end: datetime, start: datetime, page_limit: int) -> FetchResult:
    """``TradingService.fills`` as it was: every fill with ``start <= timestamp < end`` and the warnings."""
    client = httpx.Client(timeout=5.0)

    def history(start: datetime, end: datetime, limit: int) -> list[Any]:
        params = {"start_date": _iso(start), "end_date": _iso(end), "limit": limit}
        body = get_json(client, base_url + "/api/trades/history", params=params, what="ref", attempts=1)
        raw = body.get("trades") if isinstance(body, dict) else None
        if not isinstance(raw, list):
            raise FetchError("answered without a 'trades' list")
        return raw

    start_ns, end_ns = _ns(start), _ns(end)
    seen: dict[int, int] = {}
    frames: list[pd.DataFrame] = []
    drops = Drops()
    cursor, cursor_ns = end, end_ns
    try:
        while True:
            raw = history(start, cursor, page_limit)
            if not raw:
                break
            page = validate_page(raw, drops)
            ids = page.ids
            new_idx = new_rows(ids, page, seen, drops)
            if not new_idx:
                if len(page.ts) and not bool(np.all(page.ts == cursor_ns)):
                    raise FetchError("returned no new fill: page limit")
                if not history(start, cursor - timedelta(microseconds=1), 1):
                    break
                raise FetchError("returned no new fill: page limit")
            fresh = page.frame if len(new_idx) == len(ids) else page.frame.iloc[new_idx]
            stamps = fresh["ts"].to_numpy()
            if len(stamps) and (stamps.min() < start_ns or stamps.max() >= end_ns):
                fresh = fresh[(stamps >= start_ns) & (stamps < end_ns)]
            frames.append(fresh)
            oldest = int(page.ts.min())
            if oldest < start_ns:
                break
            cursor_ns = oldest
            cursor = pd.Timestamp(oldest, tz="UTC").to_pydatetime()
    finally:
        client.close()
    frame = pd.concat(frames, ignore_index=True) if frames else empty_frame()
    return FetchResult(fills=Fills.from_frame(frame), warnings=drops.warnings())


def _ns(ts: datetime) -> int:
    return int(pd.Timestamp(ts).value)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()
