"""The demo as a data source: its embedded trading service and Prometheus answer like the real ones, and
``report --demo`` (the production path: client, store, day-by-day replay, Prometheus client) gives the figures of
one whole-history replay of the same fills."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import httpx
import pytest

from reports.calendar import trading_day
from reports.numbers.compute import RunInputs, build_report
from reports.operations.pipeline import build
from reports.presentation import report_json
from reports.settings import CapitalPolicy, Settings
from reports.sources.demo import demo_fills
from reports.sources.demo_ops import demo_operations
from reports.sources.demo_service import TRADING_URL, DemoPrometheus, DemoTradingService
from reports.sources.prometheus import fetch_operations
from reports.sources.trading_service import TradingService

DAY = trading_day(date(2026, 11, 25), "UTC")


@pytest.fixture(scope="module")
def http() -> httpx.Client:
    with httpx.Client(transport=DemoTradingService(DAY), base_url=TRADING_URL) as client:
        yield client


def test_history_answers_like_the_real_service(http: httpx.Client) -> None:
    page = http.get("/api/trades/history", params={"end_date": "2026-11-25T12:00:00+00:00", "limit": 7}).json()
    stamps = [datetime.fromisoformat(t["timestamp"]) for t in page["trades"]]
    assert page["count"] == len(page["trades"]) == 7
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert all(s <= datetime(2026, 11, 25, 12, tzinfo=UTC) for s in stamps)
    assert all(t["timestamp"].endswith("+00:00") for t in page["trades"])
    # Both bounds inclusive: asking up to the newest row's own instant gives it again.
    again = http.get("/api/trades/history", params={"end_date": page["trades"][0]["timestamp"], "limit": 1}).json()
    assert again["trades"][0]["id"] == page["trades"][0]["id"]
    assert http.get("/api/trades/history", params={"limit": 0}).json() == {"trades": [], "count": 0}
    assert http.get("/api/trades/history", params={"end_date": "yesterday"}).status_code == 500
    bad = http.get("/api/trades/history", params={"limit": "ten"})
    assert bad.status_code == 422 and "detail" in bad.json()
    assert http.get("/healthz").json()["running"] is True


def test_the_client_reads_every_demo_fill_through_the_embedded_service() -> None:
    expected = demo_fills(DAY).fills.frame
    with TradingService(TRADING_URL, transport=DemoTradingService(DAY), page_limit=500) as service:
        got = service.fills(end=DAY.end).fills.frame
        names = service.agents()
    assert len(got) == len(expected) > 5000
    assert got["id"].tolist() == expected["id"].tolist()
    for column in ("ts", "price", "quantity", "notional", "fee", "side"):
        assert got[column].tolist() == expected[column].tolist(), column
    assert got["agent_id"].tolist() == expected["agent_id"].tolist()
    assert names["vpin-hft"].name == "VPIN HFT"


def test_prometheus_read_back_through_the_client_gives_the_demo_operations() -> None:
    fetched = demo_fills(DAY)
    report = build_report(fetched.fills, DAY, CapitalPolicy(), RunInputs(DAY.end, fetched.agents))
    truth = demo_operations(report)
    settings = Settings(prometheus_url="http://prometheus.demo:9090")
    with httpx.Client(transport=DemoPrometheus(DAY, truth)) as client:
        read, status, warnings = fetch_operations(settings, DAY, client=client)
    assert status == "ok" and warnings == []
    assert read is not None
    assert read.equity == truth.equity
    assert read.max_drawdown == truth.max_drawdown
    assert read.executions == truth.executions
    assert read.ai_cost_usd == truth.ai_cost_usd
    assert read.ai_cost_total_usd == pytest.approx(truth.ai_cost_total_usd, abs=1e-12)
    assert read.agent_errors == truth.agent_errors


@pytest.mark.parametrize("when", [date(2026, 11, 25), date(2026, 3, 9)])
def test_the_demo_on_the_production_path_equals_one_whole_history_replay(when: date, tmp_path) -> None:
    day = trading_day(when, "UTC")
    settings = Settings(state_dir=tmp_path)
    made = datetime(2026, 12, 1, tzinfo=UTC)
    got = build(settings, day, demo=True, clock=lambda: made)
    fetched = demo_fills(day)
    first = trading_day(min(p.date for p in got.daily), "UTC").start
    with TradingService(TRADING_URL, transport=DemoTradingService(day)) as service:
        funding = {s: service.funding(s, first, day.end)[0] for s in sorted(set(fetched.fills.frame["symbol"]))}
    assert sum(len(e.t_ns) for e in funding.values()) > 100
    reference = build_report(fetched.fills, day, settings.capital, RunInputs(made, fetched.agents), funding)
    reference = dataclasses.replace(
        reference, fills_read=len(fetched.fills), operations=got.operations, sources=got.sources
    )
    assert report_json.dumps(got) == report_json.dumps(reference)
    assert not list(tmp_path.iterdir())  # the demo's store lives in a temporary folder, not in the state
