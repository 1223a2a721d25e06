"""Weeks and months: a period's figures are the sums of its daily reports', from the fake service over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import run_report
from fake_telegram import FakeTelegram
from fake_trading import FakeTradingService, running_service
from history_data import history_rows
from store_reference import NOW

from reports.calendar import last_complete, period_of, trading_day
from reports.operations.pipeline import build
from reports.presentation import report_json
from reports.schedule.fire import periods_ending
from reports.settings import Settings

TOKEN = "7000000006:AAHperiodTOKENperiodTOKENperiodTOKE1"
CHAT = -1001000000001


def test_weeks_run_monday_to_sunday_and_months_are_calendar_months():
    week = period_of("week", date(2025, 3, 5), "UTC")
    assert (week.first, week.last) == (date(2025, 3, 3), date(2025, 3, 9))
    assert period_of("week", date(2025, 3, 9), "UTC").first == date(2025, 3, 3)
    assert period_of("week", date(2025, 3, 10), "UTC").first == date(2025, 3, 10)
    feb = period_of("month", date(2024, 2, 10), "UTC")
    assert (feb.first, feb.last) == (date(2024, 2, 1), date(2024, 2, 29))
    assert period_of("month", date(2025, 2, 28), "UTC").last == date(2025, 2, 28)
    dec = period_of("month", date(2025, 12, 31), "UTC")
    assert (dec.first, dec.last) == (date(2025, 12, 1), date(2025, 12, 31))
    march = period_of("month", date(2025, 3, 15), "America/New_York")
    assert march.start == datetime(2025, 3, 1, 5, tzinfo=UTC) and march.end == datetime(2025, 4, 1, 4, tzinfo=UTC)
    assert last_complete("week", date(2025, 3, 10), "UTC").last == date(2025, 3, 9)  # on a Monday: last week
    assert last_complete("week", date(2025, 3, 9), "UTC").last == date(2025, 3, 2)  # on a Sunday: not this one
    assert last_complete("month", date(2025, 3, 1), "UTC").first == date(2025, 2, 1)


def test_the_scheduler_adds_the_week_on_sundays_and_the_month_on_its_last_day():
    every = ("day", "week", "month")
    assert periods_ending(date(2025, 3, 9), every) == ["day", "week"]  # a Sunday
    assert periods_ending(date(2025, 3, 31), every) == ["day", "month"]
    assert periods_ending(date(2025, 8, 31), every) == ["day", "week", "month"]  # a Sunday and a month end
    assert periods_ending(date(2025, 8, 31), ("day",)) == ["day"]
    assert periods_ending(date(2025, 3, 12), every) == ["day"]


def _settings(url: str, state, timezone: str, agents: tuple[str, ...] = ()) -> Settings:
    return Settings(trading_service_url=url, state_dir=state, timezone=timezone, agents=agents)


def _sums_of_days(settings: Settings, first: date, last: date) -> tuple[float, dict[str, float], list[float]]:
    """Every daily report of the range, and the sums a reader would make of them, day by day."""
    total, per_agent, series = 0.0, {}, []
    d = first
    while d <= last:
        doc = json.loads(
            report_json.dumps(build(settings, trading_day(d, settings.timezone), demo=False, clock=lambda: NOW))
        )
        total += doc["totals"]["total_pnl"]
        series.append(doc["daily"][-1]["total_pnl"])
        for a in doc["agents"]:
            per_agent[a["agent_id"]] = per_agent.get(a["agent_id"], 0.0) + a["total_pnl"]
        d += timedelta(days=1)
    return total, per_agent, series


def _period(settings: Settings, kind: str, last: date) -> dict:
    day = trading_day(last, settings.timezone)
    return json.loads(report_json.dumps(build(settings, day, demo=False, clock=lambda: NOW, period=kind)))


CASES = [
    ("month", "America/New_York", date(2025, 3, 1), date(2025, 3, 31)),  # 31 days, spring forward on the 9th
    ("month", "UTC", date(2025, 2, 1), date(2025, 2, 28)),  # February
    ("week", "America/New_York", date(2025, 10, 27), date(2025, 11, 2)),  # straddles a month end, falls back
    ("week", "Asia/Kolkata", date(2025, 3, 31), date(2025, 4, 6)),  # straddles a month end
]


@pytest.mark.parametrize(("kind", "timezone", "first", "last"), CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_a_period_is_the_sum_of_its_daily_reports(tmp_path, kind, timezone, first, last):
    rows = history_rows(first - timedelta(days=10), last + timedelta(days=2))
    with running_service(FakeTradingService(trades=rows, page_cap=200)) as fake:
        settings = _settings(fake.url, tmp_path / "state", timezone)
        before = _period(settings, "day", first - timedelta(days=1))
        held = [p for a in before["agents"] for p in a["open_positions"]]
        assert held, "the period should start with open positions"
        total, per_agent, series = _sums_of_days(settings, first, last)
        doc = _period(settings, kind, last)
    assert doc["period"]["kind"] == kind and doc["report_date"] == last.isoformat()
    assert doc["period"]["start"].startswith(f"{first}T00:00:00") and doc["period"]["end"].startswith(
        f"{last + timedelta(days=1)}T00:00:00"
    )
    running = 0.0
    for value in series:
        running += value
    assert doc["totals"]["total_pnl"] == running  # the very figures of the daily series, added day by day
    assert doc["totals"]["total_pnl"] == pytest.approx(total, abs=1e-9)  # the daily reports' totals
    for agent in doc["agents"]:
        assert agent["total_pnl"] == pytest.approx(per_agent[agent["agent_id"]], abs=1e-9), agent["agent_id"]
        assert agent["best_day"]["total_pnl"] >= agent["worst_day"]["total_pnl"]
    trades = sum(a["trades"] for a in doc["agents"])
    start, end = trading_day(first, timezone).start, trading_day(last, timezone).end
    held_by_service = sum(1 for r in rows if start <= datetime.fromisoformat(r["timestamp"]) < end)
    assert doc["totals"]["trades"] == trades == held_by_service  # 23- and 25-hour days included
    assert doc["period_risk"]["days"] == (last - first).days + 1
    assert doc["previous"]["total_pnl"] is not None
    assert [m["month"] for m in doc["monthly"]][-1] == last.month


def test_a_desks_report_sums_its_own_agents(tmp_path):
    rows = history_rows(date(2025, 5, 20), date(2025, 6, 9))
    desk = ("vpin-hft", "trend-momentum-agent")
    with running_service(FakeTradingService(trades=rows, page_cap=200)) as fake:
        everyone = _period(_settings(fake.url, tmp_path / "all", "UTC"), "week", date(2025, 6, 8))
        mine = _period(_settings(fake.url, tmp_path / "desk", "UTC", desk), "week", date(2025, 6, 8))
        day = _period(_settings(fake.url, tmp_path / "all", "UTC"), "day", date(2025, 6, 8))
        desk_day = _period(_settings(fake.url, tmp_path / "desk", "UTC", desk), "day", date(2025, 6, 8))
    assert sorted(a["agent_id"] for a in mine["agents"]) == sorted(desk)
    rows_all = {a["agent_id"]: a for a in everyone["agents"]}
    for agent in mine["agents"]:
        assert agent == rows_all[agent["agent_id"]]  # the same rows as in the unfiltered report
    for key in ("trades", "volume", "fees", "realized_pnl", "total_pnl", "capital", "closing_fills", "wins"):
        assert mine["totals"][key] == pytest.approx(sum(rows_all[a][key] for a in desk), abs=1e-9), key
    assert mine["totals"]["capital"] == 200.0
    by_agent = {a["agent_id"]: a for a in day["agents"]}
    assert {a["agent_id"]: a for a in desk_day["agents"]} == {a: by_agent[a] for a in desk}
    # Marks are the market's: an open position's mark is the same in both reports.
    assert sum(s["trades"] for s in mine["symbols"]) == mine["totals"]["trades"]


def test_re_running_a_sent_month_posts_nothing_new(tmp_path):
    rows = history_rows(date(2025, 1, 25), date(2025, 3, 2))
    state = tmp_path / "state"
    with running_service(FakeTradingService(trades=rows, page_cap=500)) as fake, FakeTelegram(TOKEN) as telegram:
        env = {
            "TRADING_SERVICE_URL": fake.url,
            "REPORT_STATE_DIR": str(state),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_CHAT_ID": str(CHAT),
            "TELEGRAM_API_URL": telegram.url,
        }
        day = run_report("--date", "2025-02-28", env=env)
        assert day.returncode == 0, day.stderr
        month = run_report("--period", "month", "--date", "2025-02-10", env=env)
        assert month.returncode == 0, month.stderr
        assert "report month 2025-02-01..2025-02-28: total P&L" in month.stdout
        documents = telegram.calls_of("sendDocument")
        assert len(documents) == 2  # the day's and the month's: separate deliveries
        assert (state / "deliveries-month" / "2025-02-28").is_dir() and (state / "deliveries" / "2025-02-28").is_dir()
        sent = len(telegram.calls_of("sendMessage", "sendMediaGroup", "sendDocument", "sendPhoto"))
        again = run_report("--period", "month", "--date", "2025-02-28", env=env)
        assert again.returncode == 0, again.stderr
        assert len(telegram.calls_of("sendMessage", "sendMediaGroup", "sendDocument", "sendPhoto")) == sent
        today = datetime.now(UTC).date()
        unfinished = run_report("--period", "week", "--date", today.isoformat(), env=env)
        assert unfinished.returncode == 2 and "has not ended yet" in unfinished.stderr


def test_a_periods_trade_statistics_are_those_of_its_stored_closing_fills(tmp_path):
    from reports.presentation.fmt import fmt_pnl
    from reports.presentation.render import period_trade_stats, render_summary
    from reports.sources.store import DayStore, store_path

    rows = history_rows(date(2025, 5, 20), date(2025, 6, 9))
    with running_service(FakeTradingService(trades=rows, page_cap=200)) as fake:
        settings = _settings(fake.url, tmp_path / "state", "UTC")
        report = build(settings, trading_day(date(2025, 6, 8), "UTC"), demo=False, clock=lambda: NOW, period="week")
        with DayStore(store_path(settings.state_dir, settings.trading_service_url, "UTC")) as store:
            days, _ = store.load(until=date(2025, 6, 8))
    week = [row for d in days if date(2025, 6, 2) <= d.date <= date(2025, 6, 8) for row in d.agents]
    closes, wins, losses = (sum(getattr(r, k) for r in week) for k in ("closing_fills", "wins", "losses"))
    win_sum, loss_sum = sum(r.win_sum for r in week), sum(r.loss_sum for r in week)
    assert closes and wins and losses
    figures = report.period
    assert figures is not None and (report.totals.closing_fills, report.totals.wins) == (closes, wins)
    assert figures.expectancy == pytest.approx((win_sum + loss_sum) / closes, rel=1e-12)
    assert figures.average_win == pytest.approx(win_sum / wins, rel=1e-12)
    assert figures.average_loss == pytest.approx(loss_sum / losses, rel=1e-12)
    assert report.totals.profit_factor == pytest.approx(win_sum / abs(loss_sum), rel=1e-12)
    # The summary shows the figures the numbers stage made; it rebuilds none of them.
    stats = period_trade_stats(report)
    assert (stats.expectancy, stats.average_win, stats.average_loss) == (
        figures.expectancy,
        figures.average_win,
        figures.average_loss,
    )
    text = "".join(render_summary(report))
    assert f"expectancy {fmt_pnl(figures.expectancy)} a close" in text
    assert f"Average win {fmt_pnl(figures.average_win)} · average loss {fmt_pnl(figures.average_loss)}" in text
