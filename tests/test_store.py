"""The store of closed days: runs from checkpoints equal one replay of the whole history, to the last bit.

Against the fake trading service over a real socket; the reference is the whole history read in one go
and replayed from its first fill (``build_report``), as the report did before the store existed.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from factories import store_settings
from fake_trading import FakeTradingService, running_service
from history_data import funding_rows, history_rows
from store_reference import NOW, figures, reference, stored_dates

from reports.calendar import trading_day
from reports.models import Report
from reports.operations.history import DataLossError
from reports.operations.pipeline import build
from reports.operations.verify import verify
from reports.settings import Settings
from reports.sources.store import store_path

BACKENDS = ["sqlite", "postgresql"]
"""Every test runs on both back ends of the store (tests/pgstack.py's real PostgreSQL), but those of the SQLite file."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """``store_settings`` for the back end: the SQLite file in the state folder, or the state database (a fresh role
    owning only its own schema)."""
    if request.param == "sqlite":
        return store_settings
    url = request.getfixturevalue("state_url")

    def in_database(service: str, state: Path, timezone: str = "UTC") -> Settings:
        return dataclasses.replace(store_settings(service, state, timezone), state_url=url)

    return in_database


def _sql(settings: Settings, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run ``query`` (written for the SQLite store's ``days``) on the settings' store, whichever back end it is."""
    if settings.state_url is None:
        with sqlite3.connect(store_path(settings.state_dir, settings.trading_service_url, settings.timezone)) as db:
            return db.execute(query, params).fetchall()
    import psycopg

    with psycopg.connect(settings.state_url, autocommit=True) as db:
        cur = db.execute(query.replace(" days", " report_days").replace("?", "%s"), params or None)
        return [tuple(str(v) for v in row) for row in cur.fetchall()] if cur.description else []


def run(settings: Settings, d: date, **kw) -> Report:
    return build(settings, trading_day(d, settings.timezone), demo=False, clock=lambda: NOW, **kw)


SPANS = [
    ("UTC", date(2025, 3, 1)),
    ("America/New_York", date(2025, 2, 25)),  # spring forward on 2025-03-09: a 23-hour day
    ("America/New_York", date(2025, 10, 20)),  # fall back on 2025-11-02: a 25-hour day
    ("Asia/Kolkata", date(2025, 3, 1)),
]
SPANS_SQLITE = [(z, d, "sqlite") for z, d in SPANS]
SPANS_PG = ("America/New_York", date(2025, 2, 25), "postgresql")  # one span: the same code reads both back ends


@pytest.mark.parametrize(
    ("timezone", "first", "backend"),
    [*SPANS_SQLITE, SPANS_PG],
    ids=[f"{z}-{d}-{b}" for z, d, b in [*SPANS_SQLITE, SPANS_PG]],
    indirect=["backend"],
)
def test_thirty_checkpointed_days_equal_the_cold_replay(tmp_path, timezone, first, backend):
    rows = history_rows(first - timedelta(days=12), first + timedelta(days=31))
    funding = funding_rows(first - timedelta(days=13), first + timedelta(days=32))
    with running_service(FakeTradingService(trades=rows, page_cap=100, funding=funding)) as fake:
        kept = backend(fake.url, tmp_path / "kept", timezone)
        for k in range(30):
            d = first + timedelta(days=k)
            got = run(kept, d)
            assert figures(got) == figures(reference(kept, d)), d
            assert got.warnings == ()
            # The next-day run reads the report day and the hour before it, not the history.
            if k:
                assert got.fills_read < 4 * 26 * 2, d
        assert stored_dates(kept)[-1] == first + timedelta(days=29)
        cold = backend(fake.url, tmp_path / "cold", timezone)
        last = first + timedelta(days=29)
        assert figures(run(cold, last)) == figures(reference(cold, last))
        assert stored_dates(cold) == stored_dates(kept)[: len(stored_dates(cold))]


@pytest.fixture
def stocked(tmp_path, backend):
    """A service with 40 days of fills and a store holding the first 30 of them."""
    rows = history_rows(date(2025, 5, 1), date(2025, 6, 9))
    funding = funding_rows(date(2025, 4, 30), date(2025, 6, 10))
    with running_service(FakeTradingService(trades=rows, page_cap=60, funding=funding)) as fake:
        settings = backend(fake.url, tmp_path / "state")
        run(settings, date(2025, 5, 31))
        assert stored_dates(settings) == [date(2025, 5, 1) + timedelta(days=k) for k in range(31)]
        yield fake, settings


