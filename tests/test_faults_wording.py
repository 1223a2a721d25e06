"""What the operator is told (issue 12): a malformed chat list before any request, the retry time actually
spent, and a user who blocked the bot."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from factories import FAST, GROUP, TOKEN, make_outbox, report_env
from fake_telegram import FakeChat, FakeTelegram
from fake_trading import FakeTradingService

from reports.delivery.deliver import DeliveryFailed, deliver
from reports.errors import UsageError
from reports.settings import ChatTarget, Secret, Settings, parse_chats

PRIVATE = 123456789


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("abc,,", "'abc'"),
        ("-1001000000001,,", "empty entry (number 2 of 3)"),
        ("-1001000000001,", "empty entry (number 2 of 2)"),
        (",5", "empty entry (number 1 of 2)"),
        ("5, ,6", "empty entry (number 2 of 3)"),
        ("12a", "'12a'"),
        ("@", "'@'"),
        ("@chan nel", "'@chan nel'"),
        ("-1001:x", "'-1001:x'"),
        ("-1001:", "'-1001:'"),
        ("-1001:-3", "'-1001:-3'"),
        (":7", "':7'"),
        ("٣٤", "'٣٤'"),  # digits, but not ASCII ones: not a chat id Telegram takes
        ("5:7:8", "'5:7:8'"),
    ],
)
def test_a_malformed_chat_list_is_a_usage_error_naming_the_entry(raw: str, named: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_chats(raw)
    assert named in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.exit_code == 2


def test_well_formed_chat_lists() -> None:
    assert parse_chats("") == parse_chats("  ") == ()
    assert parse_chats(" -1001000000001 , @sapphire_desk:7 ,42") == (
        ChatTarget("-1001000000001"),
        ChatTarget("@sapphire_desk", 7),
        ChatTarget("42"),
    )


def test_the_command_refuses_a_malformed_chat_list_before_any_request(
    trading: Callable[..., FakeTradingService], state_dir: Path
) -> None:
    service = trading()
    with FakeTelegram(TOKEN, [FakeChat(GROUP)]) as fake:
        env = report_env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_CHAT_ID="abc,,", TELEGRAM_API_URL=fake.url)
        env |= {"TRADING_SERVICE_URL": service.url, "REPORT_STATE_DIR": str(state_dir)}
        for args in (["--date", "2025-11-21"], ["check"], ["schedule"]):
            proc = subprocess.run(
                [sys.executable, "-m", "reports", *args], env=env, capture_output=True, text=True, timeout=60
            )
            assert proc.returncode == 2, proc.stderr
            assert proc.stderr.strip().splitlines() == [
                "report: error: TELEGRAM_CHAT_ID entry 'abc' is malformed: use a chat id (e.g. -1001234567890) or "
                "@channelname, optionally :THREAD (a topic number), comma-separated"
            ]
        assert fake.requests == [] and service.requests == []


def test_the_give_up_line_states_the_retry_time_actually_spent(tmp_path: Path) -> None:
    with FakeTelegram(TOKEN, [FakeChat(GROUP)]) as fake:
        settings = Settings(
            telegram_bot_token=Secret(TOKEN),
            telegram_chats=(ChatTarget(str(GROUP)),),
            telegram_api_url=fake.url,
            state_dir=tmp_path,
        )
        fake.fail("sendDocument", 503, times=1000)
        # A budget of 3 s with waits 0.4, 0.8, 1.6: the next wait would overrun it, so retrying stops near 2.8 s.
        policy = replace(FAST, retry_budget=3.0, backoff_initial=0.4, backoff_max=10.0)
        with pytest.raises(DeliveryFailed) as caught:
            deliver(make_outbox(), settings, policy=policy)
        attempts = fake.attempts("sendDocument")
    line = str(caught.value)
    said = re.search(r"still failing after ([0-9.]+) s of retries \((\d+) tries\)", line)
    assert said, line
    spent = attempts[-1].at - attempts[0].at
    assert float(said.group(1)) == pytest.approx(spent, abs=0.25)
    assert int(said.group(2)) == len(attempts) == 4
    assert "3 s" not in line  # the budget is not what was spent


def test_a_user_who_blocked_the_bot_is_told_so(tmp_path: Path) -> None:
    chats = [FakeChat(GROUP), FakeChat(PRIVATE, title="", type="private", bot_status="blocked")]
    with FakeTelegram(TOKEN, chats) as fake:
        settings = Settings(
            telegram_bot_token=Secret(TOKEN),
            telegram_chats=(ChatTarget(str(PRIVATE)), ChatTarget(str(GROUP))),
            telegram_api_url=fake.url,
            state_dir=tmp_path,
        )
        with pytest.raises(DeliveryFailed) as caught:
            deliver(make_outbox(), settings, policy=FAST)
        assert {c.chat_id for c in fake.calls_of("sendMessage")} == {GROUP}  # the other chat got its report
    line = str(caught.value)
    assert f"the bot was blocked by the user of private chat {PRIVATE}" in line, line
    assert "not a member" not in line and "unblock" in line
