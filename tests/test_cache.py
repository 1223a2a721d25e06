"""The cache of closed days: same numbers as a cold run, upstream changes detected, rebuild, corruption."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from factories import make_row
from fake_trading import FakeTradingService, running_service

from reports.numbers.compute import trading_day
from reports.operations.pipeline import build
from reports.presentation import report_json
from reports.settings import Settings
from reports.sources import cache

FIRST = date(2025, 11, 1)
NOW = datetime(2025, 12, 1, tzinfo=UTC)


def history(days: int = 14, per_day: int = 25) -> list[dict]:
    rng = np.random.default_rng(7)
    rows = []
    for d in range(days):
        for k in range(per_day):
            ts = datetime.combine(FIRST + timedelta(days=d), datetime.min.time(), UTC) + timedelta(
                seconds=int(rng.integers(0, 86_400))
            )
            rows.append(
                make_row(
                    timestamp=ts,
                    agent_id=["a", "b", "vpin-hft"][k % 3],
                    symbol=["BTCUSDT", "ETHUSDT"][k % 2],
                    side="BUY" if rng.random() < 0.5 else "SELL",
                    price=float(100 + rng.normal(0, 3)),
                    quantity=float(rng.integers(1, 5)),
                    fee=0.01,
                )
            )
    return rows


def numbers(report) -> dict:
    doc = report_json.to_dict(report)
    doc.pop("generated_at")
    return doc


def settings_for(url: str, state) -> Settings:
    return Settings(trading_service_url=url, state_dir=state)


def first_history_start(fake: FakeTradingService) -> str:
    return next(q["start_date"][0] for path, q in fake.requests if path == "/api/trades/history")


def test_cached_runs_equal_cold_runs_over_a_week(tmp_path):
    fake = FakeTradingService(trades=history(), page_cap=40)
    with running_service(fake):
        warm = settings_for(fake.url, tmp_path / "warm")
        for offset in range(7, 14):
            day = trading_day(FIRST + timedelta(days=offset), "UTC")
            fake.requests.clear()
            cached = build(warm, day, demo=False, clock=lambda: NOW)
            if offset > 7:  # from the second day on, only the overlap hour and the new day are read
                assert first_history_start(fake) == (day.start - cache.OVERLAP).isoformat()
            cold = build(settings_for(fake.url, tmp_path / f"cold{offset}"), day, demo=False, clock=lambda: NOW)
            assert numbers(cached) == numbers(cold)
            assert cached.fills_read == cold.fills_read
            assert not any("cache" in w for w in cached.warnings)


@pytest.mark.parametrize("change", ["corrected price", "late fill"])
def test_changed_upstream_fills_in_the_overlap_are_detected_and_rebuilt(tmp_path, change):
    rows = history()
    last_hour = make_row(timestamp=datetime(2025, 11, 11, 23, 30, tzinfo=UTC), agent_id="a", price=101.0)
    fake = FakeTradingService(trades=[*rows, last_hour], page_cap=40)
    with running_service(fake):
        s = settings_for(fake.url, tmp_path)
        build(s, trading_day(FIRST + timedelta(days=10), "UTC"), demo=False, clock=lambda: NOW)
        if change == "corrected price":
            last_hour["price"] = 99.0
        else:
            fake.trades.append(make_row(timestamp=datetime(2025, 11, 11, 23, 59, 59, tzinfo=UTC), agent_id="b"))
        day = trading_day(FIRST + timedelta(days=11), "UTC")
        again = build(s, day, demo=False, clock=lambda: NOW)
        cold = build(settings_for(fake.url, tmp_path / "cold"), day, demo=False, clock=lambda: NOW)
    assert any("differ from the cached copy" in w for w in again.warnings)
    assert numbers(dataclasses.replace(again, warnings=())) == numbers(cold)


def test_rebuild_ignores_the_cache(tmp_path):
    fake = FakeTradingService(trades=history(), page_cap=40)
    with running_service(fake):
        s = settings_for(fake.url, tmp_path)
        build(s, trading_day(FIRST + timedelta(days=9), "UTC"), demo=False, clock=lambda: NOW)
        fake.requests.clear()
        build(s, trading_day(FIRST + timedelta(days=10), "UTC"), demo=False, rebuild=True, clock=lambda: NOW)
        assert first_history_start(fake).startswith("1970-01-01")


def test_corrupt_cache_is_rebuilt_with_a_warning(tmp_path):
    fake = FakeTradingService(trades=history(), page_cap=40)
    with running_service(fake):
        s = settings_for(fake.url, tmp_path)
        day = trading_day(FIRST + timedelta(days=9), "UTC")
        first = build(s, day, demo=False, clock=lambda: NOW)
        path = cache.cache_path(tmp_path, fake.url)
        path.write_bytes(b"not a zip file")
        second = build(s, day, demo=False, clock=lambda: NOW)
        assert any("cannot be read" in w for w in second.warnings)
        assert numbers(dataclasses.replace(second, warnings=())) == numbers(first)
        third = build(s, day, demo=False, clock=lambda: NOW)  # the cache was written again
        assert not any("cache" in w for w in third.warnings)


def test_round_trip_keeps_every_column(tmp_path):
    fake = FakeTradingService(trades=history(days=3), page_cap=1000)
    with running_service(fake):
        s = settings_for(fake.url, tmp_path)
        build(s, trading_day(FIRST + timedelta(days=2), "UTC"), demo=False, clock=lambda: NOW)
    loaded = cache.load(cache.cache_path(tmp_path, fake.url))
    assert loaded is not None and len(loaded.fills) == 75
    assert loaded.until == trading_day(FIRST + timedelta(days=2), "UTC").end
    with pytest.raises(ValueError):
        bad = tmp_path / "bad.npz"
        np.savez(bad, version=np.int64(99))
        cache.load(bad)


def test_a_cached_id_coming_back_later_is_settled_by_a_full_read(tmp_path):
    rows = history()
    fake = FakeTradingService(trades=rows, page_cap=40)
    with running_service(fake):
        s = settings_for(fake.url, tmp_path)
        build(s, trading_day(FIRST + timedelta(days=9), "UTC"), demo=False, clock=lambda: NOW)
        reused = dict(rows[0], timestamp=datetime(2025, 11, 11, 12, tzinfo=UTC).isoformat(), price=150.0)
        fake.trades.append(reused)  # the id of a fill of the first day, again on day 11 with other content
        day = trading_day(FIRST + timedelta(days=10), "UTC")
        again = build(s, day, demo=False, clock=lambda: NOW)
        cold = build(settings_for(fake.url, tmp_path / "cold"), day, demo=False, clock=lambda: NOW)
    assert any("differ from the cached copy" in w for w in again.warnings)
    assert any("1 duplicate id" in w for w in cold.warnings)
    assert numbers(again)["totals"] == numbers(cold)["totals"]
    assert again.fills_read == cold.fills_read
