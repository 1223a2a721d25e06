"""The demo's trading service and Prometheus, embedded: HTTP transports that answer the real APIs from the demo data.

``report --demo`` runs the code that runs every morning: the trading-service client pages through
``/api/trades/history`` (newest first, both bounds inclusive, at most ``limit`` rows), the history is stored
and replayed day by day, and the Operations section is read with the Prometheus client's own queries. Only
the answers come from :mod:`reports.sources.demo` instead of a network.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import httpx
import numpy as np
import pandas as pd

from reports.calendar import TradingDay
from reports.models import UNATTRIBUTED, Operations
from reports.sources.demo import agent_directory, demo_frame, funding_events

TRADING_URL = "http://cloud-trader.demo:8080"
"""Where the demo's trading service answers (never resolved: the transport answers in-process)."""
PROMETHEUS_URL = "http://prometheus.demo:9090"


def _answer(request: httpx.Request, status: int, body: Any) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body).encode(), request=request, headers={"content-type": "application/json"}
    )


def _instant(raw: str) -> int:
    """An ISO-8601 bound as the real service parses it (naive is UTC), in ns; ValueError when malformed."""
    ts = pd.Timestamp(datetime.fromisoformat(raw))
    return int((ts if ts.tzinfo else ts.tz_localize("UTC")).value)


