"""Logs: JSON lines that parse one by one, the report date and run id on every line of a run, never a token."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from factories import report_env
from fake_telegram import FakeTelegram

from reports import redact
from reports.logs import run_context, setup_logging

TOKEN = "7000000004:AAHlogsTOKENlogsTOKENlogsTOKENlogs12"
CHAT = -1001000000001


def report(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reports", *args], env=report_env(**env), capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """The root logger writing into a string; its handlers and every logger's level restored afterwards
    (setup_logging turns the libraries down: a later test may want their debug lines)."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    levels = {name: logging.getLogger(name).level for name in ("", *logging.root.manager.loggerDict)}
    buffer = io.StringIO()
    yield buffer
    root.handlers[:] = handlers
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_json_logs_parse_line_by_line_with_date_and_run_id(tmp_path: Path):
    proc = report("--demo", "--date", "2025-11-21", "--output", str(tmp_path), env={"REPORT_LOG_FORMAT": "json"})
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stderr.splitlines()]
    assert len(lines) >= 2
    for line in lines:
        assert set(line) >= {"ts", "level", "logger", "message", "report_date", "run_id"}
        assert line["report_date"] == "2025-11-21"
    assert len({line["run_id"] for line in lines}) == 1 and lines[0]["run_id"]


def test_json_failure_is_one_json_line(tmp_path: Path):
    proc = report("--date", "2025-11-21", env={"REPORT_LOG_FORMAT": "json"})
    assert proc.returncode == 2
    (line,) = [json.loads(x) for x in proc.stderr.splitlines()]
    assert line["level"] == "error" and line["message"].startswith("report: error: TELEGRAM_BOT_TOKEN is not set")


def test_backfill_days_each_have_their_date_and_their_own_run_id(tmp_path: Path):
    proc = report(
        "--demo", "--from", "2025-11-20", "--to", "2025-11-21", "--output", str(tmp_path),
        env={"REPORT_LOG_FORMAT": "json"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    fetched = [r for r in records if r["message"].startswith("fetched")]
    # The days are built side by side (--workers): their lines come in the order the days happen to run.
    assert sorted(r["report_date"] for r in fetched) == ["2025-11-20", "2025-11-21"]
    assert fetched[0]["run_id"] != fetched[1]["run_id"]


def test_text_lines_carry_the_run_context(stream: io.StringIO):
    setup_logging(fmt="text", stream=stream)
    log = logging.getLogger("reports.test")
    log.info("outside")
    with run_context(date(2025, 11, 21), "abc123") as rid:
        log.info("inside")
    first, second = stream.getvalue().splitlines()
    assert first.endswith(" INFO outside")
    assert second.endswith(" INFO [2025-11-21 abc123] inside") and rid == "abc123"


def test_the_context_reaches_log_lines_of_asyncio_tasks(stream: io.StringIO):
    # Delivery runs under asyncio.run: its lines must still say which report and run they belong to.
    setup_logging(fmt="json", stream=stream)

    async def deliver() -> None:
        await asyncio.sleep(0)
        logging.getLogger("reports.delivery.deliver").info("sent")

    with run_context(date(2025, 11, 21)) as rid:
        asyncio.run(deliver())
    (line,) = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert (line["report_date"], line["run_id"]) == ("2025-11-21", rid)


def test_the_token_is_scrubbed_from_message_arguments_and_tracebacks(stream: io.StringIO):
    redact.register(TOKEN, "admin-secret-value")  # as the settings do when they are loaded
    setup_logging(fmt="json", stream=stream)
    log = logging.getLogger("reports.test")
    log.info("url http://api/bot%s/getMe", TOKEN)
    log.warning(f"admin token admin-secret-value in an f-string, and {TOKEN}")
    try:
        raise RuntimeError(f"failed at /bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("with a traceback")
    log.info("a token-shaped string not configured: 1234567:%s", "B" * 35)
    out = stream.getvalue()
    assert TOKEN not in out and "admin-secret-value" not in out and "B" * 35 not in out
    records = [json.loads(x) for x in out.splitlines()]
    assert records[0]["message"] == "url http://api/bot***/getMe"
    assert "***/sendMessage" in records[2]["exc"]
    assert records[3]["message"] == "a token-shaped string not configured: ***"


def test_a_library_logging_the_bot_url_is_scrubbed(stream: io.StringIO):
    # httpx logs each request line with its URL, which holds the token; even turned up to INFO, never the token.
    redact.register(TOKEN)
    setup_logging(fmt="text", verbose=True, stream=stream)
    logging.getLogger("httpx").setLevel(logging.INFO)
    with FakeTelegram(TOKEN) as telegram:
        httpx.post(f"{telegram.url}/bot{TOKEN}/getMe", timeout=5).raise_for_status()
    out = stream.getvalue()
    assert "HTTP Request: POST" in out and "/bot***/getMe" in out
    assert TOKEN not in out


def test_a_verbose_send_never_logs_the_token(tmp_path: Path):
    with FakeTelegram(TOKEN) as telegram:
        env = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_CHAT_ID": str(CHAT),
            "TELEGRAM_API_URL": telegram.url,
            "REPORT_STATE_DIR": str(tmp_path / "state"),
            "REPORT_LOG_FORMAT": "json",
        }
        proc = report(
            "--demo", "--send", "--date", "2025-11-21", "--output", str(tmp_path / "out"), "--verbose", env=env
        )
        sent = len(telegram.calls_of("sendDocument"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sent == 1
    assert TOKEN not in proc.stderr and TOKEN not in proc.stdout
    lines = [json.loads(x) for x in proc.stderr.splitlines()]
    assert any(line["level"] == "debug" for line in lines)  # verbose really was on
    for artifact in (tmp_path / "out").rglob("*"):
        if artifact.is_file() and artifact.suffix in (".json", ".html"):
            assert TOKEN not in artifact.read_text(encoding="utf-8")
