"""The trading-service client against a fake service over a real HTTP socket (CONTRACT 1.1)."""

from __future__ import annotations

import math
import socket
from datetime import UTC, datetime, timedelta

import pytest
from factories import make_row
from fake_trading import FakeTradingService, running_service

from reports.errors import FetchError
from reports.sources.trading_service import TradingService

END = datetime(2025, 11, 22, tzinfo=UTC)


def client(url: str, **kw) -> TradingService:
    kw.setdefault("backoff", 0.01)
    return TradingService(url, **kw)


def rows_with_ties(n_times: int, per_time: int) -> list[dict]:
    rows = []
    for t in range(n_times):
        ts = datetime(2025, 11, 21, 1, tzinfo=UTC) + timedelta(minutes=t)
        rows.extend(make_row(timestamp=ts) for _ in range(per_time))
    return rows


@pytest.mark.parametrize(("cap", "limit"), [(7, 50), (10, 10), (1000, 5000), (25, 1000)])
def test_pages_backwards_through_ties_without_losing_or_doubling(cap, limit):
    rows = rows_with_ties(n_times=12, per_time=5)  # 60 fills, ties cross every page boundary
    fake = FakeTradingService(trades=rows, page_cap=cap)
    with running_service(fake), client(fake.url, page_limit=limit) as service:
        result = service.fills(end=END)
    ids = result.fills.frame["id"].tolist()
    assert sorted(ids) == sorted(r["id"] for r in rows)
    assert len(ids) == len(set(ids))
    assert result.warnings == ()
    # replay order: time, then id
    frame = result.fills.frame
    assert list(zip(frame["ts"], frame["id"], strict=True)) == sorted(zip(frame["ts"], frame["id"], strict=True))
    # every page asked with the same start and an inclusive end that moves back
    ends = [q["end_date"][0] for path, q in fake.requests if path == "/api/trades/history"]
    assert ends[0] == END.isoformat()
    limits = [int(q["limit"][0]) for path, q in fake.requests if path == "/api/trades/history"]
    # every page asks for the client's limit; the last request is the probe that proves nothing is older
    assert set(limits[:-1]) == {limit} and limits[-1] == 1


def test_more_ties_than_a_page_is_a_clear_error_not_a_loop():
    older = rows_with_ties(n_times=3, per_time=2)
    crowd = [make_row(timestamp=datetime(2025, 11, 21, 9, tzinfo=UTC)) for _ in range(12)]
    fake = FakeTradingService(trades=older + crowd, page_cap=5)
    with running_service(fake), client(fake.url) as service, pytest.raises(FetchError, match="page limit"):
        service.fills(end=END)
    assert len(fake.requests) <= 3


def test_end_instant_excluded_naive_timestamps_are_utc_and_start_bound():
    rows = [
        make_row(timestamp=END),  # at the end instant: next day
        make_row(timestamp=datetime(2025, 11, 21, 23, 59, 59, 999999, tzinfo=UTC)),
    ]
    naive = make_row(timestamp=datetime(2025, 11, 21, 5, tzinfo=UTC))
    naive["timestamp"] = "2025-11-21T05:00:00"
    rows.append(naive)
    fake = FakeTradingService(trades=rows)
    with running_service(fake), client(fake.url) as service:
        result = service.fills(end=END)
    assert sorted(result.fills.frame["id"]) == sorted([rows[1]["id"], naive["id"]])
    first = result.fills.frame.iloc[0]
    assert first["ts"] == int(datetime(2025, 11, 21, 5, tzinfo=UTC).timestamp() * 1e9)


