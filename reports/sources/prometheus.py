"""The Operations section from Prometheus: how the machine behind the agents ran that day (CONTRACT 1.2, 4).

Over the trading day ``[day.start, day.end)``: equity from ``portfolio_balance_usd`` (a range query for the
chart plus the close), the day's highest ``portfolio_drawdown_pct``, and ``increase()`` over the day of the
execution, AI-cost and agent-error counters. A series that does not exist is "no data"; a Prometheus that is
down or slow makes the section ``unavailable`` and never stops the report.

Queries may be replaced, or added to, in a YAML file (``REPORT_QUERIES_FILE``), e.g.::

    step: 30s                      # resolution of the equity curve (default 15s)
    queries:
      equity: max(portfolio_balance_usd{namespace="trading"})
      executions_failed:           # a list: results are added label by label
        - sum by (reason) (increase(trade_execution_failure_total[$range]))
        - sum by (reason) (increase(order_rejected_total[$range]))

``$range`` stands for the length of the day (``86400s``; ``82800s``/``90000s`` on a DST change).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from reports.calendar import TradingDay
from reports.errors import FetchError, UsageError
from reports.models import EquityStats, Executions, Operations
from reports.redact import redact_url
from reports.settings import Settings
from reports.sources.http import HttpStatusError, get_json

DEFAULT_QUERIES: dict[str, str] = {
    # max, not sum: several replicas of the trading service all export the one account's balance.
    "equity": "max(portfolio_balance_usd)",
    "drawdown": "max(max_over_time(portfolio_drawdown_pct[$range]))",
    "executions_ok": "sum(increase(trade_execution_success_total[$range]))",
    "executions_failed": "sum by (reason) (increase(trade_execution_failure_total[$range]))",
    "ai_cost": "sum by (agent_id) (increase(agent_inference_cost_usd_sum[$range]))",
    "agent_errors": "sum by (agent_id) (increase(agent_errors_total[$range]))",
}
"""One PromQL expression per item of the Operations section."""

GAUGE_KEYS = frozenset({"equity", "drawdown"})
"""Items that take exactly one query (adding two equities makes no sense)."""

GROUP_LABEL = {"executions_failed": "reason", "ai_cost": "agent_id", "agent_errors": "agent_id"}
"""The label each grouped item is keyed by; a series without it is counted under ``unknown``."""

DEFAULT_STEP = 15.0
"""Seconds between points of the equity curve: at or below the usual scrape interval, so no sample is skipped."""

_EXCLUSIVE_END = timedelta(milliseconds=1)
"""Queries are evaluated 1 ms before the day's end: range selectors are ``(t - range, t]`` and a sample at
exactly the end belongs to the next day. Prometheus timestamps have millisecond resolution."""

_MAX_POINTS = 11_000  # Prometheus refuses range queries of more points per series


@dataclass(frozen=True, slots=True)
class QuerySet:
    """The queries of one run: each item's expressions and the equity curve's step in seconds."""

    queries: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: {key: (expr,) for key, expr in DEFAULT_QUERIES.items()}
    )
    step: float = DEFAULT_STEP


class PrometheusClient:
    """Instant and range queries over Prometheus's HTTP API, with timeouts and bounded retries."""

    def __init__(self, base_url: str, client: httpx.Client, *, timeout: float, attempts: int = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = client
        self._timeout = timeout
        self._attempts = attempts

    def _get(self, path: str, params: dict[str, str]) -> Any:
        # Prometheus gives up on the query itself after `timeout` too, instead of computing for nobody.
        params = {**params, "timeout": f"{self._timeout:g}s"}
        body = get_json(
            self._client,
            f"{self.base_url}{path}",
            params=params,
            what="Prometheus",
            attempts=self._attempts,
        )
        if not isinstance(body, dict) or body.get("status") != "success" or not isinstance(body.get("data"), dict):
            raise FetchError(f"Prometheus at {self.base_url} answered with something that is not a query result")
        return body["data"]

    def query(self, expr: str, at: datetime) -> list[tuple[dict[str, str], float]]:
        """Evaluate ``expr`` at one instant: ``[(labels, value)]``, non-finite values dropped."""
        data = self._get("/api/v1/query", {"query": expr, "time": _stamp(at)})
        if data.get("resultType") == "scalar":
            rows = [({}, _sample(data.get("result"))[1])]
        elif data.get("resultType") == "vector":
            rows = [(row.get("metric") or {}, _sample(row.get("value"))[1]) for row in _rows(data)]
        else:
            raise FetchError(f"Prometheus query {expr!r} gave a {data.get('resultType')}, not an instant vector")
        # NaN and +-Inf (e.g. a ratio over an empty histogram) are "no data".
        return [(labels, v) for labels, v in rows if math.isfinite(v)]

    def query_range(
        self, expr: str, start: datetime, end: datetime, step: float
    ) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        """Evaluate ``expr`` every ``step`` seconds from ``start`` to ``end``: ``[(labels, [(t, value)])]``."""
        params = {"query": expr, "start": _stamp(start), "end": _stamp(end), "step": f"{step:g}"}
        data = self._get("/api/v1/query_range", params)
        if data.get("resultType") != "matrix":
            raise FetchError(f"Prometheus range query {expr!r} gave a {data.get('resultType')}, not a matrix")
        out = []
        for row in _rows(data):
            points = [_sample(p) for p in row.get("values") or []]
            out.append((row.get("metric") or {}, [(t, v) for t, v in points if math.isfinite(v)]))
        return out


def fetch_operations(
    settings: Settings,
    day: TradingDay,
    *,
    timeout: float = 10.0,
    client: httpx.Client | None = None,
) -> tuple[Operations | None, str, list[str]]:
    """Read the day's Operations section from Prometheus.

    Returns ``(operations, status, warnings)`` with status ``"ok"``, ``"unavailable"`` (down, slow, or not
    Prometheus: operations is ``None``) or ``"not configured"`` (``PROMETHEUS_URL`` unset). A query that
    Prometheus rejects (a typo in ``REPORT_QUERIES_FILE``) leaves that item without data and adds a warning.
    Raises only :class:`UsageError` for a malformed queries file. ``client`` lets a caller share or
    instrument the HTTP client; by default one with ``timeout`` is made.
    """
    if not settings.prometheus_url:
        return None, "not configured", []
    queries = load_queries(settings.queries_file)
    own = client is None
    http = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
    prom = PrometheusClient(settings.prometheus_url, http, timeout=timeout)
    try:
        operations, warnings = _collect(prom, queries, day)
    except FetchError as exc:  # HttpStatusError included: a 4xx outside a query's own fault is a wrong URL
        return None, "unavailable", [_unavailable(settings.prometheus_url, exc)]
    finally:
        if own:
            http.close()
    return operations, "ok", warnings


SERIES = (
    "portfolio_balance_usd",
    "portfolio_drawdown_pct",
    "trade_execution_success_total",
    "trade_execution_failure_total",
    "agent_inference_cost_usd_sum",
    "agent_errors_total",
)
"""The series the default queries read (CONTRACT 1.2)."""


def check(settings: Settings, *, at: datetime | None = None, timeout: float = 5.0) -> tuple[bool, str]:
    """One line for ``report check``: can Prometheus be queried, and which of :data:`SERIES` had samples in
    the day before ``at`` (default now). ``(True, ...)`` also when not configured: that is a valid setup."""
    if not settings.prometheus_url:
        return True, "Prometheus: not configured (PROMETHEUS_URL unset): the report has no Operations section"
    try:
        load_queries(settings.queries_file)
    except UsageError as exc:
        return False, f"Prometheus: {exc}"
    expr = 'group by (__name__) (last_over_time({__name__=~"' + "|".join(SERIES) + '"}[1d]))'
    with httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))) as http:
        prom = PrometheusClient(settings.prometheus_url, http, timeout=timeout, attempts=1)
        try:
            rows = prom.query(expr, at or datetime.now(UTC))
        except FetchError as exc:
            return False, _unavailable(settings.prometheus_url, exc)
    present = {labels.get("__name__") for labels, _ in rows}
    missing = [name for name in SERIES if name not in present]
    if not missing:
        return True, f"Prometheus at {settings.prometheus_url}: ok, all {len(SERIES)} series have data"
    return True, (
        f"Prometheus at {settings.prometheus_url}: reachable; no samples in the last day for {', '.join(missing)}"
        " (those items will show no data)"
    )


