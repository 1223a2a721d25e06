"""The store of closed days through the ``report`` command: data loss, a killed first run, verify, check."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
from factories import report_env, run_report, store_settings
from fake_telegram import FakeTelegram
from fake_trading import FakeTradingService, running_service
from history_data import history_rows
from store_reference import figures, reference

from reports.checks.store import store_lines
from reports.presentation import report_json
from reports.sources.store import store_path

TOKEN = "7000000005:AAHstoreTOKENstoreTOKENstoreTOKEN12"
CHAT = -1001000000001


def _env(url: str, state: Path, **extra: str) -> dict[str, str]:
    return {"TRADING_SERVICE_URL": url, "REPORT_STATE_DIR": str(state), **extra}


def _rows(state: Path, url: str) -> list[tuple[str, str]]:
    with sqlite3.connect(store_path(state, url, "UTC")) as db:
        return db.execute("SELECT date, sha256 FROM days ORDER BY date").fetchall()


def test_database_down_after_a_stored_history_sends_only_the_failure_notice(tmp_path):
    rows = history_rows(date(2025, 8, 1), date(2025, 8, 20))
    state = tmp_path / "state"
    with running_service(FakeTradingService(trades=rows)) as fake, FakeTelegram(TOKEN) as telegram:
        env = _env(fake.url, state, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_CHAT_ID=str(CHAT), TELEGRAM_API_URL=telegram.url)
        first = run_report("--date", "2025-08-18", env=env)
        assert first.returncode == 0, first.stderr
        stored = _rows(state, fake.url)
        sent_before = len(telegram.calls)
        fake.database_down = True  # the real service then answers 200 with no rows
        proc = run_report("--date", "2025-08-19", env=env)
        assert proc.returncode == 1
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("report: error: the trading service at http://127.0.0.1:")
        assert "returned 0 fills for the last hour of 2025-08-18; the stored copy has 3" in last
        assert "its database may be down" in last and "Traceback" not in proc.stderr
        new = telegram.calls[sent_before:]
        posted = [c.method for c in new if c.method != "getMe"]
        assert posted == ["sendMessage"]  # the failure notice: no summary, album or document
        notice = next(c for c in new if c.method == "sendMessage").params["text"]
        assert "2025-08-19" in notice and "0 fills" in notice
        assert _rows(state, fake.url) == stored


def test_a_first_run_killed_half_way_resumes_from_the_last_day_it_stored(tmp_path):
    rows = history_rows(date(2025, 1, 1), date(2025, 4, 10), per_hour=1)
    state = tmp_path / "state"
    out = tmp_path / "out"
    with running_service(FakeTradingService(trades=rows, delay=0.01)) as fake:
        env = report_env(**_env(fake.url, state))
        argv = [sys.executable, "-m", "reports", "--date", "2025-04-10", "--dry-run", "--output", str(out)]
        # Its own process group: the kill takes the chart workers it forked too, as a pod's end would.
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        with subprocess.Popen(argv, env=env, text=True, start_new_session=True, **pipes) as proc:
            path = store_path(state, fake.url, "UTC")
            deadline = time.monotonic() + 60
            stored = 0
            while time.monotonic() < deadline and stored < 20:
                time.sleep(0.05)
                if path.exists():
                    with sqlite3.connect(path, timeout=10) as db:
                        try:
                            stored = db.execute("SELECT count(*) FROM days").fetchone()[0]
                        except sqlite3.OperationalError:  # the file is there, its schema not yet
                            continue
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=30)
        kept = _rows(state, fake.url)
        assert 20 <= len(kept) < 99, len(kept)  # killed half-way: 99 days before the report date
        assert kept[0][0] == "2025-01-01" and not out.exists()
        resumed = run_report("--date", "2025-04-10", "--dry-run", "--output", str(out), env=_env(fake.url, state))
        assert resumed.returncode == 0, resumed.stderr
        assert f"reading {99 - len(kept)} day(s) of history" in resumed.stderr
        assert "history: " in resumed.stderr and "day(s) stored, up to 2025-04-09" in resumed.stderr
        assert _rows(state, fake.url)[: len(kept)] == kept
        doc = json.loads((out / "report.json").read_text())
        expected = figures(reference(store_settings(fake.url, tmp_path / "unused"), date(2025, 4, 10)))
        for key in ("warnings", "sources", "generated_at"):
            doc.pop(key)
            expected.pop(key, None)
        assert doc == expected


def test_verify_names_the_day_that_differs_and_rebuild_from_reads_it_again(tmp_path):
    rows = history_rows(date(2025, 9, 1), date(2025, 9, 12))
    state = tmp_path / "state"
    with running_service(FakeTradingService(trades=rows)) as fake:
        env = _env(fake.url, state)
        assert run_report("--date", "2025-09-10", "--dry-run", "--output", str(tmp_path / "a"), env=env).returncode == 0
        assert run_report("verify", "--from", "2025-09-01", "--to", "2025-09-10", env=env).returncode == 0
        target = next(r for r in fake.trades if r["timestamp"].startswith("2025-09-05T12"))
        target["price"] = target["price"] * 1.5
        proc = run_report("verify", "--from", "2025-09-04", "--to", "2025-09-06", env=env)
        assert proc.returncode == 1
        lines = proc.stdout.strip().splitlines()
        assert lines[0].startswith("2025-09-04  same ") and lines[2].startswith("2025-09-06  same ")
        assert lines[1].startswith("2025-09-05  differs     service 72 fills, stored 72")
        assert lines[-1] == "3 day(s): 2 as stored or not stored, 1 differ"
        assert proc.stderr.strip().splitlines()[-1] == (
            "report: error: 1 stored day(s) differ from the trading service (2025-09-05): "
            "run 'report --rebuild-from 2025-09-05' to read them again"
        )
        out = tmp_path / "b"
        fixed = run_report("--date", "2025-09-11", "--rebuild-from", "2025-09-05", "--dry-run", "--output", str(out),
                           env=env)  # fmt: skip
        assert fixed.returncode == 0, fixed.stderr
        assert run_report("verify", "--from", "2025-09-01", "--to", "2025-09-11", env=env).returncode == 0
        doc = json.loads((out / "report.json").read_text())
        ref = json.loads(report_json.dumps(reference(store_settings(fake.url, state), date(2025, 9, 11))))
        assert doc["daily"] == ref["daily"] and doc["totals"] == ref["totals"]
        bad = run_report("--date", "2025-09-11", "--rebuild", "--rebuild-from", "2025-09-05", "--dry-run", env=env)
        assert bad.returncode == 2 and "exclude each other" in bad.stderr


def _check(url: str, state: Path, now: datetime) -> str:
    with httpx.Client(timeout=5) as http:
        (line,) = store_lines(store_settings(url, state), http, now, 5.0)
    return line.render()


def test_check_compares_yesterday_with_the_store(tmp_path):
    rows = history_rows(date(2025, 7, 1), date(2025, 7, 12), skip=(date(2025, 7, 11),))
    state = tmp_path / "state"
    with running_service(FakeTradingService(trades=rows)) as fake:
        assert _check(fake.url, state, datetime(2025, 7, 11, 8, tzinfo=UTC)).startswith("ok   store of closed days")
        assert run_report("--date", "2025-07-10", "--dry-run", "--output", str(tmp_path / "o"),
                          env=_env(fake.url, state)).returncode == 0  # fmt: skip
        line = _check(fake.url, state, datetime(2025, 7, 11, 8, tzinfo=UTC))
        assert line.startswith("ok ") and "10 day(s) stored, 2025-07-01 to 2025-07-10" in line
        assert "2025-07-10: the service returns 72 fills, stored 72" in line
        quiet = _check(fake.url, state, datetime(2025, 7, 12, 8, tzinfo=UTC))
        assert quiet.startswith("WARN") and "no fill on 2025-07-11 after fills on each of the 5 days before" in quiet
        fake.database_down = True
        down = _check(fake.url, state, datetime(2025, 7, 11, 8, tzinfo=UTC))
        assert down.startswith("FAIL") and "returns 0 fills for 2025-07-10, the stored copy has 72" in down


def test_a_full_disk_keeps_the_stored_days_and_says_what_to_do(tmp_path, small_disk):
    rows = history_rows(date(2025, 8, 1), date(2025, 8, 8))
    state = small_disk.path / "state"
    with running_service(FakeTradingService(trades=rows)) as fake:
        env = _env(fake.url, state)
        out = ["--dry-run", "--output", str(tmp_path / "out")]
        assert run_report("--date", "2025-08-05", *out, env=env).returncode == 0
        kept = _rows(state, fake.url)
        small_disk.fill()
        proc = run_report("--date", "2025-08-07", *out, env=env)
        assert proc.returncode == 1
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("report: error: cannot use the store of closed days ") and "free space" in last
        assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
        assert _rows(state, fake.url) == kept and not list((state / "store").glob("*.unusable"))
        small_disk.free()
        assert run_report("--date", "2025-08-07", *out, env=env).returncode == 0
        assert [d for d, _ in _rows(state, fake.url)][-1] == "2025-08-07"
        fresh = small_disk.path / "fresh"
        small_disk.fill()
        first = run_report("--date", "2025-08-07", *out, env=_env(fake.url, fresh))
        assert first.returncode == 1 and "cannot use the store of closed days" in first.stderr.strip().splitlines()[-1]
