"""``report check`` against the fake trading service, the fake Bot API and a real Prometheus and Pushgateway,
with each link broken in turn: the line that names the broken link says so, the others do not change."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from factories import make_row, report_env
from fake_telegram import FakeChat, FakeTelegram
from fake_trading import FakeTradingService, running_service
from history_data import history_rows
from prometheus_client import CollectorRegistry, Gauge, push_to_gateway
from promstack import Server, start_prometheus, start_pushgateway

from reports.checks.lines import CheckLine, exit_status
from reports.checks.run import run_checks
from reports.settings import ChatTarget, Secret, Settings

TOKEN = "7000000003:AAHcheckTOKENcheckTOKENcheckTOKEN1234"
ADMIN = "admin-token-that-must-not-show"
CHAT = -1001000000001
CHANNEL = -1001000000002
KICKED = -1001000000003


@dataclass
class Stack:
    trading: FakeTradingService
    telegram: FakeTelegram
    prometheus: Server
    pushgateway: Server
    settings: Settings


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("check")
    gateway = start_pushgateway(work)
    prom = start_prometheus(work / "data", work, scrape=gateway.url.removeprefix("http://"))
    registry = CollectorRegistry()
    Gauge("portfolio_balance_usd", "equity", registry=registry).set(10_250.0)
    push_to_gateway(gateway.url, job="cloud-trader", registry=registry)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until Prometheus has scraped it
        body = httpx.get(f"{prom.url}/api/v1/query", params={"query": "portfolio_balance_usd"}, timeout=5).json()
        if body["data"]["result"]:
            break
        time.sleep(0.2)
    now = datetime.now(UTC)
    rows = [make_row(agent_id="vpin-hft", timestamp=now - timedelta(hours=3))]
    stamps = [int((now - timedelta(hours=h)).timestamp() * 1000) for h in (2, 10, 18)]
    events = [{"symbol": "BTCUSDT", "fundingTime": t, "fundingRate": "0.0001", "markPrice": "100.0"} for t in stamps]
    service = FakeTradingService(trades=rows, funding=events)
    chats = [FakeChat(CHAT), FakeChat(CHANNEL, type="channel"), FakeChat(KICKED, bot_status="kicked")]
    try:
        with running_service(service) as trading, FakeTelegram(TOKEN, chats) as telegram:
            settings = Settings(
                trading_service_url=trading.url,
                prometheus_url=prom.url,
                pushgateway_url=gateway.url,
                telegram_bot_token=Secret(TOKEN),
                telegram_chats=(ChatTarget(str(CHAT)),),
                telegram_api_url=telegram.url,
                timezone="Europe/Berlin",
                schedule="5 0 * * *",
                state_dir=work / "state",
            )
            yield Stack(trading, telegram, prom, gateway, settings)
    finally:
        prom.stop()
        gateway.stop()


def check(settings: Settings) -> list[CheckLine]:
    return list(run_checks(settings, timeout=3.0))


def test_everything_works(stack: Stack):
    lines = check(stack.settings)
    text = "\n".join(line.render() for line in lines)
    assert exit_status(lines) == 0, text
    by_link = {line.link: line for line in lines}
    trading = [line for line in lines if line.link.startswith("trading service")]
    assert [t.status for t in trading] == ["ok", "ok"]
    funding = [line for line in lines if line.link.startswith("funding")]
    assert [(f.status, f.text) for f in funding] == [("ok", "3 funding event(s) of BTCUSDT in the last 24 hours")]
    assert (
        trading[0].text == "/healthz: running=true paper_trading=true, last_error none"
        and "one page of fills: 1 read" in trading[1].text
    )
    assert by_link["admin token"].text.startswith("not configured (ADMIN_API_TOKEN unset)")
    assert by_link[f"Prometheus {stack.prometheus.url}"].text == "/-/ready: ready"
    assert by_link["Prometheus query equity"].status == "ok"
    assert by_link["Prometheus query equity"].text.startswith("data (1 series)")
    assert by_link["Prometheus query agent_errors"].status == "warn"
    assert "no data" in by_link["Prometheus query agent_errors"].text
    assert by_link[f"Pushgateway {stack.pushgateway.url}"].text == "ready"
    assert by_link[f"Telegram {stack.telegram.url}"].text.startswith("getMe: @sapphire_report_bot")
    assert "may post text, photos and documents" in by_link[f"Telegram chat {CHAT}"].text
    assert by_link[f"state folder {stack.settings.state_dir}"].text.startswith("writable")
    schedule = by_link["schedule '5 0 * * *' in Europe/Berlin"]
    assert schedule.status == "ok" and schedule.text.count("00:05 CE") == 3
    assert [line.link.split()[0] for line in lines if line.status == "ok"][:2] == ["trading", "trading"]
    assert TOKEN not in text


def _healthz_error(s: Stack) -> Settings:
    s.trading.health = s.trading.health | {"last_error": "Binance API timeout"}
    return s.settings


def _fills_500(s: Stack) -> Settings:
    s.trading.fail("/api/trades/history", 500)
    return s.settings


def _funding_503(s: Stack) -> Settings:
    s.trading.funding_status = 503
    return s.settings


def _admin_rejected(s: Stack) -> Settings:
    s.trading.fail("/api/exchange/income", 401)
    return dataclasses.replace(s.settings, admin_api_token=Secret(ADMIN))


def only_chat(s: Stack, chat: ChatTarget) -> Settings:
    return dataclasses.replace(s.settings, telegram_chats=(chat,))


Breaker = Callable[[Stack], Settings]
CASES: list[tuple[str, Breaker, str, str, str, int]] = [
    # (case, break it, link starts with, status, text contains, exit status)
    ("trading down", lambda s: dataclasses.replace(s.settings, trading_service_url=dead_url()),
     "trading service http://127.0.0.1", "fail", "/healthz: the trading service at", 1),
    ("healthz last_error", _healthz_error, "trading service", "warn", "last_error: 'Binance API timeout'", 0),
    ("fills 500", _fills_500, "trading service", "fail", "one page of fills: the trading service at", 1),
    ("no exchange connection", _funding_503, "funding http://127.0.0.1", "warn",
     "Exchange client not available after 1 try: the report goes out with funding 'unavailable'", 0),
    ("admin token rejected", _admin_rejected, "admin token", "fail", "rejected ADMIN_API_TOKEN (401)", 1),
    ("prometheus down", lambda s: dataclasses.replace(s.settings, prometheus_url=dead_url()),
     "Prometheus http://127.0.0.1", "warn", "/-/ready: could not connect (ConnectError)", 0),
    ("pushgateway down", lambda s: dataclasses.replace(s.settings, pushgateway_url=dead_url()),
     "Pushgateway", "warn", "could not connect", 0),
    ("telegram token rejected", lambda s: dataclasses.replace(s.settings, telegram_bot_token=Secret(TOKEN + "x")),
     "Telegram http://127.0.0.1", "fail", "getMe: 401 Unauthorized", 1),
    ("telegram down", lambda s: dataclasses.replace(s.settings, telegram_api_url=dead_url()),
     "Telegram http://127.0.0.1", "fail", "getMe: could not connect to TELEGRAM_API_URL", 1),
    ("chat not found", lambda s: only_chat(s, ChatTarget("-100999")),
     "Telegram chat -100999", "fail", "getChat: 400 Bad Request: chat not found", 1),
    ("bot kicked", lambda s: only_chat(s, ChatTarget(str(KICKED))),
     f"Telegram chat {KICKED}", "fail", "getChat: 403 Forbidden: bot was kicked", 1),
    ("channel without admin rights", lambda s: only_chat(s, ChatTarget(str(CHANNEL))),
     f"Telegram chat {CHANNEL}", "fail", "a channel needs the bot as administrator", 1),
    ("topic in a chat without topics", lambda s: only_chat(s, ChatTarget(str(CHAT), 7)),
     f"Telegram chat {CHAT}:7", "fail", "has no topics: remove ':7'", 1),
    ("state folder not writable", lambda s: dataclasses.replace(s.settings, state_dir=Path(__file__) / "state"),
     "state folder", "fail", "not writable", 1),
    ("bad schedule", lambda s: dataclasses.replace(s.settings, schedule="5 0 * *"),
     "schedule '5 0 * *'", "fail", "not a valid cron expression", 2),
]  # fmt: skip


@pytest.mark.parametrize(("case", "breaker", "link", "status", "needle", "code"), CASES, ids=[c[0] for c in CASES])
def test_each_broken_link_is_named(stack: Stack, case, breaker, link, status, needle, code):
    baseline = {(line.link.split(" http")[0], line.status) for line in check(stack.settings)}
    try:
        lines = check(breaker(stack))
    finally:
        stack.trading.health = {"running": True, "paper_trading": True, "last_error": None}
        stack.trading.failures.clear()
        stack.trading.funding_status = 200
    changed = [line for line in lines if (line.link.split(" http")[0], line.status) not in baseline]
    assert len(changed) == 1, [line.render() for line in changed]
    assert changed[0].link.startswith(link) and changed[0].status == status
    assert needle in changed[0].text, changed[0].render()
    assert exit_status(lines) == code
    rendered = "\n".join(line.render() for line in lines)
    assert TOKEN not in rendered and ADMIN not in rendered


def report(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``report ARGS`` with only the settings of ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "reports", *args], env=report_env(**env), capture_output=True, text=True, timeout=120
    )


def test_the_command_prints_each_line_and_ends_with_one_error_line(stack: Stack, tmp_path: Path):
    env = report_env()
    env |= {
        "TRADING_SERVICE_URL": stack.trading.url,
        "PROMETHEUS_URL": stack.prometheus.url,
        "PUSHGATEWAY_URL": stack.pushgateway.url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_CHAT_ID": f"{CHAT},{KICKED}",
        "TELEGRAM_API_URL": stack.telegram.url,
        "REPORT_STATE_DIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "reports", "check"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("ok   trading service") and lines[-1].startswith("ok   schedule '5 0 * * *' in UTC")
    assert f"FAIL Telegram chat {KICKED}: getChat: 403 Forbidden: bot was kicked" in proc.stdout
    assert proc.stderr.strip() == f"report: error: report check: not ready to send: Telegram chat {KICKED}"
    assert TOKEN not in proc.stdout + proc.stderr


def test_a_dead_service_is_tried_once_and_said_so(stack: Stack):
    (line, *_) = check(dataclasses.replace(stack.settings, trading_service_url=dead_url()))
    assert line.status == "fail"
    assert line.text.endswith("could not connect (ConnectError) after 1 try: check TRADING_SERVICE_URL and that the "
                              "service runs"), line.text  # fmt: skip


def test_no_fill_at_all_while_the_store_holds_history_fails_whatever_yesterday_held(stack: Stack, tmp_path: Path):
    """The real service with its database stopped answers 200 with no rows: yesterday (no fill, not stored) looks
    fine, but the service has lost the whole history the store holds, and the next run refuses."""
    rows = history_rows(date(2025, 7, 1), date(2025, 7, 8))
    state = tmp_path / "state"
    now = datetime(2025, 7, 11, 8, tzinfo=UTC)  # yesterday, 2025-07-10, had no fill
    with running_service(FakeTradingService(trades=rows)) as fake:
        env = {"TRADING_SERVICE_URL": fake.url, "REPORT_STATE_DIR": str(state)}
        stored = report("--date", "2025-07-08", "--dry-run", "--output", str(tmp_path / "out"), env=env)
        assert stored.returncode == 0, stored.stderr
        settings = dataclasses.replace(stack.settings, trading_service_url=fake.url, state_dir=state, timezone="UTC")
        assert exit_status(list(run_checks(settings, now=now, timeout=3.0))) == 0
        fake.database_down = True
        lines = list(run_checks(settings, now=now, timeout=3.0))
        refused = report("--date", "2025-07-10", "--dry-run", "--output", str(tmp_path / "again"), env=env)
    assert refused.returncode == 1 and "its database may be down" in refused.stderr  # the run the check foretells
    assert exit_status(lines) == 1
    failed = [line for line in lines if line.status == "fail"]
    assert [line.link for line in failed] == ["store of closed days"], [line.render() for line in lines]
    text = failed[0].text
    assert "8 day(s) stored, 2025-07-01 to 2025-07-08, " in text and f"{len(rows):,} fills;" in text
    assert "returns no fill at all before now: its database may be down" in text
    assert text.endswith("Check the service and its database, then run again; if fills were really removed "
                         "upstream, run the report with --rebuild-from 2025-07-01")  # fmt: skip
    trading = [line for line in lines if line.link.startswith("trading service")]
    assert trading[-1].status == "warn" and "no fill at all before now" in trading[-1].text


def test_no_fill_at_all_and_nothing_stored_is_a_new_service_not_a_failure(stack: Stack, tmp_path: Path):
    with running_service(FakeTradingService(database_down=True)) as fake:
        settings = dataclasses.replace(stack.settings, trading_service_url=fake.url, state_dir=tmp_path / "state")
        lines = check(settings)
    assert exit_status(lines) == 0, [line.render() for line in lines]
