"""``report --from D1 --to D2``: every day in order, one failing day does not stop the others, delivered
days are skipped, a table at the end, progress on a terminal and in plain lines."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from factories import make_row, report_env, sending_settings
from fake_telegram import FakeTelegram
from fake_trading import FakeTradingService, running_service

from reports.delivery.records import DeliveryStore
from reports.operations.backfill import backfill, render_table
from reports.operations.backfill_day import DayResult, delivered_everywhere
from reports.settings import ChatTarget, Settings

TOKEN = "7000000002:AAHbackfillTOKENbackfillTOKEN123456"
CHAT = -1001000000001
FIRST = date(2025, 11, 1)
DAYS = [FIRST + timedelta(days=k) for k in range(5)]


def rows_for(days: list[date]) -> list[dict[str, Any]]:
    """One agent buys on each day and sells half of it the next day: a P&L on every day after the first."""
    rows = []
    for k, day in enumerate(days):
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        rows.append(make_row(agent_id="vpin-hft", price=100.0 + k, quantity=2.0, fee=0.1, timestamp=noon))
        rows.append(
            make_row(
                agent_id="vpin-hft",
                side="SELL",
                price=101.0 + k,
                quantity=1.0,
                fee=0.1,
                timestamp=noon.replace(hour=18),
            )
        )
    return rows


class FailingDay(FakeTradingService):
    """The fake service, answering 500 to the requests for the fills of one day during that day's run, retries
    included: a passing outage (the next day's run reads that day again, since its figures depend on it)."""

    def __init__(self, rows: list[dict[str, Any]], day: date, budget: int = 4) -> None:
        super().__init__(trades=rows)
        self.end = (datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)).isoformat()
        self.budget = budget
        service = self

        class Requests(list):
            def append(self, item: tuple[str, dict[str, list[str]]]) -> None:
                super().append(item)
                path, query = item
                if path == "/api/trades/history" and query.get("end_date") == [service.end] and service.budget:
                    service.budget -= 1
                    service.fail(path, 500)  # answered before the handler reads the queue

        self.requests = Requests()


def test_five_days_with_one_failing(tmp_path):
    broken = DAYS[2]
    fake = FailingDay(rows_for(DAYS), broken)
    with running_service(fake):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "reports",
                "--from",
                "2025-11-01",
                "--to",
                "2025-11-05",
                "--dry-run",
                "--output",
                str(tmp_path),
                "--workers",  # one by one: the days in order (test_backfill_parallel.py has the other path)
                "1",
            ],
            env=report_env(TRADING_SERVICE_URL=fake.url),
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert proc.returncode == 1, proc.stderr
    table = proc.stdout.strip().splitlines()
    assert table[0].split() == ["date", "outcome", "total", "P&L", "(USDT)", "detail"]
    rows = [line.split() for line in table[1:6]]
    assert [r[0] for r in rows] == [d.isoformat() for d in DAYS]  # oldest first, every day tried
    assert [r[1] for r in rows] == ["written", "written", "failed", "written", "written"]
    assert rows[2][2] == "-" and "answered 500" in table[3]
    assert table[-1] == "5 day(s): 4 written, 1 failed"
    for day, row in zip(DAYS, rows, strict=True):
        out = tmp_path / day.isoformat() / "report.json"
        assert out.exists() == (day != broken)
        if day != broken:
            assert float(row[2].replace(",", "")) == round(json.loads(out.read_text())["totals"]["total_pnl"], 2)
    # The fills were asked for day by day, in order (the first request of each day ends at its midnight).
    ends = [q["end_date"][0] for path, q in fake.requests if path == "/api/trades/history"]
    firsts = [e for e in dict.fromkeys(ends) if e.endswith("T00:00:00+00:00")]
    assert firsts == [(datetime(d.year, d.month, d.day, tzinfo=UTC) + timedelta(days=1)).isoformat() for d in DAYS]
    progress = [line for line in proc.stderr.splitlines() if line.startswith("backfill ")]
    assert progress[2] == "backfill 3/5 2025-11-03: failed" and progress[-1].startswith(
        "backfill 5/5 2025-11-05: written"
    )
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("report: error: 1 of 5 day(s) failed (2025-11-03)")
    assert "Traceback" not in proc.stderr


