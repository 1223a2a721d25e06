"""``report schedule``: fire times in a zone, DST, catch-up, failures, and SIGTERM, without waiting for midnight.

Fire times are driven through the trigger with an injected "now"; the real APScheduler loop is driven by
schedules whose fire times are just past (a missed run) or every second, and by an injected clock.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from factories import make_row, report_env, sending_settings
from fake_telegram import FakeTelegram
from fake_trading import FakeTradingService, running_service
from prometheus_client.parser import text_string_to_metric_families
from promstack import start_pushgateway

from reports.cron import ZonedCronTrigger, catch_up_time, latest_fire, next_runs, parse_schedule, report_date_for
from reports.delivery.records import DeliveryStore
from reports.errors import FetchError
from reports.operations.backfill_day import delivered_everywhere
from reports.schedule.fire import run_report
from reports.schedule.runner import ReportScheduler
from reports.settings import ChatTarget

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKEN = "7000000001:AAHtestTOKENtestTOKENtestTOKEN12345"
CHAT = -1001000000001


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def in_thread(scheduler: ReportScheduler) -> threading.Thread:
    thread = threading.Thread(target=scheduler.start, kwargs={"handle_signals": False}, daemon=True)
    thread.start()
    return thread


def wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


# -- fire times in a zone ------------------------------------------------------------------------------


def test_fires_at_the_cron_time_in_a_non_utc_zone():
    trigger = parse_schedule("5 0 * * *", "America/New_York")
    runs = next_runs(trigger, utc(2025, 11, 21, 17), 3)
    assert [r.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M %Z") for r in runs] == [
        "2025-11-22 00:05 EST",
        "2025-11-23 00:05 EST",
        "2025-11-24 00:05 EST",
    ]
    assert runs[0] == utc(2025, 11, 22, 5, 5)  # 00:05 in New York, not in UTC
    assert report_date_for(runs[0], NEW_YORK) == date(2025, 11, 21)


def test_a_run_at_the_fire_time_reports_the_day_that_ended_in_the_zone():
    # The job itself, with an injected clock three seconds after 00:05 New York time.
    ran: list[date] = []
    scheduler = ReportScheduler(
        parse_schedule("5 0 * * *", "America/New_York"),
        lambda day: ran.append(day) or "ok",
        clock=lambda: utc(2025, 11, 22, 5, 5, 3),
    )
    scheduler.job()
    assert ran == [date(2025, 11, 21)]  # in UTC it is already the 22nd's 05:05; the day that ended is the 21st
    assert scheduler.outcomes == [(date(2025, 11, 21), "ok")]


def test_cron_weekdays_count_sunday_as_zero_like_cron():
    sunday = parse_schedule("0 9 * * 0", "UTC")
    assert {r.strftime("%a") for r in next_runs(sunday, utc(2025, 11, 19), 3)} == {"Sun"}
    weekdays = parse_schedule("0 9 * * 1-5", "UTC")
    assert [r.strftime("%a") for r in next_runs(weekdays, utc(2025, 11, 21, 10), 5)] == [
        "Mon",
        "Tue",
        "Wed",
        "Thu",
        "Fri",
    ]


@pytest.mark.parametrize(
    ("expression", "zone", "needle"),
    [("61 0 * * *", "UTC", "REPORT_SCHEDULE='61 0 * * *'"), ("5 0 * *", "UTC", "expected 5"), ("5 0 * * 9", "UTC", "")],
)
def test_bad_cron_is_a_usage_error(expression, zone, needle):
    from reports.errors import UsageError

    with pytest.raises(UsageError, match="not a valid cron expression") as info:
        parse_schedule(expression, zone)
    assert needle in str(info.value)


# -- DST -----------------------------------------------------------------------------------------------


def test_daily_run_after_spring_forward_is_not_skipped():
    # APScheduler 3.11's own CronTrigger goes from 2025-03-30 00:05 CET straight to 2025-04-01.
    trigger = parse_schedule("5 0 * * *", "Europe/Berlin")
    first = utc(2025, 3, 29, 23, 5)  # 2025-03-30 00:05 CET
    # The call APScheduler makes right after that run: previous fire time, and "now" a moment later.
    following = trigger.get_next_fire_time(first, first + timedelta(seconds=2))
    assert following == utc(2025, 3, 30, 22, 5)  # 2025-03-31 00:05 CEST
    days = [report_date_for(r, BERLIN) for r in next_runs(trigger, utc(2025, 3, 28), 6)]
    assert days == [date(2025, 3, 28) + timedelta(days=k) for k in range(6)]  # 03-29 .. 04-03 at 00:05


def test_daily_run_after_fall_back_is_not_skipped_or_doubled():
    trigger = parse_schedule("5 0 * * *", "Europe/Berlin")
    runs = next_runs(trigger, utc(2025, 10, 24), 5)
    assert [r.astimezone(BERLIN).strftime("%m-%d %H:%M") for r in runs] == [
        "10-25 00:05",
        "10-26 00:05",
        "10-27 00:05",
        "10-28 00:05",
        "10-29 00:05",
    ]


def test_a_time_in_the_dst_gap_runs_once():
    trigger = parse_schedule("30 2 * * *", "Europe/Berlin")  # 02:30 does not exist on 2025-03-30
    runs = next_runs(trigger, utc(2025, 3, 29, 12), 3)
    on_the_day = [r for r in runs if r.astimezone(BERLIN).date() == date(2025, 3, 30)]
    assert on_the_day == [utc(2025, 3, 30, 1, 30)]  # once, shifted by the gap: 03:30 CEST
    assert runs[1] == utc(2025, 3, 31, 0, 30)  # then 02:30 CEST as usual


def test_a_time_in_the_repeated_hour_runs_once():
    trigger = parse_schedule("30 2 * * *", "Europe/Berlin")  # 02:30 happens twice on 2025-10-26
    runs = next_runs(trigger, utc(2025, 10, 25, 12), 3)
    assert runs == [utc(2025, 10, 26, 0, 30), utc(2025, 10, 27, 1, 30), utc(2025, 10, 28, 1, 30)]
    # Started during the second 02:10, the first 02:30 has passed: the next run is tomorrow's.
    assert trigger.get_next_fire_time(None, utc(2025, 10, 26, 1, 10)) == utc(2025, 10, 27, 1, 30)


def test_hourly_schedule_through_both_changes_is_strictly_increasing_without_repeats():
    trigger = parse_schedule("30 * * * *", "Europe/Berlin")
    for start in (utc(2025, 3, 29, 20), utc(2025, 10, 25, 20)):
        runs = next_runs(trigger, start, 12)
        assert all(b > a for a, b in itertools.pairwise(runs))
        walls = [r.astimezone(BERLIN).replace(tzinfo=None) for r in runs]
        assert len(set(walls)) == len(walls)  # no wall-clock time twice (the repeated 02:30 runs once)


# -- missed runs ---------------------------------------------------------------------------------------


def test_catch_up_at_start_within_grace_only_and_only_if_not_delivered():
    trigger = parse_schedule("5 0 * * *", "Europe/Berlin")
    due = utc(2025, 11, 21, 23, 5)  # 2025-11-22 00:05 CET
    assert latest_fire(trigger, due + timedelta(minutes=30)) == due
    assert catch_up_time(trigger, due + timedelta(minutes=30), 3600, lambda d: False) == due
    assert catch_up_time(trigger, due + timedelta(minutes=30), 3600, lambda d: d == date(2025, 11, 21)) is None
    assert catch_up_time(trigger, due + timedelta(hours=2), 3600, lambda d: False) is None


def test_missed_runs_are_caught_up_once_by_the_real_scheduler(caplog):
    # Three fire times in the last minutes and none for an hour after; the scheduler decided at start,
    # three minutes ago (the injected clock), then the machine slept: APScheduler wakes with three runs due.
    kolkata = ZoneInfo("Asia/Kolkata")  # +05:30: the minutes below are wall-clock minutes there
    now = datetime.now(UTC)
    minutes = sorted({(now - timedelta(minutes=k)).astimezone(kolkata).minute for k in (3, 2, 1)})
    trigger = ZonedCronTrigger(f"{','.join(map(str, minutes))} * * * *", kolkata)
    clock_calls = iter([now - timedelta(minutes=3) + timedelta(seconds=1)])
    ran: list[date] = []
    scheduler = ReportScheduler(
        trigger,
        lambda day: ran.append(day) or "ok",
        grace=3600,
        clock=lambda: next(clock_calls, None) or datetime.now(UTC),
    )
    caplog.set_level(logging.INFO, logger="reports")
    thread = in_thread(scheduler)
    wait_for(lambda: ran)
    time.sleep(1.5)  # time enough for a second run, if the scheduler were to make one
    scheduler.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert ran == [report_date_for(now, kolkata)]
    assert "was missed: running it now" in caplog.text and "next run at" in caplog.text
    assert "earlier day(s) were missed" not in caplog.text  # the coalesced runs were all for the same day


def test_a_machine_asleep_for_days_runs_once_and_names_the_days_to_backfill(caplog):
    # The job driven by an injected clock: a run on the 20th at 00:05, then the next firing noticed on the 23rd.
    now = [utc(2025, 11, 19, 23, 5, 1)]
    ran: list[date] = []
    scheduler = ReportScheduler(
        parse_schedule("5 0 * * *", "Europe/Berlin"), lambda d: ran.append(d) or "ok", clock=lambda: now[0]
    )
    caplog.set_level(logging.INFO, logger="reports")
    scheduler.job()
    now[0] = utc(2025, 11, 22, 23, 20)  # 2025-11-23 00:20 CET: the 21st's and 22nd's runs were slept through
    scheduler.job()
    assert ran == [date(2025, 11, 19), date(2025, 11, 22)]
    assert "the runs for 2 earlier day(s) were missed" in caplog.text
    assert "'report --from 2025-11-20 --to 2025-11-21'" in caplog.text


# -- a failing run, then a good one --------------------------------------------------------------------


def test_a_failing_run_is_reported_and_the_next_one_delivers(tmp_path, caplog):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    noon = datetime(yesterday.year, yesterday.month, yesterday.day, 12, tzinfo=UTC)
    rows = [
        make_row(agent_id="vpin-hft", price=100.0, quantity=2.0, fee=0.1, timestamp=noon - timedelta(hours=30)),
        make_row(agent_id="vpin-hft", side="SELL", price=103.0, quantity=1.0, fee=0.1, timestamp=noon),
    ]
    fake = FakeTradingService(trades=rows)
    fake.fail("/api/trades/history", 400)  # the first run cannot read the fills; 400 is not retried
    gateway = start_pushgateway(tmp_path)
    try:
        with running_service(fake), FakeTelegram(TOKEN) as telegram:
            # The day only: on a Sunday or a month's end the run would add the week's or the month's report.
            settings = sending_settings(
                fake.url, telegram.url, TOKEN, CHAT, tmp_path / "state", pushgateway_url=gateway.url, periods=("day",)
            )
            trigger = ZonedCronTrigger("* * * * *", ZoneInfo("UTC"), second="*")  # every second
            scheduler = ReportScheduler(
                trigger,
                lambda day: run_report(settings, day, send=True, output=None),
                delivered=lambda day: delivered_everywhere(settings, day),
            )
            caplog.set_level(logging.INFO, logger="reports")
            thread = in_thread(scheduler)
            wait_for(lambda: len(scheduler.outcomes) >= 2)
            scheduler.stop()
            thread.join(60)
            metrics = httpx.get(gateway.url + "/metrics", timeout=5).text
    finally:
        gateway.stop()
    assert not thread.is_alive()
    assert scheduler.outcomes[:2] == [(yesterday, "failed"), (yesterday, "ok")]
    assert {o for _, o in scheduler.outcomes[2:]} <= {"skipped"}  # delivered: later firings send nothing
    notices = [c for c in telegram.calls_of("sendMessage") if "could not be built" in c.params["text"]]
    assert len(notices) == 1 and "400" in notices[0].params["text"]
    assert telegram.calls_of("sendDocument"), "the second run delivered the report"
    assert "run failed:" in caplog.text and "run finished: report" in caplog.text
    pushed = {
        sample.name: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.labels.get("job") == "daily_report"
    }
    # The last push is the good run's (a skipped firing runs nothing and pushes nothing).
    assert (
        pushed["daily_report_failed"] == 0 and pushed["daily_report_messages_sent"] == len(telegram.messages[CHAT]) - 1
    )
    assert pushed["daily_report_last_success_timestamp_seconds"] > time.time() - 60
    record = DeliveryStore(settings.state_dir).load(yesterday, ChatTarget(str(CHAT)))
    assert record is not None and record.complete


def test_an_internal_error_in_a_run_does_not_end_the_schedule():
    calls: list[date] = []

    def run(day: date) -> str:
        calls.append(day)
        if len(calls) == 1:
            raise ZeroDivisionError("a bug")
        if len(calls) == 2:
            raise FetchError("the trading service at http://x answered 503")
        scheduler.stop()
        return "ok"

    scheduler = ReportScheduler(ZonedCronTrigger("* * * * *", ZoneInfo("UTC"), second="*"), run)
    thread = in_thread(scheduler)
    thread.join(30)
    assert not thread.is_alive()
    assert [o for _, o in scheduler.outcomes] == ["failed", "failed", "ok"]


# -- the command ---------------------------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reports", *args], capture_output=True, text=True, env=report_env(**env), timeout=60
    )


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"REPORT_SCHEDULE": "5 0 * *"}, "REPORT_SCHEDULE='5 0 * *' is not a valid cron expression"),
        ({"REPORT_TIMEZONE": "Europe/Atlantis"}, "unknown time zone 'Europe/Atlantis'"),
        ({}, "TELEGRAM_BOT_TOKEN is not set"),
    ],
)
def test_bad_schedule_settings_exit_2_with_one_line(env, needle):
    proc = run_cli("schedule", env=env)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert needle in proc.stderr and "Traceback" not in proc.stderr


def test_sigterm_during_a_run_ends_cleanly_with_a_consistent_delivery_record(tmp_path):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    noon = datetime(yesterday.year, yesterday.month, yesterday.day, 12, tzinfo=UTC)
    rows = [
        make_row(agent_id="vpin-hft", price=100.0, quantity=2.0, fee=0.1, timestamp=noon - timedelta(hours=30)),
        make_row(agent_id="vpin-hft", side="SELL", price=103.0, quantity=1.0, fee=0.1, timestamp=noon),
    ]
    with running_service(FakeTradingService(trades=rows)) as fake, FakeTelegram(TOKEN) as telegram:
        env = {
            "TRADING_SERVICE_URL": fake.url,
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_CHAT_ID": str(CHAT),
            "TELEGRAM_API_URL": telegram.url,
            "REPORT_STATE_DIR": str(tmp_path / "state"),
            "REPORT_SCHEDULE": "* * * * *",  # the run due this minute is caught up at once
            "REPORT_LOG_FORMAT": "json",
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "reports", "schedule"],
            env=report_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(lambda: telegram.calls_of("sendMessage") or proc.poll() is not None, timeout=60)
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            proc.send_signal(signal.SIGTERM)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        sent = dict(telegram.messages[CHAT])
    assert proc.returncode == 0, stderr
    lines = [json.loads(line) for line in stderr.splitlines()]  # JSON logs: every line parses
    messages = [line["message"] for line in lines]
    assert any(m.startswith("SIGTERM: stopping after the current Telegram call") for m in messages), messages
    assert messages[-1] == "scheduler stopped"
    assert TOKEN not in stderr and "Traceback" not in stderr
    run_lines = [line for line in lines if line["message"].startswith("run ")]
    assert run_lines and all(line["report_date"] == yesterday.isoformat() and line["run_id"] for line in run_lines)
    # Every message Telegram accepted is in the record, and the record holds nothing Telegram did not accept.
    record = DeliveryStore(tmp_path / "state").load(yesterday, ChatTarget(str(CHAT)))
    assert record is not None
    recorded = sorted(i for call in record.calls.values() for i in call.message_ids)
    assert recorded == sorted(sent)
    # The run stopped between calls: the document (the last call) was never started, and a re-run sends it.
    assert not record.complete
    assert not telegram.calls_of("sendDocument")


def test_check_command_lists_the_next_three_runs(tmp_path: Path):
    env = {"REPORT_SCHEDULE": "5 0 * * *", "REPORT_TIMEZONE": "Europe/Berlin", "REPORT_STATE_DIR": str(tmp_path)}
    proc = run_cli("check", env=env | {"TRADING_SERVICE_URL": "http://127.0.0.1:9"})
    line = next(x for x in proc.stdout.splitlines() if "schedule '5 0 * * *' in Europe/Berlin" in x)
    assert line.startswith("ok ") and line.count("00:05 CE") == 3


# -- signals, in this process's main thread ------------------------------------------------------------


def test_sigterm_during_a_run_lets_it_finish_and_then_stops(caplog):
    def run(day: date) -> str:
        os.kill(os.getpid(), signal.SIGTERM)  # handled on this (main) thread before the next line
        time.sleep(0.05)
        return "finished after the signal"

    scheduler = ReportScheduler(ZonedCronTrigger("* * * * *", ZoneInfo("UTC"), second="*"), run)
    caplog.set_level(logging.INFO, logger="reports")
    assert scheduler.start() == 0
    assert [o for _, o in scheduler.outcomes] == ["ok"]  # no run after the signal, though one is due every second
    assert "SIGTERM: stopping after the current Telegram call" in caplog.text
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handlers are given back


def test_a_second_signal_abandons_the_run(caplog):
    def run(day: date) -> str:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # interrupted by the second signal
        return "not reached"

    scheduler = ReportScheduler(ZonedCronTrigger("* * * * *", ZoneInfo("UTC"), second="*"), run)
    caplog.set_level(logging.INFO, logger="reports")
    started = time.monotonic()
    assert scheduler.start() == 0
    assert time.monotonic() - started < 4
    assert [o for _, o in scheduler.outcomes] == ["interrupted"]
    assert "SIGINT again: abandoning the run in progress" in caplog.text
    assert "run abandoned by a second signal: run 'report --date" in caplog.text


def test_sigterm_while_waiting_stops_at_once(tmp_path: Path):
    env = {"REPORT_SCHEDULE": "0 3 1 1 *", "REPORT_LOG_FORMAT": "json", "REPORT_STATE_DIR": str(tmp_path)}
    with subprocess.Popen(
        [sys.executable, "-m", "reports", "schedule", "--dry-run"],
        env=report_env(**env),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        first = [json.loads(proc.stderr.readline()) for _ in range(2)]
        proc.send_signal(signal.SIGTERM)
        rest = [json.loads(line) for line in proc.stderr.read().splitlines()]
        assert proc.wait(10) == 0
    assert first[1]["message"].startswith("next run at ") and "-01-01 03:00 UTC" in first[1]["message"]
    assert [r["message"] for r in rest] == ["SIGTERM: stopping", "scheduler stopped"]