def load_queries(path: Path | None) -> QuerySet:
    """The default queries, with those of the YAML file at ``path`` replacing or adding to them.

    Raises :class:`UsageError` naming ``REPORT_QUERIES_FILE`` when the file cannot be read or is malformed,
    so the command line can check it before any request.
    """
    if path is None:
        return QuerySet()
    where = f"REPORT_QUERIES_FILE {path}"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{where} cannot be read ({exc.strerror}): fix the path or unset it") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{where} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if raw is None:
        return QuerySet()
    if not isinstance(raw, dict) or set(raw) - {"queries", "step"}:
        raise UsageError(f"{where}: expected a mapping with 'queries' and optionally 'step'")
    step = _parse_step(raw.get("step", DEFAULT_STEP), where)
    given = raw.get("queries") or {}
    if not isinstance(given, dict):
        raise UsageError(f"{where}: 'queries' must map items to PromQL")
    queries = QuerySet().queries
    for key, value in given.items():
        if key not in DEFAULT_QUERIES:
            raise UsageError(f"{where}: unknown item {key!r}; known: {', '.join(DEFAULT_QUERIES)}")
        exprs = (value,) if isinstance(value, str) else value
        if not isinstance(exprs, list | tuple) or not exprs or not all(isinstance(e, str) and e.strip() for e in exprs):
            raise UsageError(f"{where}: {key!r} must be a PromQL string or a list of them")
        if key in GAUGE_KEYS and len(exprs) != 1:
            raise UsageError(f"{where}: {key!r} takes one query, not a list")
        queries[key] = tuple(e.strip() for e in exprs)
    return QuerySet(queries, step)


