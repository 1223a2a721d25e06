"""The Operations section against a real Prometheus whose TSDB promtool backfilled with one known day.

Tolerance of ``increase()``: Prometheus takes the difference between the first and the last sample inside the
window (adding back counter resets) and extrapolates it to the window's edges, by at most 1.1 average sample
intervals on each side. Our samples are 60 s apart and sit at the window's start and 60 s before its end, so the
day's true increase N comes back as N x 86400 / 86340 (+0.07 %): the AI cost is checked to that factor, and
counts, which the client rounds to whole events, come back exact (N < 700 here).
"""

from __future__ import annotations

import math
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from reports.calendar import TradingDay
from reports.errors import UsageError
from reports.settings import Settings
from reports.sources.prometheus import check, fetch_operations, load_queries, range_literal
from tests.promstack import Server, backfill, free_port, start_prometheus

STEP = 60  # seconds between backfilled samples
DAY = datetime.now(UTC).date() - timedelta(days=2)  # recent, so retention keeps it; wholly in the past
START = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
MINUTES = 1440
PAD = 120  # samples before and after the day, with values that must not leak in
EXTRAPOLATION = 86400 / (86400 - STEP)

SUCCESS = {"BTCUSDT": lambda k: k % 7 == 3, "ETHUSDT": lambda k: k % 11 == 5}
FAILURES = {  # (symbol, reason) -> minutes with a failure; the timeout series restarts from 0 at minute 600
    ("BTCUSDT", "insufficient_margin"): {100, 500, 900, 1300},
    ("ETHUSDT", "insufficient_margin"): {200},
    ("BTCUSDT", "timeout"): {300, 800, 1200},
}
RESET_AT = 600
COSTS = {  # (agent, model) -> (cost of one inference, minute predicate)
    ("trend-momentum-agent", "gemini-2.0-flash"): (0.0125, lambda k: k % 5 == 2),
    ("market-prediction-agent", "gemini-2.0-flash"): (0.004, lambda k: k % 3 == 1),
    ("market-prediction-agent", "gemini-1.5-pro"): (0.09, lambda k: k % 60 == 17),
}
ERRORS = {("financial-sentiment-agent", "timeout"): {50, 1000}, ("financial-sentiment-agent", "parse"): {700}}


def equity(k: int) -> float:
    """Balance at minute k of the day; outside the day extremes that would show if they leaked in."""
    if k < 0:
        return 99_999.0
    if k >= MINUTES:
        return 1.0
    return round(10_000 + 300 * math.sin(2 * math.pi * k / MINUTES) + 50 * math.cos(k / 7), 4)


def drawdown(k: int) -> float:
    if not 0 <= k < MINUTES:
        return 0.9
    return 0.1234 if k == 700 else 0.02 + 0.0001 * (k % 100)


def in_day(k: int) -> bool:
    """Events happen between samples, never in the first or last minute (those edges are extrapolated)."""
    return not 0 <= k < MINUTES or 1 <= k <= MINUTES - 2


def counter_at(j: int, events: set[int] | None = None, pred=None, base: float = 1000.0) -> float:
    """Counter value at sample j: base plus the events in minutes before j (event k sits at k min 30 s)."""
    lo = -PAD
    if events is not None:
        return base + sum(1 for k in events if lo <= k < j)
    return base + sum(1 for k in range(lo, j) if pred(k) and in_day(k))


def openmetrics() -> str:
    lines: list[str] = []
    samples = range(-PAD, MINUTES + PAD)

    def ts(j: int) -> str:
        return f"{START.timestamp() + j * STEP:.0f}"

    lines.append("# TYPE portfolio_balance_usd gauge")
    lines += [f"portfolio_balance_usd {equity(j)} {ts(j)}" for j in samples]
    lines.append("# TYPE portfolio_drawdown_pct gauge")
    lines += [f"portfolio_drawdown_pct {drawdown(j)} {ts(j)}" for j in samples]
    lines.append("# TYPE trade_execution_success counter")
    for symbol, pred in SUCCESS.items():
        labels = f'mode="paper",source="agent",symbol="{symbol}"'
        lines += [f"trade_execution_success_total{{{labels}}} {counter_at(j, pred=pred)} {ts(j)}" for j in samples]
    lines.append("# TYPE trade_execution_failure counter")
    for (symbol, reason), events in FAILURES.items():
        labels = f'reason="{reason}",symbol="{symbol}"'
        for j in samples:
            if reason == "timeout" and j >= RESET_AT:  # the process restarted: the counter starts over
                value = counter_at(j, {k for k in events if k >= RESET_AT}, base=0.0)
            else:
                value = counter_at(j, events, base=7.0)
            lines.append(f"trade_execution_failure_total{{{labels}}} {value} {ts(j)}")
    lines.append("# TYPE agent_inference_cost_usd histogram")
    for (agent, model), (cost, pred) in COSTS.items():
        labels = f'agent_id="{agent}",model="{model}"'
        for j in samples:
            n = counter_at(j, pred=pred, base=500)
            lines.append(f'agent_inference_cost_usd_bucket{{{labels},le="+Inf"}} {n} {ts(j)}')
            lines.append(f"agent_inference_cost_usd_count{{{labels}}} {n} {ts(j)} ")
            lines.append(f"agent_inference_cost_usd_sum{{{labels}}} {round(n * cost, 6)} {ts(j)}")
    lines.append("# TYPE agent_errors counter")
    for (agent, kind), events in ERRORS.items():
        labels = f'agent_id="{agent}",error_type="{kind}"'
        lines += [f"agent_errors_total{{{labels}}} {counter_at(j, events, base=3)} {ts(j)}" for j in samples]
    lines.append("# EOF")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def day_of(d: date) -> TradingDay:
    start = datetime(d.year, d.month, d.day, tzinfo=UTC)
    return TradingDay(date=d, timezone="UTC", start=start, end=start + timedelta(days=1))


