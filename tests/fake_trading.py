"""A fake trading service ("cloud-trader") over a real HTTP socket, strict as CONTRACT 1.1 describes.

``/api/trades/history`` answers newest first, both bounds inclusive, at most ``min(limit, page_cap)``
rows, ``limit=0`` an empty list, a bound that is not ISO-8601 a 500 ``{"error"}`` and a non-integer limit a 422
``{"detail": [...]}``, as the real service's code does; with ``database_down`` it answers 200 with no rows, as
the real one does when its database is gone. ``/healthz`` and ``/dashboard`` as the real service.
``/api/exchange/income`` (admin) behind a bearer token: rows of the asked type inside ``start_time``..``end_time``
(both inclusive, ms), oldest first, at most ``min(limit, income_page_cap)``. Failures can be queued per path.
``/api/exchange/funding-rate`` (no auth) the events of ``symbol`` inside ``start_time``..``end_time`` (both inclusive,
ms), oldest first, the *first* ``limit`` (default 100; over 1000 the exchange's error as a 500); ``funding_status``
503 stands for a service without an exchange connection ("Exchange client not available").
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


def _parse(ts: str) -> datetime:
    parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"naive bound {ts!r}")
    return parsed


def _row_time(row: dict[str, Any]) -> datetime:
    return _timestamp(row["timestamp"])


@functools.lru_cache(maxsize=1 << 20)  # the same rows are scanned by every request: parse each string once
def _timestamp(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class FakeTradingService:
    """State of the fake: its trades (raw rows), page cap, dashboard, and queued failures."""

    trades: list[dict[str, Any]] = field(default_factory=list)
    page_cap: int = 1000
    dashboard: dict[str, Any] | None = None
    failures: dict[str, deque[int]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    health: dict[str, Any] = field(default_factory=lambda: {"running": True, "paper_trading": True, "last_error": None})
    database_down: bool = False
    delay: float = 0.0
    """Seconds each history request waits before answering (a slow service)."""
    income: list[dict[str, Any]] = field(default_factory=list)
    income_page_cap: int = 100
    admin_token: str | None = None
    income_requests: list[dict[str, str]] = field(default_factory=list)
    funding: list[dict[str, Any]] = field(default_factory=list)
    """Funding events as the exchange relays them: ``{"symbol", "fundingTime", "fundingRate", "markPrice"}``."""
    funding_status: int = 200
    funding_requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def fail(self, path: str, *statuses: int) -> None:
        """Answer the next requests to ``path`` with these statuses, in order."""
        self.failures.setdefault(path, deque()).extend(statuses)

    def history(self, query: dict[str, list[str]]) -> dict[str, Any]:
        start = _parse(query["start_date"][0]) if "start_date" in query else None
        end = _parse(query["end_date"][0]) if "end_date" in query else None
        limit = int(query.get("limit", ["1000"])[0])
        if limit <= 0 or self.database_down:  # the real service swallows a database error into no rows
            return {"trades": [], "count": 0}
        rows = [
            r
            for r in self.trades
            if (start is None or _row_time(r) >= start)
            and (end is None or _row_time(r) <= end)
            and ("agent_id" not in query or r.get("agent_id") == query["agent_id"][0])
            and ("symbol" not in query or r.get("symbol") == query["symbol"][0])
        ]
        # Newest first; within one timestamp the service's order is its own (here: id descending).
        rows.sort(key=lambda r: (_row_time(r), r["id"] if isinstance(r.get("id"), int) else 0), reverse=True)
        page = rows[: min(limit, self.page_cap)]
        return {"trades": page, "count": len(page)}

    def exchange_income(self, query: dict[str, list[str]], auth: str | None) -> tuple[int, Any]:
        if auth != f"Bearer {self.admin_token}" or self.admin_token is None:
            return 401, {"detail": "Invalid or missing admin token"}
        flat = {k: v[-1] for k, v in query.items()}
        self.income_requests.append(flat)
        try:
            kind = flat["income_type"]
            lo, hi, limit = int(flat["start_time"]), int(flat["end_time"]), int(flat.get("limit", "100"))
        except (KeyError, ValueError):
            return 422, {"detail": "invalid query parameters"}
        if kind not in INCOME_TYPES or not 1 <= limit <= 1000 or lo > hi:
            return 422, {"detail": "invalid query parameters"}
        match = sorted((r for r in self.income if r["incomeType"] == kind and lo <= r["time"] <= hi), key=_income_order)
        return 200, match[: min(limit, self.income_page_cap)]

    def funding_rate(self, query: dict[str, list[str]]) -> tuple[int, Any]:
        flat = {k: v[-1] for k, v in query.items()}
        self.funding_requests.append(flat)
        if self.funding_status == 503:
            return 503, {"error": "Exchange client not available"}
        if self.funding_status != 200:
            return self.funding_status, {"error": "exchange error"}
        try:
            symbol = flat["symbol"]
            lo, hi = int(flat.get("start_time", "0")), int(flat.get("end_time", str(2**62)))
            limit = int(flat.get("limit", "100"))
        except (KeyError, ValueError):
            return 422, {"detail": [{"loc": ["query"], "msg": "invalid query parameters"}]}
        if not 1 <= limit <= 1000:
            return 500, {"error": "APIError(code=-1100): Illegal characters found in parameter 'limit'"}
        match = sorted(
            (e for e in self.funding if e["symbol"] == symbol and lo <= e["fundingTime"] <= hi),
            key=lambda e: e["fundingTime"],
        )
        return 200, match[:limit]


INCOME_TYPES = ("REALIZED_PNL", "COMMISSION", "FUNDING_FEE")


def _income_order(row: dict[str, Any]) -> tuple[int, int]:
    return row["time"], row["tranId"]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTradingService

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if self.fake.delay and url.path == "/api/trades/history":
            time.sleep(self.fake.delay)
        query = parse_qs(url.query)
        self.fake.requests.append((url.path, query))
        queued = self.fake.failures.get(url.path)
        if queued:
            self._send(queued.popleft(), {"error": "injected failure"})
            return
        try:
            if url.path == "/healthz":
                self._send(200, self.fake.health)
            elif url.path == "/api/trades/history":
                try:
                    bounds_ok = [_parse(query[k][0]) for k in ("start_date", "end_date") if k in query]
                except ValueError as exc:  # FastAPI's handler turns the parse error into a 500
                    self._send(500, {"error": f"Invalid isoformat string: {exc}"})
                    return
                del bounds_ok
                self._send(200, self.fake.history(query))
            elif url.path == "/api/exchange/funding-rate":
                self._send(*self.fake.funding_rate(query))
            elif url.path == "/api/exchange/income":
                self._send(*self.fake.exchange_income(query, self.headers.get("Authorization")))
            elif url.path == "/dashboard":
                if self.fake.dashboard is None:
                    self._send(500, {"error": "dashboard unavailable"})
                else:
                    self._send(200, self.fake.dashboard)
            else:
                self._send(404, {"detail": "Not Found"})
        except (KeyError, ValueError) as exc:
            self._send(422, {"detail": [{"loc": ["query"], "msg": str(exc), "type": "value_error"}]})


class running_service:
    """Context manager: serve ``fake`` on 127.0.0.1 (a free port) in a thread; sets ``fake.url``."""

    def __init__(self, fake: FakeTradingService) -> None:
        handler = type("Handler", (_Handler,), {"fake": fake})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.fake = fake
        fake.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeTradingService:
        self.thread.start()
        return self.fake

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