@pytest.mark.parametrize("damage", ["garbage", "not an object", "deleted"])
def test_a_damaged_or_missing_day_is_computed_again_with_a_warning(stocked, damage):
    _, settings = stocked
    if damage == "deleted":
        _sql(settings, "DELETE FROM days WHERE date = '2025-05-20'")
    else:
        data = "\x01\xff garbage" if damage == "garbage" else "[]"  # PostgreSQL's text takes no NUL
        _sql(settings, "UPDATE days SET data = ? WHERE date = '2025-05-20'", data)
    got = run(settings, date(2025, 6, 2))
    assert figures(got) == figures(reference(settings, date(2025, 6, 2)))
    assert any("2025-05-20" in w and "computed again" in w for w in got.warnings), got.warnings
    assert stored_dates(settings)[-1] == date(2025, 6, 2) and len(stored_dates(settings)) == 33


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a file of the SQLite store
def test_an_unreadable_store_file_is_set_aside_and_rebuilt(stocked):
    _, settings = stocked
    path = store_path(settings.state_dir, settings.trading_service_url, settings.timezone)
    path.write_bytes(b"this is not a database" * 100)
    got = run(settings, date(2025, 6, 1))
    assert figures(got) == figures(reference(settings, date(2025, 6, 1)))
    assert any("set aside" in w for w in got.warnings)
    assert path.with_name(path.name + ".unusable").exists()


def test_a_store_of_another_format_is_never_read(stocked):
    _, settings = stocked
    if settings.state_url is None:
        _sql(settings, "PRAGMA user_version = 99")
    else:  # the database's version is its schema's; each day carries its own format
        _sql(settings, "UPDATE days SET format = 99 WHERE date >= '2025-05-10'")
    got = run(settings, date(2025, 6, 1))
    assert any("format 99" in w or "of another format" in w for w in got.warnings), got.warnings
    assert figures(got) == figures(reference(settings, date(2025, 6, 1)))


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # a file of the state folder
def test_the_old_fill_cache_is_removed_once_with_a_warning(stocked):
    _, settings = stocked
    old = settings.state_dir / "cache" / "fills-0123456789abcdef.npz"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"PK old format")
    got = run(settings, date(2025, 6, 1))
    assert not old.exists()
    assert any("earlier version" in w for w in got.warnings)
    assert not any("earlier version" in w for w in run(settings, date(2025, 6, 2)).warnings)


def _edit(fake: FakeTradingService, when: datetime, **change) -> int:
    """Change the first fill at or after ``when``; returns its id."""
    row = min((r for r in fake.trades if datetime.fromisoformat(r["timestamp"]) >= when), key=lambda r: r["timestamp"])
    row.update(change)
    return row["id"]


def test_a_correction_in_the_overlap_is_seen_by_the_next_run(stocked):
    fake, settings = stocked
    _edit(fake, datetime(2025, 5, 31, 23, 10, tzinfo=UTC), price=1.0)  # the last hour of the last stored day
    got = run(settings, date(2025, 6, 1))
    assert figures(got) == figures(reference(settings, date(2025, 6, 1)))
    assert any("2025-05-31" in w and "differ from the stored copy" in w for w in got.warnings)


def test_an_older_correction_is_found_by_verify_and_fixed_by_rebuild_from(stocked):
    fake, settings = stocked
    _edit(fake, datetime(2025, 5, 20, 12, 0, tzinfo=UTC), quantity=0.001)
    stale = run(settings, date(2025, 6, 1))
    assert figures(stale) != figures(reference(settings, date(2025, 6, 1)))  # older than the overlap: not seen
    checks = verify(settings, date(2025, 5, 18), date(2025, 5, 22))
    assert [(c.date.day, c.outcome) for c in checks] == [(18, "same"), (19, "same"), (20, "differs"), (21, "same"),
                                                         (22, "same")]  # fmt: skip
    assert "report --rebuild-from 2025-05-20" in checks[2].render()
    fixed = run(settings, date(2025, 6, 1), rebuild_from=date(2025, 5, 20))
    assert figures(fixed) == figures(reference(settings, date(2025, 6, 1)))
    assert all(c.outcome == "same" for c in verify(settings, date(2025, 5, 18), date(2025, 5, 22)))


def test_rebuild_forgets_every_day(stocked):
    fake, settings = stocked
    got = run(settings, date(2025, 6, 1), rebuild=True)
    assert got.fills_read >= len([r for r in fake.trades if r["timestamp"] < "2025-06-02"])
    assert figures(got) == figures(reference(settings, date(2025, 6, 1)))


