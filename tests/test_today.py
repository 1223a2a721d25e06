"""The day so far (``report --today``): one replay cut at now, marks from the last fill before now, labelled as
not final, never stored, never delivered through the daily records."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import run_report, store_settings
from fake_telegram import FakeChat, FakeTelegram, parse_html
from fake_trading import FakeTradingService, running_service
from history_data import history_rows
from store_reference import cold_replay, figures, stored_dates

from reports.calendar import is_partial, partial_day, trading_day
from reports.operations.history import History
from reports.operations.pipeline import build
from reports.operations.today import labelled
from reports.presentation import report_json
from reports.presentation.flags import attention_flags
from reports.presentation.render import render_html, render_summary
from reports.settings import Settings
from reports.sources.store import DayStore
from reports.sources.trading_service import TradingService

NOW = datetime(2025, 3, 10, 14, 5, 30, tzinfo=UTC)
TOKEN = "7000000011:AAHtodayTOKENtodayTOKENtodayTOKEN1"
CHAT = -1001000000001


def _ts(row: dict) -> datetime:
    return datetime.fromisoformat(row["timestamp"])


@pytest.mark.parametrize("timezone", ["UTC", "America/New_York"])
def test_the_day_so_far_is_one_replay_cut_at_now_and_is_never_stored(tmp_path, timezone):
    rows = history_rows(date(2025, 2, 20), date(2025, 3, 11))  # fills go on after NOW: they must not count
    with running_service(FakeTradingService(trades=rows, page_cap=100)) as fake:
        settings = store_settings(fake.url, tmp_path, timezone)
        day = partial_day(NOW, timezone)
        assert is_partial(day) and day.end == NOW and day.date == NOW.astimezone(settings.zone).date()
        got = build(settings, day, demo=False, clock=lambda: NOW)
        cold = cold_replay(settings, day, NOW)
        assert figures(got) == figures(cold)
        for report in (got, cold):  # the intraday P&L ends at now, on the day so far's total
            assert report.intraday.times[-1] == NOW
            assert report.intraday.portfolio[-1] == pytest.approx(report.totals.total_pnl, rel=1e-12, abs=1e-9)
        assert got.intraday.times == cold.intraday.times
        assert got.intraday.portfolio == pytest.approx(cold.intraday.portfolio, rel=1e-12, abs=1e-9)
        assert stored_dates(settings)[-1] == day.date - timedelta(days=1)  # the days before, not today
        again = build(settings, partial_day(NOW + timedelta(hours=1), timezone), demo=False, clock=lambda: NOW)
        assert stored_dates(settings)[-1] == day.date - timedelta(days=1)
        assert again.totals.trades > got.totals.trades
    doc = json.loads(report_json.dumps(got))
    assert doc["period"] == {
        "kind": "partial",
        "start": trading_day(day.date, timezone).start.astimezone(settings.zone).isoformat(),
        "end": NOW.astimezone(settings.zone).isoformat(),
    }
    marks = {p["symbol"]: p["mark_price"] for a in doc["agents"] for p in a["open_positions"]}
    for symbol, mark in marks.items():
        last = max((r for r in rows if r["symbol"] == symbol and _ts(r) < NOW), key=lambda r: (_ts(r), r["id"]))
        assert mark == last["price"], symbol  # the last fill before now, not a later one
    later = [r for r in rows if _ts(r) >= NOW and r["symbol"] in marks]
    assert any(r["price"] != marks[r["symbol"]] for r in later)  # so the check above can tell


def test_a_partial_day_is_refused_by_the_store(tmp_path):
    rows = history_rows(date(2025, 3, 1), date(2025, 3, 10))
    with running_service(FakeTradingService(trades=rows)) as fake:
        settings = store_settings(fake.url, tmp_path)
        day = partial_day(NOW, "UTC")
        with TradingService(fake.url) as service, DayStore(tmp_path / "days.sqlite") as store:
            history = History(service, store, "UTC")
            given = history.prepare(day)
            with pytest.raises(ValueError, match="never stored"):
                history.close(day, given)
            assert date(2025, 3, 10) not in store.dates()
        whole = build(settings, trading_day(date(2025, 3, 9), "UTC"), demo=False, clock=lambda: NOW)
        assert not is_partial(whole.day) and report_json.to_dict(whole)["period"]["kind"] == "day"


def test_the_label_says_not_final_and_a_quiet_morning_is_no_silence(tmp_path):
    # No fill at all on 2025-03-10 after fills on every day before: a day that has ended is flagged, the day so
    # far is not (nobody filled *yet*).
    rows = history_rows(date(2025, 2, 25), date(2025, 3, 10), skip=(date(2025, 3, 10),))
    with running_service(FakeTradingService(trades=rows)) as fake:
        settings = store_settings(fake.url, tmp_path, "America/New_York")
        ended = build(settings, trading_day(date(2025, 3, 10), "America/New_York"), demo=False, clock=lambda: NOW)
        partial = build(settings, partial_day(NOW, "America/New_York"), demo=False, clock=lambda: NOW)
    assert any("No fills today" in f for f in attention_flags(ended))
    assert not any("no fill" in f.lower() for f in attention_flags(partial))
    label = "as of 10:05 America/New_York, not final"  # 14:05 UTC is 10:05 EDT on 2025-03-10
    summary = render_summary(partial)
    assert label not in summary[0]  # the packaged template does not show it: labelled() does
    outbox = labelled(_outbox(partial), partial)
    first = parse_html(outbox.messages[0])[0].splitlines()[0]
    assert first == f"⏳ The day so far, {label}"
    page = outbox.document.data.decode()
    assert page.index("<body") < page.index(label) < page.index("<h1")
    assert outbox.document.caption.endswith(label)
    assert labelled(_outbox(ended), ended).messages == render_summary(ended)  # a whole day: no label


def test_the_day_so_far_ends_at_now_in_the_summary_and_report_html_headers():
    settings = Settings(timezone="America/New_York")
    partial = build(settings, partial_day(NOW, settings.timezone), demo=True, clock=lambda: NOW)
    whole = build(settings, trading_day(date(2025, 3, 9), settings.timezone), demo=True, clock=lambda: NOW)
    # 14:05 UTC is 10:05 EDT on 2025-03-10; a whole day runs to midnight
    headers = [parse_html(render_summary(r)[0])[0].splitlines()[1] for r in (partial, whole)]
    assert headers == ["Trading day so far 00:00–10:05 America/New_York", "Trading day 00:00–24:00 America/New_York"]
    assert "<p>Trading day so far 2025-03-10 00:00 – 10:05 America/New_York · all" in render_html(partial, [])
    assert "<p>Trading day 2025-03-09 00:00 – 2025-03-10 00:00 America/New_York · all" in render_html(whole, [])


def _outbox(report):
    from reports.delivery.outbox import Attachment, Outbox

    html = render_html(report, [])
    return Outbox(report.day.date, render_summary(report), (), Attachment("report.html", html.encode(), "Full report"))


def _today_rows() -> list[dict]:
    now = datetime.now(UTC)
    return [r for r in history_rows((now - timedelta(days=8)).date(), now.date(), per_hour=1) if _ts(r) < now]


def test_report_today_is_a_dry_run_written_apart_and_stores_no_partial_day(tmp_path):
    with running_service(FakeTradingService(trades=_today_rows())) as fake:
        state = tmp_path / "state"
        env = {"TRADING_SERVICE_URL": fake.url, "REPORT_STATE_DIR": str(state)}
        before = datetime.now(UTC)
        proc = run_report("--today", env=env, cwd=tmp_path)
        after = datetime.now(UTC)
        assert proc.returncode == 0, proc.stderr
        today = before.date() if before.date() == after.date() else None
        line = proc.stdout.strip()
        assert line.startswith(f"report {before.date()} so far (as of ") and ", not final): total P&L " in line
        assert line.endswith(f"(dry run, nothing sent), artifacts in out/{before.date()}-today"), line
        out = tmp_path / "out" / f"{before.date()}-today"
        doc = json.loads((out / "report.json").read_text())
        assert doc["period"]["kind"] == "partial"
        assert before <= datetime.fromisoformat(doc["period"]["end"]) <= after
        assert not (state / "deliveries").exists()
        if today is not None:
            assert today not in stored_dates(store_settings(fake.url, state))
        sent = json.loads((out / "telegram" / "01-sendMessage.json").read_text())
        assert sent["params"]["text"].startswith("<b>⏳ The day so far, as of ")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--today", "--date", "2025-11-21"], "--today cannot be combined with --date"),
        (["--today", "--period", "week"], "cannot be combined with --period week"),
        (["--today", "--force"], "--force has nothing to do with --today"),
        (["--today", "--send"], "TELEGRAM_BOT_TOKEN is not set"),
    ],
)
def test_report_today_refuses_what_does_not_go_with_it(args, needle):
    proc = run_report(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[-1]]
    assert needle in proc.stderr


def test_report_today_send_posts_once_with_no_delivery_record(tmp_path):
    with (
        running_service(FakeTradingService(trades=_today_rows())) as fake,
        FakeTelegram(TOKEN, [FakeChat(CHAT)], max_per_minute=1000) as telegram,
    ):
        state = tmp_path / "state"
        env = {
            "TRADING_SERVICE_URL": fake.url,
            "REPORT_STATE_DIR": str(state),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_CHAT_ID": str(CHAT),
            "TELEGRAM_API_URL": telegram.url,
        }
        for _ in range(2):  # a one-off: posted again by a second run
            proc = run_report("--today", "--send", env=env, cwd=tmp_path)
            assert proc.returncode == 0, proc.stderr
            assert "Telegram messages sent" in proc.stdout and "artifacts" not in proc.stdout
        posted = [c.method for c in telegram.calls_of("sendMessage", "sendMediaGroup", "sendDocument")]
        assert posted == ["sendMessage", "sendMediaGroup", "sendDocument"] * 2
        first = telegram.calls_of("sendMessage")[0].result["text"]
        assert first.startswith("⏳ The day so far, as of ") and ", not final" in first.splitlines()[0]
        assert not any(state.glob("deliveries*"))
