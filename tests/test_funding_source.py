"""Reading funding events from the trading service over a real socket (CONTRACT 1.1, funding-rate)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fake_trading import FakeTradingService, running_service

from reports.sources.funding import FundingUnavailable
from reports.sources.trading_service import TradingService

START = datetime(2025, 1, 1, tzinfo=UTC)
HOUR_MS = 3_600_000


def event(symbol: str, t_ms: int, rate: str = "0.00010000", mark: str = "100.5") -> dict[str, object]:
    return {"symbol": symbol, "fundingTime": t_ms, "fundingRate": rate, "markPrice": mark}


def start_ms() -> int:
    return int(START.timestamp() * 1000)


def test_pages_forward_over_more_than_a_thousand_events_and_keeps_the_half_open_span():
    # 2,500 hourly events: three pages of the *first* 1000 from start_time; the span's end is excluded.
    fake = FakeTradingService(funding=[event("BTCUSDT", start_ms() + k * HOUR_MS) for k in range(2500)])
    with running_service(fake), TradingService(fake.url) as service:
        got, warnings = service.funding("BTCUSDT", START, START + timedelta(hours=2400))
    assert warnings == []
    assert len(got.t_ns) == 2400
    assert got.t_ns[0] == start_ms() * 1_000_000 and got.t_ns[-1] == (start_ms() + 2399 * HOUR_MS) * 1_000_000
    assert (got.rate == 0.0001).all() and (got.mark == 100.5).all()
    starts = [int(r["start_time"]) for r in fake.funding_requests]
    assert starts == [
        start_ms(),
        start_ms() + 999 * HOUR_MS + 1,
        start_ms() + 1999 * HOUR_MS + 1,
    ]  # after the last seen
    assert all(r["limit"] == "1000" and r["symbol"] == "BTCUSDT" for r in fake.funding_requests)


def test_times_come_from_the_rows_not_from_a_rule():
    irregular = [start_ms() + h * HOUR_MS for h in (0, 4, 5, 13, 21)]
    fake = FakeTradingService(funding=[event("SOLUSDT", t, rate="-0.0003") for t in irregular])
    with running_service(fake), TradingService(fake.url) as service:
        got, _ = service.funding("SOLUSDT", START, START + timedelta(days=1))
    assert (got.t_ns // 1_000_000).tolist() == irregular
    assert (got.rate == -0.0003).all()


@pytest.mark.parametrize(
    ("status", "said"), [(503, "Exchange client not available"), (404, "404"), (500, "exchange error")]
)
def test_a_service_that_cannot_give_funding_says_unavailable(status: int, said: str):
    fake = FakeTradingService(funding_status=status)
    with (
        running_service(fake),
        TradingService(fake.url, backoff=0.01) as service,
        pytest.raises(FundingUnavailable, match=said),
    ):
        service.funding("BTCUSDT", START, START + timedelta(days=1))


def test_an_event_without_a_mark_price_makes_the_symbol_unavailable_rather_than_understated():
    fake = FakeTradingService(funding=[event("BTCUSDT", start_ms()), event("BTCUSDT", start_ms() + HOUR_MS, mark="")])
    with (
        running_service(fake),
        TradingService(fake.url) as service,
        pytest.raises(FundingUnavailable, match="without a usable rate or mark price"),
    ):
        service.funding("BTCUSDT", START, START + timedelta(days=1))
