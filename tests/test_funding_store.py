"""Funding through the store and the run: a day closed while the events could not be read, completed by a later
run; periods are the sum of their days; a day of America/New_York whose events straddle its midnight."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from factories import make_fill, store_settings
from fake_trading import FakeTradingService, running_service
from history_data import funding_rows, history_rows
from store_reference import NOW, figures, reference

from reports.calendar import trading_day
from reports.closed_days import EngineState
from reports.models import Fills, FundingEvents
from reports.numbers.closing import close_day
from reports.operations.pipeline import build
from reports.settings import Settings
from reports.sources.store import store_path


def run(settings: Settings, d: date, period: str = "day"):
    return build(settings, trading_day(d, settings.timezone), demo=False, clock=lambda: NOW, period=period)


@pytest.fixture
def service():
    rows = history_rows(date(2025, 5, 1), date(2025, 6, 9))
    funding = funding_rows(date(2025, 4, 30), date(2025, 6, 10))
    with running_service(FakeTradingService(trades=rows, page_cap=200, funding=funding)) as fake:
        yield fake


def stored_funding(settings: Settings) -> dict[str, bool]:
    path = store_path(settings.state_dir, settings.trading_service_url, settings.timezone)
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT date, data FROM days ORDER BY date").fetchall()
    return {d: '"funding_pnl":null' not in data for d, data in rows}


def test_days_closed_without_funding_say_so_and_a_later_run_completes_them(service, tmp_path):
    settings = store_settings(service.url, tmp_path / "state")
    run(settings, date(2025, 5, 25))  # the history up to 05-25 with its funding

    service.funding_status = 503  # the service loses its exchange connection for three days
    for d in (date(2025, 5, 26), date(2025, 5, 27), date(2025, 5, 28)):
        got = run(settings, d)
        assert got.totals.funding_pnl is None and got.sources.funding == "unavailable"
        assert all(a.totals.funding_pnl is None for a in got.agents)
        assert all(s.funding_pnl is None for s in got.symbols)
        # Never a guessed 0 in the figures: the day's P&L is the one without funding, and it says so.
        expected = (
            got.totals.net_realized_pnl
            + got.totals.unrealized_pnl
            - (got.totals.unrealized_pnl - got.totals.unrealized_change)
        )
        assert got.totals.total_pnl == pytest.approx(expected, abs=1e-9)
        missing = [w for w in got.warnings if w.startswith("funding is not included")]
        assert len(missing) == 1 and "Exchange client not available" in missing[0], got.warnings
        assert f"2025-05-26..{d}" in missing[0] or (d == date(2025, 5, 26) and "2025-05-26:" in missing[0])
    flags = stored_funding(settings)
    assert [d for d, known in flags.items() if not known] == ["2025-05-26", "2025-05-27", "2025-05-28"]

    service.funding_status = 200
    got = run(settings, date(2025, 5, 29))
    assert got.sources.funding == "ok" and got.totals.funding_pnl is not None
    assert any("funding of 2025-05-26..2025-05-28 was read now" in w for w in got.warnings), got.warnings
    assert all(stored_funding(settings).values())
    # Completed days give the numbers of a cold run that had the funding all along.
    assert figures(got) == figures(reference(settings, date(2025, 5, 29)))
    again = run(settings, date(2025, 5, 27))
    assert figures(again) == figures(reference(settings, date(2025, 5, 27)))


def test_a_first_run_without_funding_marks_every_day_and_the_period(service, tmp_path):
    service.funding_status = 404  # an older service without the endpoint
    settings = store_settings(service.url, tmp_path / "state")
    month = run(settings, date(2025, 5, 31), period="month")
    assert month.totals.funding_pnl is None and month.sources.funding == "unavailable"
    assert any("funding is not included in the P&L of 2025-05-01..2025-05-31" in w for w in month.warnings)


def test_a_periods_funding_is_the_sum_of_its_days(service, tmp_path):
    settings = store_settings(service.url, tmp_path / "state")
    days = [run(settings, date(2025, 5, 1) + timedelta(days=k)) for k in range(31)]
    month = run(settings, date(2025, 5, 31), period="month")
    assert month.totals.funding_pnl == pytest.approx(sum(d.totals.funding_pnl for d in days), abs=1e-9)
    assert month.totals.funding_pnl != 0.0
    for agent in month.agents:
        own = [a.totals.funding_pnl for d in days for a in d.agents if a.agent_id == agent.agent_id]
        assert agent.totals.funding_pnl == pytest.approx(sum(own), abs=1e-9)
    by_symbol = {s.symbol: s.funding_pnl for s in month.symbols}
    for symbol, value in by_symbol.items():
        own = [s.funding_pnl for d in days for s in d.symbols if s.symbol == symbol]
        assert value == pytest.approx(sum(own), abs=1e-9)
    assert sum(by_symbol.values()) == pytest.approx(month.totals.funding_pnl, abs=1e-9)
    assert month.totals.total_pnl == pytest.approx(sum(d.totals.total_pnl for d in days), abs=1e-9)


def test_a_new_york_day_takes_the_events_of_its_own_hours():
    # 2025-03-03 in New York is 05:00 UTC on the 3rd to 05:00 UTC on the 4th: of the events at 00:00, 08:00 and
    # 16:00 UTC, 08:00 and 16:00 of the 3rd and 00:00 of the 4th are in it; 00:00 of the 3rd belongs to the 2nd.
    day = trading_day(date(2025, 3, 3), "America/New_York")
    assert day.start == datetime(2025, 3, 3, 5, tzinfo=UTC)
    start = EngineState(positions=(("a", "BTCUSDT", 2.0, 100.0),), marks=(("BTCUSDT", 100.0),))
    at = [datetime(2025, 3, 3, h, tzinfo=UTC) for h in (0, 8, 16)] + [datetime(2025, 3, 4, 0, tzinfo=UTC)]
    events = FundingEvents(
        "BTCUSDT",
        np.array([int(t.timestamp()) * 1_000_000_000 for t in at]),
        np.array([0.001, 0.001, -0.002, 0.0005]),
        np.array([100.0, 100.0, 100.0, 100.0]),
    )
    # Sells 2 at 20:00 UTC (15:00 in New York): flat for the midnight event.
    fills = Fills.from_records(
        [make_fill(agent_id="a", side="SELL", quantity=2.0, timestamp=datetime(2025, 3, 3, 20, tzinfo=UTC))]
    )
    rows, symbols, _ = close_day(fills, day, start, ["a"], {"BTCUSDT": events})
    # 08:00: long 2 pays 2×100×0.001 = 0.2; 16:00: receives 2×100×0.002 = 0.4; 00:00 (flat): nothing.
    assert rows[0].funding_pnl == pytest.approx(-0.2 + 0.4, abs=1e-12)
    assert symbols[0].funding_pnl == pytest.approx(0.2, abs=1e-12)
    unknown, unknown_symbols, _ = close_day(fills, day, start, ["a"], None)
    assert unknown[0].funding_pnl is None and unknown_symbols[0].funding_pnl is None


def test_while_funding_stays_unavailable_a_next_day_run_does_not_read_the_waiting_days_again(service, tmp_path):
    service.funding_status = 503
    settings = store_settings(service.url, tmp_path / "state")
    first = run(settings, date(2025, 5, 20))
    assert first.sources.funding == "unavailable"
    history = 20 * 24 * 3  # every fill of the 20 days, read once by the first run
    assert first.fills_read >= history
    nxt = run(settings, date(2025, 5, 21))
    # The report day and the hour before it (3 fills an hour), not the 20 days waiting for their funding.
    assert nxt.fills_read <= 24 * 3 + 3, nxt.fills_read
    assert any("2025-05-01..2025-05-21" in w for w in nxt.warnings), nxt.warnings
