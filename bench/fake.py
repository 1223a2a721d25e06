"""A fast fake of the trading service (CONTRACT 1.1) over a real 127.0.0.1 socket, for the benchmark.

Fast enough not to dominate what it measures: every row is serialised once, up front; a page is two
``searchsorted`` calls and a zero-copy slice of ready-made bytes, written to the socket as it is. Strict
where the real service is: both bounds inclusive, newest first (id descending within a timestamp), at most
``min(limit, page_cap)`` rows, a bad query is a 422. Only the fills from :meth:`FakeService.show_from` to
:meth:`FakeService.show_until` are held (the service's history at the time of a run). With ``record``,
every page's query is kept, so that the very bytes served can be produced again (:meth:`FakeService.bodies`).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from bench.data import AGENTS, SYMBOL_NAMES, Tape

try:
    import orjson

    _dumps: Callable[[Any], bytes] = orjson.dumps
except ImportError:  # the bench extra brings orjson; plain json is slower but the same bytes' meaning

    def _dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EMOJI = ("⚡", "📊", "🔮", "📈", "🧪", "📰")
AGENT_NAMES_OR_NULL: tuple[str | None, ...] = (*(a[0] for a in AGENTS), None)
"""Index -1 (a null agent) picks the trailing None."""


def _nullable(values: np.ndarray) -> list[float | None]:
    return [None if v != v else v for v in values.tolist()]  # NaN is the only value unequal to itself


class Encoded:
    """Every fill as the JSON bytes of a CONTRACT 1.1 Trade row, newest first, in one comma-joined blob.

    Newest first is the order of a page, so a page is one slice of the blob, ready to send.
    Row ``i`` of the tape (ascending) is entry ``n - 1 - i`` of the blob.
    """

    def __init__(self, tape: Tape, chunk: int = 20_000) -> None:
        n = len(tape)
        self.n = n
        lengths = np.zeros(n, dtype=np.int64)
        parts: list[bytes] = []
        # In chunks: a row fresh from orjson holds a much larger buffer than its length until joined.
        for lo in range(0, n, chunk):
            rows = _encode(tape, n - min(n, lo + chunk), n - lo)[::-1]
            lengths[lo : lo + len(rows)] = [len(r) for r in rows]
            parts.append(b",".join(rows))
        self.blob = b",".join(parts)
        self.starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]) if n else lengths

    def _end(self, k: int) -> int:
        """Where blob entry ``k`` ends (the comma after it, or the end of the blob)."""
        return int(self.starts[k + 1]) - 1 if k + 1 < self.n else len(self.blob)

    def page(self, lo: int, hi: int) -> memoryview:
        """Tape rows ``lo <= i < hi``, newest first, comma-joined (a view into the blob, not a copy)."""
        if hi <= lo:
            return memoryview(b"")
        first, last = self.n - hi, self.n - 1 - lo
        return memoryview(self.blob)[int(self.starts[first]) : self._end(last)]

    def row(self, i: int) -> bytes:
        """Tape row ``i`` alone."""
        k = self.n - 1 - i
        return self.blob[int(self.starts[k]) : self._end(k)]


def _encode(tape: Tape, lo: int, hi: int) -> list[bytes]:
    """Tape rows ``lo <= i < hi`` as JSON bytes, ascending."""
    sl = slice(lo, hi)
    stamps = np.datetime_as_string(tape.ts[sl].astype("datetime64[ns]"), unit="us").tolist()
    agents = AGENT_NAMES_OR_NULL
    models = [a[2] for a in AGENTS] + [None]
    strategies = [a[3] for a in AGENTS] + [None]
    return [
        _dumps(
            {
                "id": fid,
                "timestamp": ts + "+00:00",
                "symbol": SYMBOL_NAMES[sym],
                "side": "BUY" if side > 0 else "SELL",
                "price": price,
                "quantity": qty,
                "notional": notional,
                "agent_id": agents[agent],
                "agent_model": models[agent],
                "strategy": strategies[agent],
                "fee": fee,
                "slippage_bps": slip,
                "metadata": None,
            }
        )
        for fid, ts, sym, side, price, qty, notional, agent, fee, slip in zip(
            tape.id[sl].tolist(),
            stamps,
            tape.symbol[sl].tolist(),
            tape.side[sl].tolist(),
            tape.price[sl].tolist(),
            tape.quantity[sl].tolist(),
            _nullable(tape.notional[sl]),
            tape.agent[sl].tolist(),
            _nullable(tape.fee[sl]),
            _nullable(tape.slippage_bps[sl]),
            strict=True,
        )
    ]


def _ns(ts: datetime) -> int:
    return (ts - EPOCH) // timedelta(microseconds=1) * 1000


def parse_bound(raw: str) -> int:
    """An ISO-8601 bound as int64 ns (a naive one is UTC, as the real service reads it)."""
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - EPOCH) // timedelta(microseconds=1) * 1000


class FakeService:
    """The data and counters of the fake; :meth:`serve` puts it on a socket."""

    def __init__(self, tape: Tape, *, page_cap: int = 5000, dashboard_ok: bool = True) -> None:
        self.tape = tape
        self.page_cap = page_cap
        self.dashboard_ok = dashboard_ok
        self.rows = Encoded(tape)
        self.oldest = 0
        self.visible = len(tape)
        self.requests = 0
        self.rows_served = 0
        self.record = False
        self.recorded: list[tuple[dict[str, list[str]], int, int]] = []
        self._lock = threading.Lock()
        self.url = ""

    def show_until(self, now: datetime) -> None:
        """Hold only the fills strictly before ``now`` (the moment the report job runs)."""
        self.visible = int(np.searchsorted(self.tape.ts, _ns(now)))

    def show_from(self, start: datetime) -> None:
        """Hold only the fills at or after ``start`` (the first day of the service's history)."""
        self.oldest = int(np.searchsorted(self.tape.ts, _ns(start)))

    def held(self, start: datetime, end: datetime) -> int:
        """Fills held with ``start <= ts < end``."""
        lo, hi = np.searchsorted(self.tape.ts[self.oldest : self.visible], [_ns(start), _ns(end)])
        return int(hi - lo)

    def reset_counters(self) -> None:
        """Start counting requests and rows served afresh."""
        with self._lock:
            self.requests = 0
            self.rows_served = 0

    def history(self, query: dict[str, list[str]]) -> list[bytes | memoryview]:
        """The body of ``/api/trades/history`` in pieces; raises ValueError/KeyError on a bad query."""
        body = self._history(query, self.oldest, self.visible)
        if self.record:
            with self._lock:
                self.recorded.append((query, self.oldest, self.visible))
        return body

    def bodies(self) -> Iterator[bytes]:
        """Every ``/api/trades/history`` body served since :attr:`record` was set, byte for byte, in order."""
        for query, oldest, visible in self.recorded:
            yield b"".join(self._history(query, oldest, visible, count=False))

    def _history(
        self, query: dict[str, list[str]], oldest: int, visible: int, *, count: bool = True
    ) -> list[bytes | memoryview]:
        ts = self.tape.ts[oldest:visible]
        limit = int(query.get("limit", ["1000"])[0])
        if limit <= 0:
            raise ValueError("limit must be positive")
        limit = min(limit, self.page_cap)
        lo = int(np.searchsorted(ts, parse_bound(query["start_date"][0]), "left")) if "start_date" in query else 0
        hi = int(np.searchsorted(ts, parse_bound(query["end_date"][0]), "right")) if "end_date" in query else len(ts)
        lo, hi = lo + oldest, hi + oldest
        if "agent_id" in query or "symbol" in query:
            mask = np.ones(max(hi - lo, 0), dtype=bool)
            if "agent_id" in query:
                names = np.array(AGENT_NAMES_OR_NULL, dtype=object)[self.tape.agent[lo:hi]]
                mask &= names == query["agent_id"][0]
            if "symbol" in query:
                mask &= np.array(SYMBOL_NAMES, dtype=object)[self.tape.symbol[lo:hi]] == query["symbol"][0]
            picked = (np.nonzero(mask)[0][-limit:] + lo).tolist()[::-1]
            n, body = len(picked), memoryview(b",".join(self.rows.row(i) for i in picked))
        else:
            first = max(lo, hi - limit)
            n, body = max(hi - first, 0), self.rows.page(first, hi)
        if count:
            with self._lock:
                self.requests += 1
                self.rows_served += n
        return [b'{"trades":[', body, b'],"count":' + str(n).encode() + b"}"]

    def funding(self, query: dict[str, list[str]]) -> bytes:
        """``/api/exchange/funding-rate``: the symbol's events every 8 hours from ``start_time`` to ``end_time``
        (both inclusive), the first ``limit`` (≤ 1000), none after the moment the job runs; counted as a request."""
        symbol = query["symbol"][0]
        if symbol not in SYMBOL_NAMES:
            return b"[]"
        step = 8 * 3_600_000
        now = self.tape.ts[self.visible - 1] // 1_000_000 if self.visible else 0
        lo = int(query["start_time"][0])
        hi = min(int(query["end_time"][0]), int(now))
        limit = min(int(query.get("limit", ["100"])[0]), 1000)
        first = -(-lo // step) * step
        times = list(range(first, hi + 1, step))[:limit]
        rate = 0.0001 * (1 + SYMBOL_NAMES.index(symbol) % 3)
        with self._lock:
            self.requests += 1
        return _dumps(
            [{"symbol": symbol, "fundingTime": t, "fundingRate": f"{rate:.8f}", "markPrice": "100.0"} for t in times]
        )

    def dashboard(self) -> bytes | None:
        """The ``/dashboard`` body, or None for its frequent 500."""
        if not self.dashboard_ok:
            return None
        agents = [
            {"id": agent[0], "name": agent[0].replace("-", " ").title(), "emoji": emoji}
            for agent, emoji in zip(AGENTS, EMOJI, strict=True)
        ]
        return _dumps({"portfolio": {"total_value": 700.0}, "agents": agents})

    def serve(self) -> Server:
        """Serve on a free 127.0.0.1 port in a thread; sets :attr:`url`."""
        return Server(self)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the client reuses one connection for every page
    fake: FakeService

    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # The body goes out in several writes: no Nagle wait for the ACK of the one before.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _send(self, status: int, body: bytes | list[bytes | memoryview]) -> None:
        pieces = [body] if isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(sum(len(p) for p in pieces)))
        self.end_headers()
        for piece in pieces:  # a page is written from the blob as it is, without joining a copy
            self.wfile.write(piece)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            if url.path == "/api/trades/history":
                self._send(200, self.fake.history(query))
            elif url.path == "/api/exchange/funding-rate":
                self._send(200, self.fake.funding(query))
            elif url.path == "/healthz":
                self._send(200, b'{"running":true,"paper_trading":true,"last_error":null}')
            elif url.path == "/dashboard":
                body = self.fake.dashboard()
                if body is None:
                    self._send(500, b'{"error":"dashboard unavailable"}')
                else:
                    self._send(200, body)
            else:
                self._send(404, b'{"detail":"Not Found"}')
        except (KeyError, ValueError) as exc:
            self._send(422, _dumps({"detail": f"invalid query: {exc}"}))


class Server:
    """Context manager around a running fake: stops the server thread on exit."""

    def __init__(self, fake: FakeService) -> None:
        handler = type("Handler", (_Handler,), {"fake": fake})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        fake.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.fake = fake
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def __enter__(self) -> FakeService:
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