def test_delivered_days_are_skipped_unless_forced(tmp_path):
    days = DAYS[:2]
    with running_service(FakeTradingService(trades=rows_for(days))) as fake, FakeTelegram(TOKEN) as telegram:
        settings = sending_settings(fake.url, telegram.url, TOKEN, CHAT, tmp_path / "state")
        store = DeliveryStore(settings.state_dir)
        partial = store.new(days[0], ChatTarget(str(CHAT)))
        store.save(partial)
        assert not delivered_everywhere(settings, days[0])  # a record that is not complete is not a delivery
        partial.complete = True
        store.save(partial)
        assert delivered_everywhere(settings, days[0])

        first = backfill(days[0], days[1], settings, send=True, output=tmp_path / "out")
        documents = len(telegram.calls_of("sendDocument"))
        again = backfill(days[0], days[1], settings, send=True)
        after_again = len(telegram.calls_of("sendDocument"))
        forced = backfill(days[0], days[0], settings, send=True, force=True)
        captions = [c.params.get("caption", "") for c in telegram.calls_of("sendDocument")]
    assert [r.outcome for r in first] == ["skipped", "sent"]
    assert first[1].total_pnl is not None and "Telegram messages" in first[1].detail
    assert (tmp_path / "out" / days[1].isoformat() / "report.json").exists()
    # with --output a delivered day is still built and written (CONTRACT 2), and gets no new message
    assert (tmp_path / "out" / days[0].isoformat() / "report.json").exists()
    assert first[0].detail.startswith("already delivered")
    assert documents == 1 and days[1].isoformat() in captions[0]
    assert [r.outcome for r in again] == ["skipped", "skipped"] and after_again == 1
    assert [r.outcome for r in forced] == ["sent"] and days[0].isoformat() in captions[1]


def test_a_range_of_weeks_writes_each_week_to_its_own_folder_under_output(tmp_path):
    out, settings = tmp_path / "out", Settings(state_dir=tmp_path / "state")
    results = backfill(
        date(2025, 11, 20), date(2025, 11, 30), settings, demo=True, send=False, output=out, period="week"
    )
    assert [(r.day, r.outcome) for r in results] == [(date(2025, 11, 23), "written"), (date(2025, 11, 30), "written")]
    assert sorted(p.name for p in out.iterdir()) == ["2025-W47", "2025-W48"]
    assert results[1].detail == f"artifacts in {out / '2025-W48'}"
    doc = json.loads((out / "2025-W48" / "report.json").read_text())
    assert doc["period"]["kind"] == "week" and doc["report_date"] == "2025-11-30"


def test_table_is_aligned_and_counts_outcomes():
    results = [
        DayResult(date(2025, 11, 1), "sent", 1234.5, "5 Telegram messages"),
        DayResult(date(2025, 11, 2), "skipped", None, "already delivered"),
        DayResult(date(2025, 11, 3), "failed", None, "the trading service answered 503"),
    ]
    assert render_table(results).splitlines() == [
        "date        outcome  total P&L (USDT)  detail",
        "2025-11-01  sent            +1,234.50  5 Telegram messages",
        "2025-11-02  skipped                 -  already delivered",
        "2025-11-03  failed                  -  the trading service answered 503",
        "3 day(s): 1 sent, 1 skipped, 1 failed",
    ]


def test_progress_bar_on_a_terminal(tmp_path: Path):
    # A real pseudo-terminal as standard error: the bar is redrawn in place, log lines go above it.
    master, slave = pty.openpty()
    # One by one: side by side, the last day to end (named by the bar) could be either.
    argv = [sys.executable, "-m", "reports", "--demo", "--from", "2025-11-01", "--to", "2025-11-02", "--workers", "1"]
    with subprocess.Popen(
        [*argv, "--output", str(tmp_path)], env=report_env(), stdout=subprocess.PIPE, stderr=slave
    ) as proc:
        os.close(slave)
        chunks = []
        while select.select([master], [], [], 60)[0]:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal is gone with the process
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        stdout = proc.stdout.read().decode() if proc.stdout else ""
        proc.wait(60)
    screen = b"".join(chunks).decode()
    assert proc.returncode == 0, screen
    assert "\r\x1b[Kbackfill [------------------------] 0/2 2025-11-01 ..." in screen
    assert "\r\x1b[Kbackfill [########################] 2/2 2025-11-02 written" in screen
    # A log line erases the bar, prints on its own line, and the bar comes back under it.
    assert "\r\x1b[K" + "20" in screen and "fetched" in screen
    assert "backfill 1/2" not in screen  # no plain progress lines on a terminal
    assert "2 day(s): 2 written" in stdout
