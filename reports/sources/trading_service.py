"""The fetch stage: reads fills and agent display data from the trading service (CONTRACT 1.1).

Fills are read newest first, paging backwards: each next page ends at the oldest timestamp seen so
far (bounds are inclusive, so that timestamp is asked for again) and ids already read are dropped.
Malformed rows are dropped and counted, never silently.
"""

from __future__ import annotations

import http.client
import json
import math
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd

from reports.errors import FetchError
from reports.models import UNATTRIBUTED, AgentInfo, FetchResult, Fills
from reports.sources.http import DEFAULT_TIMEOUT, get_json

HISTORY_START = datetime(1970, 1, 1, tzinfo=UTC)
"""The history is every fill the service holds: ask from the epoch."""


@dataclass(frozen=True)
class _Page:
    """One page of validated rows: their fill columns, a fingerprint of each row, and the rows themselves."""

    frame: pd.DataFrame
    marks: list[int]
    rows: list[dict[str, Any]]
    ids: list[int]

    @property
    def ts(self) -> np.ndarray:
        return self.frame["ts"].to_numpy()


class TradingService:
    """Client of the trading service's read API."""

    def __init__(
        self,
        base_url: str,
        *,
        page_limit: int = 5000,
        attempts: int = 4,
        backoff: float = 0.5,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.page_limit = page_limit
        self.attempts = attempts
        self.backoff = backoff
        if transport is None and self.base_url.startswith("http://") and not _proxied():
            transport = _PlainHTTP()
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> TradingService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Any:
        return get_json(
            self._client,
            self.base_url + path,
            params=params,
            what="the trading service",
            attempts=kw.pop("attempts", self.attempts),
            backoff=self.backoff,
            **kw,
        )

    def healthz(self) -> dict[str, Any]:
        """``GET /healthz``: running, paper_trading, last_error."""
        body = self._get("/healthz")
        if not isinstance(body, dict):
            raise FetchError(f"the trading service at {self.base_url}/healthz answered an unexpected body")
        return body

    def agents(self) -> dict[str, AgentInfo]:
        """Display names and emoji from ``/dashboard``; empty when it does not answer (it often answers 500)."""
        try:
            body = self._get("/dashboard", attempts=1)
        except FetchError:
            return {}
        out: dict[str, AgentInfo] = {}
        items = body.get("agents") if isinstance(body, dict) else None
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            name, emoji = item.get("name"), item.get("emoji")
            out[item["id"]] = AgentInfo(
                item["id"], name if isinstance(name, str) else None, emoji if isinstance(emoji, str) else None
            )
        return out

    def fills(self, end: datetime, start: datetime = HISTORY_START) -> FetchResult:
        """Every fill with ``start <= timestamp < end``, in replay order, with drops counted in warnings."""
        start_ns, end_ns = _ns(start), _ns(end)
        # id -> fingerprint of the row first read with it: pages overlap at their boundaries, and a
        # row dict per fill would cost a gigabyte at a million fills.
        seen: dict[int, int] = {}
        frames: list[pd.DataFrame] = []
        drops = _Drops()
        cursor = end
        cursor_ns = end_ns
        while True:
            body = self._get(
                "/api/trades/history",
                {"start_date": _iso(start), "end_date": _iso(cursor), "limit": self.page_limit},
            )
            raw = body.get("trades") if isinstance(body, dict) else None
            if not isinstance(raw, list):
                raise FetchError(
                    f"the trading service at {self.base_url}/api/trades/history answered without a 'trades' list"
                )
            if not raw:
                break
            page = _validate(raw, drops)
            ids = page.ids
            new_idx = _new_rows(ids, page, seen, drops)
            if not new_idx:
                if self._exhausted(page, start, cursor, cursor_ns):
                    break
                raise FetchError(
                    f"the trading service at {self.base_url} returned no new fill for end_date={_iso(cursor)} "
                    f"although older fills exist: {len(raw)} or more fills share that timestamp (a full page; "
                    "some may be hidden behind it), or the service ignores end_date. Raise the service's page "
                    "limit, or check its paging"
                )
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
        frame = pd.concat(frames, ignore_index=True) if frames else _columns([])[0]
        return FetchResult(fills=Fills.from_frame(frame), warnings=drops.warnings())

    def newest_before(self, end: datetime) -> datetime | None:
        """The timestamp of the newest fill strictly before ``end``, or None when the service has none."""
        body = self._get(
            "/api/trades/history",
            {"start_date": _iso(HISTORY_START), "end_date": _iso(end - timedelta(microseconds=1)), "limit": 1},
        )
        raw = body.get("trades") if isinstance(body, dict) else None
        if not isinstance(raw, list):
            raise FetchError(
                f"the trading service at {self.base_url}/api/trades/history answered without a 'trades' list"
            )
        page = _validate(raw, _Drops())
        if not len(page.ts):
            return None
        return pd.Timestamp(int(page.ts.max()), tz="UTC").to_pydatetime()

    def _exhausted(self, page: _Page, start: datetime, cursor: datetime, cursor_ns: int) -> bool:
        """A page with nothing new ends the range only if it sits at the cursor and nothing is older.

        Otherwise paging is stuck: the service cannot page past the fills at the cursor.
        """
        if len(page.ts) and not bool(np.all(page.ts == cursor_ns)):
            return False
        probe = self._get(
            "/api/trades/history",
            {"start_date": _iso(start), "end_date": _iso(cursor - timedelta(microseconds=1)), "limit": 1},
        )
        return not (isinstance(probe, dict) and probe.get("trades"))


def _ns(ts: datetime) -> int:
    return int(pd.Timestamp(ts).value)


def _proxied() -> bool:
    """A proxy set in the environment (httpx honours it only with its own transport)."""
    return any(scheme != "no" for scheme in urllib.request.getproxies())


class _PlainHTTP(httpx.BaseTransport):
    """Plain ``http://`` for httpx over the standard library's ``http.client``, one kept-alive connection.

    httpx's own transport (httpcore and h11) spends about as long reading a page of 5,000 fills (1.5 MB) as
    orjson takes to decode it; ``http.client`` reads the body into one buffer, several times faster. The
    client above is unchanged: the same timeouts (connect, then read), redirects, decoding of the content
    and errors (httpx's ``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``ReadError``,
    ``RemoteProtocolError``), which :func:`~reports.sources.http.get_json` retries as before. A kept-alive
    connection the server has closed meanwhile is opened again once.
    """

    def __init__(self) -> None:
        self._connection: http.client.HTTPConnection | None = None
        self._target: tuple[str, int] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"plain HTTP only, not {url.scheme!r}", request=request)
        timeouts = request.extensions.get("timeout", {})
        target = (url.host, url.port or 80)
        path = url.raw_path.decode("ascii")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}
        body = request.read() or None
        for attempt in range(2):
            reused = self._connection is not None and self._target == target
            connection = self._connection if reused else self._connect(target, timeouts, request)
            assert connection is not None
            try:
                connection.request(request.method, path, body=body, headers=headers)
                response = connection.getresponse()
                content = response.read()
            except TimeoutError as exc:
                self.close()
                raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused and attempt == 0:
                    continue  # the server closed the kept-alive connection while it was idle: a new one
                raise httpx.RemoteProtocolError(str(exc), request=request) from exc
            except http.client.HTTPException as exc:  # not HTTP: a bad status line, a line too long, cut short
                self.close()
                raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
            except OSError as exc:
                self.close()
                raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
            if response.will_close:
                self.close()
            return httpx.Response(
                response.status,
                headers=response.getheaders(),
                stream=httpx.ByteStream(content),
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": response.reason.encode("latin-1")},
                request=request,
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(
        self, target: tuple[str, int], timeouts: dict[str, float | None], request: httpx.Request
    ) -> http.client.HTTPConnection:
        self.close()
        connection = http.client.HTTPConnection(*target, timeout=timeouts.get("connect"))
        try:
            connection.connect()
        except TimeoutError as exc:
            connection.close()
            raise httpx.ConnectTimeout(str(exc) or "timed out", request=request) from exc
        except OSError as exc:
            connection.close()
            raise httpx.ConnectError(str(exc), request=request) from exc
        if connection.sock is not None:
            connection.sock.settimeout(timeouts.get("read"))
        self._connection, self._target = connection, target
        return connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = self._target = None


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


def _finite_positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


class _Drops:
    """Rows dropped, by reason, each distinct row counted once (pages overlap at their boundaries)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._seen: set[str] = set()
        self.repaired: set[Any] = set()  # ids of rows kept with price x quantity for an unusable notional

    def add(self, reason: str, row: Any) -> None:
        key = json.dumps(row, sort_keys=True, default=str)
        if key not in self._seen:
            self._seen.add(key)
            self.counts[reason] += 1

    def warnings(self) -> tuple[str, ...]:
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


def _new_rows(ids: list[int], page: _Page, seen: dict[int, int], drops: _Drops) -> list[int]:
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


def _validate(raw: list[Any], drops: _Drops) -> _Page:
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
    return _Page(frame=frame, marks=marks, rows=raw, ids=ids)


_NUMBER = {float, int}
_NONE = type(None)


def _columns(
    rows: list[dict[str, Any]], drops: _Drops | None = None
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
    ts, bad_ts = _timestamps(stamps)
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


def _shape(pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """A timestamp shape (``d`` a digit) as the bytes to take away and the most each difference may be."""
    text = pattern.replace("d", "0").encode().ljust(32, b"\0")
    limit = bytes(9 if c == "d" else 0 for c in pattern.ljust(32, "\0"))
    return np.frombuffer(text, dtype=np.uint8), np.frombuffer(limit, dtype=np.uint8)


_SHAPES = {
    len(pattern): _shape(pattern)
    for pattern in (
        "dddd-dd-ddTdd:dd:dd",
        "dddd-dd-ddTdd:dd:dd+00:00",
        "dddd-dd-ddTdd:dd:dd.dddddd",
        "dddd-dd-ddTdd:dd:dd.dddddd+00:00",
    )
}
"""What the service writes (``datetime.isoformat``: microseconds only when not 0), by length."""
_MICROS = np.array([100_000, 10_000, 1_000, 100, 10, 1], dtype=np.int64)
_SAFE = (np.datetime64("1678-01-01T00:00:00", "s"), np.datetime64("2262-01-01T00:00:00", "s"))
"""Well inside the nanosecond range of pandas: a timestamp outside it goes the way of pandas."""


def _timestamps(stamps: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Int64 nanoseconds (UTC) of ISO 8601 timestamps, and which ones did not parse (0 there).

    As pandas reads them (``format="ISO8601"``, naive is UTC). The shapes of :data:`_SHAPES` are checked byte
    by byte and read by numpy at C speed; every other string (another offset, other fraction digits, a date
    that does not exist) is left to pandas itself.
    """
    n = len(stamps)
    try:
        raw = np.array(stamps, dtype="S")
    except UnicodeEncodeError:
        return _pandas_timestamps(stamps)
    if n == 0 or raw.dtype.itemsize > 32:
        return _pandas_timestamps(stamps)
    raw = raw.astype("S32")
    u = raw.view(np.uint8).reshape(n, 32)
    length = np.fromiter(map(len, stamps), dtype=np.int64, count=n)  # a trailing NUL is not in ``raw``
    ok = np.zeros(n, dtype=bool)
    for size, (text, limit) in _SHAPES.items():
        rows = length == size
        if rows.all():
            ok = np.all((u - text) <= limit, axis=1)  # uint8: a byte below the template's wraps round
        elif rows.any():
            ok[rows] = np.all((u[rows] - text) <= limit, axis=1)
    seconds = np.zeros(n, dtype="datetime64[s]")
    try:
        seconds[ok] = raw[ok].astype("S19").astype("datetime64[s]")
    except ValueError:  # not a date (the 30th of February, hour 24): pandas says which
        return _pandas_timestamps(stamps)
    ok &= (seconds >= _SAFE[0]) & (seconds < _SAFE[1])
    micros = np.where(length >= 26, (u[:, 20:26] - 48).astype(np.int64) @ _MICROS, 0)
    ts = (seconds.astype(np.int64) * 1_000_000 + micros) * 1_000
    bad = np.zeros(n, dtype=bool)
    if not ok.all():
        others = np.flatnonzero(~ok)
        ts[others], bad[others] = _pandas_timestamps([stamps[k] for k in others.tolist()])
    return ts, bad


def _pandas_timestamps(stamps: list[str]) -> tuple[np.ndarray, np.ndarray]:
    parsed = pd.to_datetime(pd.Series(stamps, dtype=object), format="ISO8601", utc=True, errors="coerce")
    bad_ts = parsed.isna().to_numpy()
    ts = parsed.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64(0, "ns")).astype(np.int64)
    return ts, bad_ts


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