def range_literal(day: TradingDay) -> str:
    """The PromQL range covering the day: ``86400s``, or ``82800s``/``90000s`` on a DST change."""
    return f"{round(_day_seconds(day))}s"


def _day_seconds(day: TradingDay) -> float:
    # In UTC: subtracting two datetimes of one zone gives wall-clock time, 24 h even on a DST change.
    return (day.end.astimezone(UTC) - day.start.astimezone(UTC)).total_seconds()


def _collect(prom: PrometheusClient, qs: QuerySet, day: TradingDay) -> tuple[Operations, list[str]]:
    warnings: list[str] = []
    last = day.end.astimezone(UTC) - _EXCLUSIVE_END
    rng = range_literal(day)

    def instant(key: str) -> list[tuple[dict[str, str], float]]:
        rows: list[tuple[dict[str, str], float]] = []
        for expr in qs.queries[key]:
            try:
                rows += prom.query(expr.replace("$range", rng), last)
            except HttpStatusError as exc:
                if exc.status not in (400, 422):
                    raise
                warnings.append(_rejected(key, expr, exc))
        return rows

    equity, curve = _equity(prom, qs, day, last, warnings)
    drawdown = _single(instant("drawdown"), "drawdown", warnings)
    failed = _grouped(instant("executions_failed"), GROUP_LABEL["executions_failed"], counts=True)
    ok = round(sum(v for _, v in instant("executions_ok")))
    ai_cost = _grouped(instant("ai_cost"), GROUP_LABEL["ai_cost"], counts=False)
    errors = _grouped(instant("agent_errors"), GROUP_LABEL["agent_errors"], counts=True)
    if equity is None:
        warnings.append(f"Prometheus has no equity samples for {day.date} ({qs.queries['equity'][0]})")
    if drawdown is None:
        warnings.append(f"Prometheus has no drawdown samples for {day.date} ({qs.queries['drawdown'][0]})")
    operations = Operations(
        equity=equity,
        max_drawdown=None if drawdown is None else -max(drawdown, 0.0),
        # Counters count whole events: the fraction left is increase()'s extrapolation to the day's edges.
        executions=Executions(ok=ok, failed=sum(failed.values()), failed_by_reason=failed),
        ai_cost_usd=ai_cost,
        ai_cost_total_usd=sum(ai_cost.values()),
        agent_errors=errors,
        equity_curve=curve,
    )
    return operations, warnings