def in_day_count(pred) -> int:
    return sum(1 for k in range(MINUTES) if pred(k) and in_day(k))


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TSDB with the backfilled day, to be copied for each Prometheus (a running one locks its dir)."""
    path = tmp_path_factory.mktemp("tsdb") / "blocks"
    backfill(openmetrics(), path)
    return path


@pytest.fixture(scope="module")
def prom(blocks: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp("prom")
    shutil.copytree(blocks, work / "data")
    server = start_prometheus(work / "data", work)
    yield server
    server.stop()


def settings(url: str | None, queries_file: Path | None = None) -> Settings:
    return Settings(prometheus_url=url, queries_file=queries_file)


def test_operations_equal_the_backfilled_day(prom: Server) -> None:
    operations, status, warnings = fetch_operations(settings(prom.url), day_of(DAY))

    assert (status, warnings) == ("ok", [])
    assert operations is not None
    day_values = [equity(k) for k in range(MINUTES)]
    eq = operations.equity
    assert eq is not None
    # Gauges are raw samples: exact. The extremes outside the day (99999 before, 1 at and after the end) stay out.
    assert (eq.start, eq.end, eq.min, eq.max) == (day_values[0], day_values[-1], min(day_values), max(day_values))
    assert operations.max_drawdown == -0.1234
    assert operations.equity_curve[0] == (START, day_values[0])
    assert operations.equity_curve[-1][0] < START + timedelta(days=1)
    assert len(operations.equity_curve) == MINUTES * 4 + 1  # a 15 s grid plus the close

    ok = sum(in_day_count(pred) for pred in SUCCESS.values())
    assert operations.executions.ok == ok == 337
    assert operations.executions.failed_by_reason == {"insufficient_margin": 5, "timeout": 3}  # reset mended
    assert operations.executions.failed == 8
    assert operations.agent_errors == {"financial-sentiment-agent": 3}

    expected_cost: dict[str, float] = {}
    for (agent, _), (cost, pred) in COSTS.items():
        expected_cost[agent] = expected_cost.get(agent, 0.0) + cost * in_day_count(pred)
    assert set(operations.ai_cost_usd) == set(expected_cost)
    for agent, cost in expected_cost.items():
        assert operations.ai_cost_usd[agent] == pytest.approx(cost * EXTRAPOLATION, rel=1e-9)
    assert operations.ai_cost_total_usd == pytest.approx(sum(expected_cost.values()) * EXTRAPOLATION, rel=1e-9)


def test_a_day_without_series_is_no_data_not_an_error(prom: Server) -> None:
    operations, status, warnings = fetch_operations(settings(prom.url), day_of(DAY - timedelta(days=5)))

    assert status == "ok"
    assert operations is not None
    assert operations.equity is None and operations.max_drawdown is None and operations.equity_curve == ()
    assert (operations.executions.ok, operations.executions.failed, operations.executions.failed_by_reason) == (
        0,
        0,
        {},
    )
    assert (operations.ai_cost_usd, operations.ai_cost_total_usd, operations.agent_errors) == ({}, 0, {})
    assert len(warnings) == 2 and "no equity samples" in warnings[0] and "no drawdown samples" in warnings[1]


def test_queries_file_replaces_and_adds(prom: Server, tmp_path: Path) -> None:
    qfile = tmp_path / "queries.yml"
    qfile.write_text(
        "step: 1m\n"
        "queries:\n"
        "  executions_failed:\n"
        '    - sum by (reason) (increase(trade_execution_failure_total{symbol="BTCUSDT"}[$range]))\n'
        '    - sum by (reason) (increase(trade_execution_failure_total{symbol="ETHUSDT"}[$range]))\n'
        "  ai_cost: sum by (agent_id) (increase(no_such_metric_sum[$range]))\n"
        "  agent_errors: sum by (agent_id) (increase(agent_errors_total{error_type='parse'}[$range]))\n"
        "  drawdown: max(max_over_time(portfolio_drawdown_pct[$range] # a typo\n",
        encoding="utf-8",
    )
    operations, status, warnings = fetch_operations(settings(prom.url, qfile), day_of(DAY))

    assert status == "ok" and operations is not None
    assert operations.executions.failed_by_reason == {"insufficient_margin": 5, "timeout": 3}
    assert operations.ai_cost_usd == {} and operations.ai_cost_total_usd == 0
    assert operations.agent_errors == {"financial-sentiment-agent": 1}
    assert len(operations.equity_curve) == MINUTES + 1
    assert operations.max_drawdown is None
    assert any("rejected the drawdown query" in w and "(400: " in w for w in warnings), warnings


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("queries:\n  equity: [a, b]\n", "'equity' takes one query"),
        ("queries:\n  pnl: up\n", "unknown item 'pnl'"),
        ("step: soon\n", "not a duration"),
        ("queries: [\n", "not valid YAML"),
    ],
)
def test_malformed_queries_file_is_a_usage_error(tmp_path: Path, text: str, message: str) -> None:
    qfile = tmp_path / "q.yml"
    qfile.write_text(text, encoding="utf-8")
    with pytest.raises(UsageError, match="REPORT_QUERIES_FILE") as caught:
        load_queries(qfile)
    assert message in str(caught.value)


def test_not_configured_makes_no_request() -> None:
    assert fetch_operations(settings(None), day_of(DAY)) == (None, "not configured", [])


def test_prometheus_stopped_mid_run(blocks: Path, tmp_path: Path) -> None:
    shutil.copytree(blocks, tmp_path / "data")
    server = start_prometheus(tmp_path / "data", tmp_path)
    seen: list[str] = []

    def stop_on_third(request: httpx.Request) -> None:
        seen.append(request.url.path)
        if len(seen) == 3:  # the equity curve and close have been read: now Prometheus goes away
            server.stop()

    try:
        with httpx.Client(timeout=5, event_hooks={"request": [stop_on_third]}) as client:
            operations, status, warnings = fetch_operations(settings(server.url), day_of(DAY), client=client)
    finally:
        server.stop()

    assert server.process.returncode is not None
    assert (operations, status) == (None, "unavailable")
    assert len(seen) == 5  # the third query, tried three times, then the run moved on
    assert len(warnings) == 1 and server.url in warnings[0] and "could not connect" in warnings[0]


def test_slow_prometheus_times_out_as_unavailable() -> None:
    # A real socket that accepts connections and never answers: what a wedged Prometheus looks like.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        held: list[socket.socket] = []
        stop = threading.Event()

        def accept() -> None:
            listener.settimeout(0.1)
            while not stop.is_set():
                try:
                    held.append(listener.accept()[0])
                except TimeoutError:
                    continue

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        try:
            operations, status, warnings = fetch_operations(settings(url), day_of(DAY), timeout=0.3)
        finally:
            stop.set()
            thread.join()
            for conn in held:
                conn.close()

    assert (operations, status) == (None, "unavailable")
    assert "timed out" in warnings[0] and url in warnings[0]


def test_a_url_that_is_not_prometheus_is_unavailable(prom: Server) -> None:
    operations, status, warnings = fetch_operations(settings(prom.url + "/grafana"), day_of(DAY))
    assert (operations, status) == (None, "unavailable")
    assert "404" in warnings[0]


@pytest.mark.parametrize(
    ("zone", "d", "expected"),
    [
        ("UTC", date(2024, 3, 31), "86400s"),
        ("Europe/Berlin", date(2024, 3, 31), "82800s"),
        ("Europe/Berlin", date(2024, 10, 27), "90000s"),
    ],
)
def test_range_covers_dst_days(zone: str, d: date, expected: str) -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    start = datetime(d.year, d.month, d.day, tzinfo=tz)
    nxt = d + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
    assert range_literal(TradingDay(d, zone, start, end)) == expected


def test_check_lines(prom: Server) -> None:
    end = START + timedelta(days=1)
    assert check(settings(prom.url), at=end) == (True, f"Prometheus at {prom.url}: ok, all 6 series have data")
    ok, line = check(settings(prom.url), at=end + timedelta(days=3))
    assert ok and "no samples in the last day for portfolio_balance_usd, portfolio_drawdown_pct" in line
    ok, line = check(settings(f"http://127.0.0.1:{free_port()}"), timeout=1)
    assert not ok and "could not connect" in line
    assert check(settings(None))[0]