def test_malformed_rows_are_dropped_and_counted():
    good = [make_row(minutes=k) for k in range(3)]
    dup = dict(good[0], price=123.0)
    bad_side = make_row(minutes=10)
    bad_side["side"] = "HOLD"
    nan_price = make_row(minutes=11)
    nan_price["price"] = math.nan
    zero_qty = make_row(minutes=12, quantity=0.0)
    null_fee = make_row(minutes=13, raw_fee=None, raw_agent=None)
    null_fee["notional"] = None
    zero_notional = make_row(minutes=14)
    zero_notional["notional"] = 0.0
    fake = FakeTradingService(trades=[*good, dup, bad_side, nan_price, zero_qty, null_fee, zero_notional])
    with running_service(fake), client(fake.url) as service:
        result = service.fills(end=END)
    frame = result.fills.frame
    assert len(frame) == 5
    assert result.warnings == (
        "4 fills dropped: 1 bad price, 1 bad quantity, 1 duplicate id, 1 unknown side",
        "1 fill with an unusable notional: price × quantity used for the volume",
    )
    kept = frame[frame["id"] == zero_notional["id"]].iloc[0]
    assert kept["notional"] == pytest.approx(kept["price"] * kept["quantity"])
    row = frame[frame["id"] == null_fee["id"]].iloc[0]
    assert row["fee"] == 0.0 and row["agent_id"] == "unattributed"
    assert row["notional"] == pytest.approx(row["price"] * row["quantity"])


def test_500s_are_retried_then_succeed():
    fake = FakeTradingService(trades=[make_row()])
    fake.fail("/api/trades/history", 500, 503)
    with running_service(fake), client(fake.url) as service:
        assert len(service.fills(end=END).fills) == 1


def test_persistent_500_is_a_clear_error():
    fake = FakeTradingService(trades=[make_row()])
    fake.fail("/api/trades/history", 500, 500, 500, 500)
    with running_service(fake), client(fake.url, attempts=4) as service, pytest.raises(FetchError) as err:
        service.fills(end=END)
    assert "answered 500" in str(err.value) and fake.url in str(err.value) and "4 tries" in str(err.value)


def test_refused_connection_names_the_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with client(url, attempts=2) as service, pytest.raises(FetchError, match="could not connect") as err:
        service.fills(end=END)
    assert url in str(err.value)


def test_dashboard_gives_names_and_emoji_and_is_optional():
    fake = FakeTradingService(dashboard={"agents": [{"id": "vpin-hft", "name": "VPIN", "emoji": "⚡"}, {"x": 1}]})
    with running_service(fake), client(fake.url) as service:
        agents = service.agents()
        assert agents["vpin-hft"].name == "VPIN" and agents["vpin-hft"].emoji == "⚡"
        fake.dashboard = None  # answers 500
        assert service.agents() == {}


def test_one_try_is_said_in_the_singular():
    fake = FakeTradingService(trades=[make_row()])
    fake.fail("/api/trades/history", 503)
    with running_service(fake), client(fake.url, attempts=1) as service, pytest.raises(FetchError) as err:
        service.fills(end=END)
    assert str(err.value).endswith("answered 503: injected failure after 1 try"), str(err.value)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    with client(dead, attempts=3) as service, pytest.raises(FetchError) as err:
        service.fills(end=END)
    assert str(err.value).endswith("could not connect (ConnectError) after 3 tries"), str(err.value)


def test_page_before_is_one_page_of_the_newest_fills_before_the_instant():
    rows = [make_row(timestamp=END - timedelta(minutes=k)) for k in range(6)]  # k=0 sits at END: not before it
    bad = make_row(timestamp=END - timedelta(minutes=10))
    bad["side"] = "HOLD"
    fake = FakeTradingService(trades=[*rows, bad])
    with running_service(fake), client(fake.url) as service:
        page = service.page_before(END, limit=3)
        assert page.rows == 3 and page.newest == END - timedelta(minutes=1) and page.warnings == ()
        assert sorted(page.fills.frame["id"]) == sorted(r["id"] for r in rows[1:4])
        whole = service.page_before(END, start=END - timedelta(minutes=10))
        assert whole.rows == 6 and len(whole.fills) == 5
        assert whole.warnings == ("1 fill dropped: 1 unknown side",)
        assert service.page_before(END - timedelta(minutes=20)).newest is None
        assert service.newest_before(END) == END - timedelta(minutes=1)
