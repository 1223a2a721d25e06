"""No credential in a URL setting is ever shown (issue 12): not in ``report check``, error lines, logs at any
level (text or JSON), the backfill table, the artifacts, the records, nor the chats."""

from __future__ import annotations

import io
import logging
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from factories import make_row, report_env
from fake_telegram import FakeChat, FakeTelegram
from fake_trading import FakeTradingService, running_service

from reports.errors import FetchError
from reports.logs import setup_logging
from reports.redact import redact_text, redact_url, register, url_secrets
from reports.sources.http import get_json

TOKEN = "7000000012:AAHredactTOKENredactTOKENredact12345"
CHAT = -1001000000001
# One password per URL setting, so that a leak names the setting it came from.
PASSWORDS = {
    "TRADING_SERVICE_URL": "hunter2-trading",
    "PROMETHEUS_URL": "pr0m-b4sic-auth",
    "PUSHGATEWAY_URL": "push%40gw-pass",  # percent-encoded in the URL: "push@gw-pass" decoded
    "TELEGRAM_API_URL": "tg-proxy-secret",
}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://admin:hunter2@127.0.0.1:9/api/trades/history", "http://***@127.0.0.1:9/api/trades/history"),
        ("https://user@prometheus:9090", "https://***@prometheus:9090"),
        ("https://prometheus:9090/api?query=up&token=abc", "https://prometheus:9090/api?query=up&token=***"),
        ("http://h/p?api_key=1&X-Amz-Signature=2&password=3&auth=4&Secret=5&n=6", None),
        ("http://h/p?access_token=a#frag", "http://h/p?access_token=***#frag"),
        ("http://a:b@h:1/p?key=k", "http://***@h:1/p?key=***"),
        ("http://trading:8080", "http://trading:8080"),
        ("no url at all", "no url at all"),
    ],
)
def test_redact_url(url: str, shown: str | None) -> None:
    out = redact_url(url)
    if shown is not None:
        assert out == shown
    else:
        assert out == "http://h/p?api_key=***&X-Amz-Signature=***&password=***&auth=***&Secret=***&n=6"
    assert redact_url(out) == out


def test_redact_text_finds_urls_in_lines_and_remembered_secrets_anywhere() -> None:
    line = "the trading service at http://admin:hunter2x@127.0.0.1:9/api could not connect; 'http://u:v@h/'"
    assert redact_text(line) == ("the trading service at http://***@127.0.0.1:9/api could not connect; 'http://***@h/'")
    register(*url_secrets("http://push:gateway-pw%21@127.0.0.1:9091"), *url_secrets(None))
    assert redact_text("InvalidURL: nonnumeric port: 'gateway-pw%21@127.0.0.1:9091'") == (
        "InvalidURL: nonnumeric port: '***@127.0.0.1:9091'"
    )
    assert redact_text("decoded: gateway-pw!") == "decoded: ***"


def dead_url(userinfo: str = "", query: str = "") -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://{userinfo}127.0.0.1:{port}{query}"


def test_http_errors_name_the_url_without_credentials() -> None:
    url = dead_url("admin:hunter2@", "/api/trades/history?token=abcdef&limit=5")
    with httpx.Client() as http, pytest.raises(FetchError) as caught:
        get_json(http, url, what="the trading service", attempts=1)
    assert str(caught.value).startswith("the trading service at http://***@127.0.0.1:")
    assert "token=***&limit=5" in str(caught.value)
    assert "hunter2" not in str(caught.value) and "abcdef" not in str(caught.value)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_log_lines_at_every_level_and_tracebacks_lose_credentials(fmt: str) -> None:
    stream = io.StringIO()
    # setup_logging sets levels (the root's, the libraries'): put them back for the tests that follow.
    levels = {name: logging.getLogger(name).level for name in ("", *logging.root.manager.loggerDict)}
    handler = setup_logging(fmt=fmt, verbose=True, stream=stream)
    try:
        log = logging.getLogger("some.library")
        url = "http://user:lib-pass-1@host:1/x?signature=lib-sig-2"
        log.debug("GET %s", url)
        log.info("GET %s", url)
        log.warning("retrying %s", url)
        try:
            raise RuntimeError(f"boom at {url}")
        except RuntimeError:
            log.exception("failed")
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    text = stream.getvalue()
    assert text.count("http://***@host:1/x?signature=***") >= 4
    assert "lib-pass-1" not in text and "lib-sig-2" not in text


# -- the real command, with credentials in every URL setting ---------------------------------------------