def _equity(
    prom: PrometheusClient, qs: QuerySet, day: TradingDay, last: datetime, warnings: list[str]
) -> tuple[EquityStats | None, tuple[tuple[datetime, float], ...]]:
    """Equity through the day: a curve at ``step`` (the first point is the open) plus the close at ``last``."""
    expr = qs.queries["equity"][0]
    step = max(qs.step, math.ceil(_day_seconds(day) / _MAX_POINTS))
    try:
        series = prom.query_range(expr, day.start, last, step)
        close = prom.query(expr, last)
    except HttpStatusError as exc:
        if exc.status not in (400, 422):
            raise
        warnings.append(_rejected("equity", expr, exc))
        return None, ()
    if len(series) > 1 or len(close) > 1:
        warnings.append(f"equity query {expr!r} gave {max(len(series), len(close))} series; add an aggregation")
    points = [(datetime.fromtimestamp(t, UTC), v) for t, v in (series[0][1] if series else [])]
    if close:
        points.append((last, close[0][1]))
    if not points:
        return None, ()
    values = [v for _, v in points]
    return EquityStats(start=values[0], end=values[-1], min=min(values), max=max(values)), tuple(points)


def _single(rows: list[tuple[dict[str, str], float]], key: str, warnings: list[str]) -> float | None:
    if len(rows) > 1:
        warnings.append(f"{key} query gave {len(rows)} series; the highest is used")
    return max((v for _, v in rows), default=None)


def _grouped(rows: list[tuple[dict[str, str], float]], label: str, *, counts: bool) -> dict[str, float]:
    """Add the rows up by ``label``; counts are rounded to whole events and zero counts dropped."""
    totals: dict[str, float] = {}
    for labels, value in rows:
        key = labels.get(label) or "unknown"
        totals[key] = totals.get(key, 0.0) + value
    if counts:
        totals = {k: round(v) for k, v in totals.items() if round(v) != 0}
    return dict(sorted(totals.items()))


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    result = data.get("result")
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        raise FetchError("Prometheus answered with a malformed result")
    return result


def _sample(pair: Any) -> tuple[float, float]:
    """Decode a ``[t, "value"]`` pair of the API."""
    try:
        return float(pair[0]), float(pair[1])
    except (TypeError, ValueError, IndexError):
        raise FetchError("Prometheus answered with a malformed sample") from None


def _stamp(ts: datetime) -> str:
    return f"{ts.timestamp():.3f}"


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")


def _parse_step(value: Any, where: str) -> float:
    match = _DURATION.match(str(value).strip())
    if not match:
        raise UsageError(f"{where}: step {value!r} is not a duration like 15s or 1m")
    seconds = float(match[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[match[2]]
    if seconds <= 0:
        raise UsageError(f"{where}: step must be positive")
    return seconds


def _rejected(key: str, expr: str, exc: HttpStatusError) -> str:
    why = f"{exc.status}{exc.detail}"  # detail is "" or ": <Prometheus's error>"
    return f"Prometheus rejected the {key} query {expr!r} ({why}): fix it in REPORT_QUERIES_FILE; item left out"


def _unavailable(url: str, exc: FetchError) -> str:
    url = redact_url(url)  # this line goes into report.json, report.html and the chats: no credentials
    text = str(exc) if url in str(exc) else f"Prometheus at {url}: {exc}"
    return f"{text}; check PROMETHEUS_URL and that Prometheus is up. The Operations section is left out"