def test_no_rows_from_a_service_that_had_them_is_data_loss_and_the_store_is_kept(stocked):
    fake, settings = stocked
    before = _sql(settings, "SELECT date, sha256 FROM days ORDER BY date")
    fake.database_down = True
    with pytest.raises(DataLossError) as caught:
        run(settings, date(2025, 6, 1))
    message = str(caught.value)
    assert "returned 0 fills for the last hour of 2025-05-31; the stored copy has 3" in message
    assert "database may be down" in message
    assert _sql(settings, "SELECT date, sha256 FROM days ORDER BY date") == before
    # A re-run of a stored day gets the same answer, never a zero day.
    with pytest.raises(DataLossError, match=r"returned 0 fills for the last hour of 2025-05-09; the stored copy has 3"):
        run(settings, date(2025, 5, 10))
    with pytest.raises(DataLossError, match=r"returned 0 fills for 2025-05-01; the stored copy has 7\d"):
        run(settings, date(2025, 5, 1))


def test_fewer_fills_for_a_stored_day_is_data_loss(stocked):
    fake, settings = stocked
    fake.trades[:] = [r for r in fake.trades if not r["timestamp"].startswith("2025-05-12T1")]  # 10:00 to 19:59
    with pytest.raises(DataLossError, match=r"returned 42 fills for 2025-05-12; the stored copy has 72"):
        run(settings, date(2025, 5, 12))


def test_a_quiet_day_after_busy_days_is_flagged_not_refused(tmp_path, backend):
    from reports.presentation.render import render_summary

    rows = history_rows(date(2025, 7, 1), date(2025, 7, 12), skip=(date(2025, 7, 10),))
    with running_service(FakeTradingService(trades=rows)) as fake:
        settings = backend(fake.url, tmp_path / "state")
        run(settings, date(2025, 7, 9))
        quiet = run(settings, date(2025, 7, 10))
        assert quiet.totals.trades == 0
        summary = "".join(render_summary(quiet, None))
        assert "No fills today: check that the trading service records trades" in summary
        assert summary.index("No fills today") < summary.index("Agents")
        assert figures(quiet) == figures(reference(settings, date(2025, 7, 10)))
        assert "No fills today" not in "".join(render_summary(run(settings, date(2025, 7, 11)), None))


def test_the_replay_that_closed_the_report_day_builds_its_report(stocked):
    from reports.numbers.closing import build_report_from, close_day
    from reports.numbers.compute import RunInputs
    from reports.operations.history import History
    from reports.sources.stores import open_store
    from reports.sources.trading_service import TradingService

    fake, settings = stocked
    day = trading_day(date(2025, 6, 1), "UTC")
    store, _ = open_store(settings.state_dir, fake.url, "UTC", settings.state_url)
    with TradingService(fake.url) as service, store:
        history = History(service, store, "UTC")
        given = history.prepare(day)
        closed, replay, note = history.close(day, given)
        inputs = RunInputs(NOW, service.agents(), targets=settings.targets)
        args = (given.past, given.fills, given.start, day, settings.capital, inputs)
        marks = [d.state.marks for d in given.closed]
        handed, rows, used = build_report_from(*args, funding=given.funding, marks=marks, replay=replay)
        own, own_rows, _ = build_report_from(*args, funding=given.funding, marks=marks)
        known = [row.agent_id for row in given.past[-1][1]]
        bare = close_day(given.fills, day, given.start, known, given.funding)[2]  # no intraday grid
        with pytest.raises(ValueError, match="intraday grid"):
            build_report_from(*args, funding=given.funding, marks=marks, replay=bare)
    assert note is None and used is replay  # taken, not replayed again
    assert rows == own_rows == closed.agents
    assert figures(handed) == figures(own) == figures(reference(settings, day.date))


def test_the_settings_targets_reach_the_report_and_its_summary(stocked):
    import dataclasses

    from reports.presentation.render import context, render_summary
    from reports.targets import Targets

    _, settings = stocked
    aimed = dataclasses.replace(settings, daily_pnl_target=120.0, target_win_rate=0.6, max_drawdown_limit=0.1)
    assert aimed.targets == Targets(daily_pnl=120.0, win_rate=0.6, max_drawdown=0.1)
    report = run(aimed, date(2025, 6, 1))
    assert report.targets == aimed.targets and context(report)["max_drawdown_limit"] == 0.1
    text = "".join(render_summary(report))
    assert "of the +120.00 target" in text and "(target 60%" in text