class Stack:
    """The fakes behind the URL settings, and the environment that names them with credentials."""

    def __init__(self, telegram: FakeTelegram, env: dict[str, str]) -> None:
        self.telegram, self.env = telegram, env

    def chats(self) -> str:
        """Everything the chat got: every message kept by the fake Bot API, and every uploaded file."""
        texts = [repr(m) for chat in self.telegram.messages.values() for m in chat.values()]
        files = [data.decode("utf-8", errors="replace") for c in self.telegram.calls for _, data in c.files.values()]
        return "\n".join(texts + files)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    rows = [make_row(minutes=17 * i, agent_id=f"agent-{i % 3}", price=100 + i, side="BUY") for i in range(6)]
    rows += [make_row(minutes=600 + 17 * i, agent_id=f"agent-{i % 3}", price=110 + i, side="SELL") for i in range(6)]
    with FakeTelegram(TOKEN, [FakeChat(CHAT)]) as telegram, running_service(FakeTradingService(trades=rows)) as fake:
        env = report_env()
        env |= {
            "TRADING_SERVICE_URL": fake.url.replace("http://", f"http://admin:{PASSWORDS['TRADING_SERVICE_URL']}@"),
            "PROMETHEUS_URL": dead_url(f"prom:{PASSWORDS['PROMETHEUS_URL']}@"),  # down: its warning is in the report
            "PUSHGATEWAY_URL": dead_url(f"push:{PASSWORDS['PUSHGATEWAY_URL']}@"),  # down: its warning is logged
            "TELEGRAM_API_URL": telegram.url.replace("http://", f"http://bot:{PASSWORDS['TELEGRAM_API_URL']}@"),
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_CHAT_ID": str(CHAT),
            "REPORT_STATE_DIR": str(tmp_path / "state"),
        }
        yield Stack(telegram, env)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reports", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_no_password_of_any_url_setting_is_shown_anywhere(stack: Stack, tmp_path: Path) -> None:
    env = stack.env
    shown: list[str] = []
    check = run(env, "check", "--verbose")
    shown += [check.stdout, check.stderr]
    assert "ok   trading service http://***@127.0.0.1:" in check.stdout, check.stdout
    assert "Telegram http://***@127.0.0.1:" in check.stdout and "Prometheus http://***@127.0.0.1:" in check.stdout

    sent = run(env, "--verbose", "--date", "2025-11-21", "--output", str(tmp_path / "sent"))
    shown += [sent.stdout, sent.stderr]
    assert sent.returncode == 0, sent.stderr
    assert "Prometheus at http://***@127.0.0.1:" in (tmp_path / "sent" / "report.json").read_text()
    assert "PUSHGATEWAY_URL" in sent.stderr  # its push failed, and the line says so without the password

    dead = env | {"TRADING_SERVICE_URL": dead_url(f"admin:{PASSWORDS['TRADING_SERVICE_URL']}@")}
    failed = run(dead, "--verbose", "--date", "2025-11-20", "--output", str(tmp_path / "failed"))
    shown += [failed.stdout, failed.stderr]
    assert failed.returncode == 1 and "the trading service at http://***@127.0.0.1:" in failed.stderr.splitlines()[-1]
    as_json = run(dead | {"REPORT_LOG_FORMAT": "json"}, "--verbose", "--date", "2025-11-19", "--dry-run")
    shown += [as_json.stdout, as_json.stderr]
    assert as_json.returncode == 1 and '"level": "error"' in as_json.stderr
    ranged = run(dead, "--from", "2025-11-18", "--to", "2025-11-19", "--dry-run", "--output", str(tmp_path / "range"))
    shown += [ranged.stdout, ranged.stderr]
    assert "http://***@127.0.0.1:" in ranged.stdout  # the table's detail column names the URL, redacted

    chats = stack.chats()
    assert "Prometheus at http://***@127.0.0.1:" in chats  # the report's warning, as the traders read it
    assert "could not be built" in chats and "http://***@127.0.0.1:" in chats  # the failure notice
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "report.html" for p in files) and any(p.parent.name == "telegram" for p in files)
    assert any(p.parent.parent.name == "deliveries" for p in files)  # the records, with the state folder
    shown += [p.read_bytes().decode("utf-8", errors="replace") for p in files]
    everything = "\n".join([*shown, chats])
    for setting, password in PASSWORDS.items():
        for form in {password, password.replace("%40", "@")}:
            assert form not in everything, f"the password of {setting} was shown"
