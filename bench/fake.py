"""A fast fake of the trading service (CONTRACT 1.1) over a real 127.0.0.1 socket, for the benchmark.

Fast enough not to dominate what it measures: every row is serialised once, up front; a page is two
``searchsorted`` calls and a join of ready-made bytes. Strict where the real service is: both bounds
inclusive, newest first (id descending within a timestamp), at most ``min(limit, page_cap)`` rows,
a bad query is a 422. ``visible`` hides the fills the service would not hold yet at the time of a run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
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


def encode_rows(tape: Tape) -> list[bytes]:
    """Each fill as the JSON bytes of a CONTRACT 1.1 Trade row, in tape order."""
    stamps = np.datetime_as_string(tape.ts.astype("datetime64[ns]"), unit="us").tolist()
    agents = AGENT_NAMES_OR_NULL
    models = [a[2] for a in AGENTS] + [None]
    strategies = [a[3] for a in AGENTS] + [None]
    out: list[bytes] = []
    for fid, ts, sym, side, price, qty, notional, agent, fee, slip in zip(
        tape.id.tolist(),
        stamps,
        tape.symbol.tolist(),
        tape.side.tolist(),
        tape.price.tolist(),
        tape.quantity.tolist(),
        _nullable(tape.notional),
        tape.agent.tolist(),
        _nullable(tape.fee),
        _nullable(tape.slippage_bps),
        strict=True,
    ):
        out.append(
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
        )
    return out


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
        self.rows = encode_rows(tape)
        self.visible = len(tape)
        self.requests = 0
        self.rows_served = 0
        self._lock = threading.Lock()
        self.url = ""

    def show_until(self, now: datetime) -> None:
        """Hold only the fills strictly before ``now`` (the moment the report job runs)."""
        self.visible = int(np.searchsorted(self.tape.ts, int((now - EPOCH) // timedelta(microseconds=1)) * 1000))

    def reset_counters(self) -> None:
        """Start counting requests and rows served afresh."""
        with self._lock:
            self.requests = 0
            self.rows_served = 0

    def history(self, query: dict[str, list[str]]) -> bytes:
        """The body of ``/api/trades/history``; raises ValueError/KeyError on a bad query."""
        ts = self.tape.ts[: self.visible]
        limit = int(query.get("limit", ["1000"])[0])
        if limit <= 0:
            raise ValueError("limit must be positive")
        limit = min(limit, self.page_cap)
        lo = int(np.searchsorted(ts, parse_bound(query["start_date"][0]), "left")) if "start_date" in query else 0
        hi = int(np.searchsorted(ts, parse_bound(query["end_date"][0]), "right")) if "end_date" in query else len(ts)
        if "agent_id" in query or "symbol" in query:
            mask = np.ones(max(hi - lo, 0), dtype=bool)
            if "agent_id" in query:
                names = np.array(AGENT_NAMES_OR_NULL, dtype=object)[self.tape.agent[lo:hi]]
                mask &= names == query["agent_id"][0]
            if "symbol" in query:
                mask &= np.array(SYMBOL_NAMES, dtype=object)[self.tape.symbol[lo:hi]] == query["symbol"][0]
            picked = (np.nonzero(mask)[0][-limit:] + lo).tolist()[::-1]
            rows = [self.rows[i] for i in picked]
        else:
            first = max(lo, hi - limit)
            rows = self.rows[first:hi][::-1] if hi > first else []
        with self._lock:
            self.requests += 1
            self.rows_served += len(rows)
        return b'{"trades":[' + b",".join(rows) + b'],"count":' + str(len(rows)).encode() + b"}"

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

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            if url.path == "/api/trades/history":
                self._send(200, self.fake.history(query))
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