class DemoTradingService(httpx.BaseTransport):
    """The trading service of the demo (CONTRACT 1.1): every demo fill up to the end of ``day``."""

    def __init__(self, day: TradingDay) -> None:
        frame = demo_frame(day)
        order = np.lexsort((frame["id"].to_numpy(), frame["ts"].to_numpy()))
        self._frame = frame.iloc[order].reset_index(drop=True)
        self._ts = self._frame["ts"].to_numpy()
        self._rows = _row_texts(self._frame)
        self._end_ms = int(pd.Timestamp(day.end).value // 1_000_000) - 1
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one GET like the real service's code does."""
        self.requests += 1
        path, params = request.url.path, request.url.params
        if path == "/healthz":
            return _answer(request, 200, {"running": True, "paper_trading": True, "last_error": None})
        if path == "/dashboard":
            agents = [{"id": a.agent_id, "name": a.name, "emoji": a.emoji} for a in agent_directory().values()]
            return _answer(request, 200, {"portfolio": {}, "agents": agents})
        if path == "/api/trades/history":
            try:
                limit = int(params.get("limit", "1000"))
            except ValueError:
                return _answer(request, 422, {"detail": [{"loc": ["query", "limit"], "msg": "not an integer"}]})
            try:
                lo = _instant(params["start_date"]) if "start_date" in params else None
                hi = _instant(params["end_date"]) if "end_date" in params else None
            except ValueError as exc:
                return _answer(request, 500, {"error": str(exc)})
            rows = self._history(lo, hi, limit)
            body = b'{"trades":[' + b",".join(rows) + b'],"count":' + str(len(rows)).encode() + b"}"
            return httpx.Response(200, content=body, request=request, headers={"content-type": "application/json"})
        if path == "/api/exchange/funding-rate":
            return self._funding(request)
        return _answer(request, 404, {"detail": "Not Found"})

    def _funding(self, request: httpx.Request) -> httpx.Response:
        """``/api/exchange/funding-rate``: the first ``limit`` (≤ 1000) events from ``start_time``, oldest first;
        the service knows no event after the end of the demo's history."""
        params = request.url.params
        try:
            start = int(params.get("start_time", "0"))
            end = min(int(params.get("end_time", str(self._end_ms))), self._end_ms)
            limit = min(int(params.get("limit", "100")), 1000)
        except ValueError:
            return _answer(request, 422, {"detail": [{"loc": ["query"], "msg": "not an integer"}]})
        events = funding_events(params.get("symbol", ""), start, end)
        return _answer(request, 200, events[: max(limit, 0)])

    def _history(self, lo: int | None, hi: int | None, limit: int) -> list[bytes]:
        """The JSON of the newest ``limit`` rows with ``lo <= ts <= hi``, newest first (the real service's order)."""
        first = 0 if lo is None else int(np.searchsorted(self._ts, lo, side="left"))
        last = len(self._ts) if hi is None else int(np.searchsorted(self._ts, hi, side="right"))
        start = max(first, last - max(limit, 0))
        return self._rows[start:last][::-1]


def _row_texts(frame: pd.DataFrame) -> list[bytes]:
    """Each fill as the real service writes it in ``trades`` (CONTRACT 1.1), JSON made once: the client pages
    through the same rows many times (every day closed, the paging's probes)."""
    stamps = np.datetime_as_string(frame["ts"].to_numpy().astype("datetime64[ns]").astype("datetime64[us]"), unit="us")
    columns = zip(
        frame["id"].tolist(),
        stamps.tolist(),
        frame["symbol"].tolist(),
        frame["side"].tolist(),
        frame["price"].tolist(),
        frame["quantity"].tolist(),
        frame["notional"].tolist(),
        frame["agent_id"].tolist(),
        frame["fee"].tolist(),
        strict=True,
    )
    return [
        json.dumps(
            {
                "id": int(i),
                "timestamp": _iso_text(ts),
                "symbol": symbol,
                "side": "BUY" if side > 0 else "SELL",
                "price": float(price),
                "quantity": float(qty),
                "notional": float(notional),
                "agent_id": None if agent == UNATTRIBUTED else agent,
                "agent_model": None,
                "strategy": None,
                "fee": float(fee),
                "slippage_bps": None,
                "metadata": None,
            }
        ).encode()
        for i, ts, symbol, side, price, qty, notional, agent, fee in columns
    ]


def _iso_text(us: str) -> str:
    """numpy's ``YYYY-MM-DDTHH:MM:SS.ffffff`` as the real service writes it: ``+00:00``, no fraction at 0 µs."""
    return (us[:-7] if us.endswith(".000000") else us) + "+00:00"


class DemoPrometheus(httpx.BaseTransport):
    """Prometheus of the demo: the default queries of the Operations section answered from ``operations``.

    The balance is a step function through the day that takes each value of ``operations.equity_curve`` up to its
    instant, so a range query at any step of at most the curve's spacing sees every value, and the close is the
    day's last. Any other query answers an empty vector (no data), as Prometheus does for an unknown series.
    """

    def __init__(self, day: TradingDay, operations: Operations) -> None:
        from reports.sources.prometheus import DEFAULT_QUERIES, range_literal

        rng = range_literal(day)
        self._exprs = {key: expr.replace("$range", rng) for key, expr in DEFAULT_QUERIES.items()}
        self._ops = operations
        curve = operations.equity_curve
        self._times = np.array([t.timestamp() for t, _ in curve], dtype=np.float64)
        self._values = [v for _, v in curve]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Answer ``/api/v1/query`` and ``/api/v1/query_range``."""
        params = request.url.params
        expr = params.get("query", "")
        if request.url.path == "/api/v1/query":
            result = [{"metric": labels, "value": [float(params["time"]), _num(v)]} for labels, v in self._rows(expr)]
            return _answer(request, 200, {"status": "success", "data": {"resultType": "vector", "result": result}})
        if request.url.path == "/api/v1/query_range":
            start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
            result = []
            if expr == self._exprs["equity"] and len(self._times):
                stamps = np.arange(start, end + 1e-9, step)
                values = [[t, _num(self._balance(t))] for t in stamps.tolist()]
                result = [{"metric": {}, "values": values}]
            return _answer(request, 200, {"status": "success", "data": {"resultType": "matrix", "result": result}})
        return _answer(request, 404, {"status": "error", "error": "not found"})

    def _balance(self, t: float) -> float:
        k = int(np.searchsorted(self._times, t - 1e-6, side="left"))
        return self._values[min(k, len(self._values) - 1)]

    def _rows(self, expr: str) -> list[tuple[dict[str, str], float]]:
        ops, by = self._ops, self._exprs
        if expr == by["equity"] and len(self._times):
            return [({}, self._values[-1])]
        if expr == by["drawdown"] and ops.max_drawdown is not None:
            return [({}, -ops.max_drawdown)]
        if expr == by["executions_ok"]:
            return [({}, float(ops.executions.ok))]
        if expr == by["executions_failed"]:
            return [({"reason": r}, float(n)) for r, n in ops.executions.failed_by_reason.items()]
        if expr == by["ai_cost"]:
            return [({"agent_id": a}, v) for a, v in ops.ai_cost_usd.items()]
        if expr == by["agent_errors"]:
            return [({"agent_id": a}, float(n)) for a, n in ops.agent_errors.items()]
        return []


def _num(value: float) -> str:
    """A sample value as Prometheus writes it (a string; ``+Inf``/``NaN`` never occur here)."""
    return repr(float(value)) if math.isfinite(value) else "NaN"
