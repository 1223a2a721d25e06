"""The bot's parts without a process: reading commands, who is answered, answered updates, the records' view."""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from reports.bot.app import ReportBot
from reports.bot.commands import BadInput, Request, parse
from reports.bot.runtime import Claims
from reports.delivery.records import DeliveryStore, SentCall
from reports.delivery.status import last_delivered
from reports.models import AgentReport, OpenPosition
from reports.presentation.bot_text import fmt_price, positions_text
from reports.settings import ChatTarget, Secret, Settings

NOW = datetime(2025, 11, 22, 14, 5, tzinfo=UTC)  # a Saturday: the last complete week is 2025-11-10..16


def _parse(text: str, timezone: str = "UTC") -> Request | None:
    return parse(text, "sapphire_report_bot", timezone, NOW)


def test_commands_are_read_with_their_dates_resolved():
    assert _parse("/report") == Request("report", date(2025, 11, 21), "/report")
    assert _parse("/report 2025-11-01") == Request("report", date(2025, 11, 1), "/report 2025-11-01")
    assert _parse("/report@Sapphire_Report_Bot  2025-11-01").day == date(2025, 11, 1)
    assert _parse("/week").day == date(2025, 11, 16) and _parse("/week 2025-11-05").day == date(2025, 11, 9)
    assert _parse("/month").day == date(2025, 10, 31) and _parse("/month 2025-02-14").day == date(2025, 2, 28)
    assert _parse("/today") == Request("today", None, "/today") and _parse("/start").command == "help"
    assert _parse("/report", "Pacific/Kiritimati").day == date(2025, 11, 22)  # 04:05 on the 23rd there


@pytest.mark.parametrize("text", ["hello", "", "report", "/report@another_bot 2025-11-01", " /x@other_bot"])
def test_what_is_no_command_for_this_bot_is_left_alone(text):
    assert _parse(text) is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("/report 21.11.2025", "'21.11.2025' is not a date: use /report YYYY-MM-DD"),
        ("/report 2025-02-30", "'2025-02-30' is not a valid calendar date"),
        ("/report 2025-11-22", "2025-11-22 has not ended yet in UTC: /report takes a day up to 2025-11-21"),
        ("/month 2025-11-01", "the month 2025-11-01..2025-11-30 has not ended yet in UTC"),
        ("/week 2025-11-17", "the week 2025-11-17..2025-11-23 has not ended yet in UTC: /week takes a date in a week"),
        ("/report 2025-11-01 2025-11-02", "/report takes at most one date"),
        ("/positions all", "/positions takes no argument"),
        ("/trade BTCUSDT", "unknown command /trade: the bot answers /today, /report [YYYY-MM-DD]"),
    ],
)
def test_bad_input_is_one_line_saying_what_is_accepted(text, needle):
    with pytest.raises(BadInput) as err:
        _parse(text)
    assert needle in str(err.value) and "\n" not in str(err.value)


def _bot(**settings) -> ReportBot:
    base = {"telegram_bot_token": Secret("7000000001:AAHunitTOKENunitTOKENunitTOKENunit1")}
    return ReportBot(Settings(**(base | settings)), demo=True, verbose=False)


def _chat(id_: int, username: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(id=id_, username=username)


def test_only_the_allowed_chats_topics_and_users_are_answered():
    bot = _bot(
        telegram_allowed_chats=(ChatTarget("-1001"), ChatTarget("-1002", 7), ChatTarget("@desk_channel")),
        telegram_allowed_users=(42,),
    )
    user, stranger = SimpleNamespace(id=42), SimpleNamespace(id=43)
    assert bot._refused(_chat(-1001), user, None, "message") is None
    assert bot._refused(_chat(-1001), user, 9, "message") is None  # a whole chat: any topic
    assert bot._refused(_chat(-1002), user, 7, "message") is None
    assert bot._refused(_chat(-1002), user, 8, "message") == "not an allowed topic of the chat"
    assert bot._refused(_chat(-1002), user, None, "message") == "not an allowed topic of the chat"
    assert bot._refused(_chat(-1003, "Desk_Channel"), user, None, "message") is None
    assert bot._refused(_chat(-1004), user, None, "message") == "not an allowed chat"
    assert bot._refused(_chat(-1001), stranger, None, "message") == "not an allowed user"
    assert bot._refused(_chat(-1001), None, None, "channel_post") == "not an allowed user"
    assert bot._refused(None, user, None, "inline_query") == "inline queries are not answered"
    anyone = _bot(telegram_allowed_chats=(ChatTarget("-1001"),))
    assert anyone._refused(_chat(-1001), stranger, None, "message") is None


def test_the_allowed_chats_default_to_the_report_s_chats_whole():
    settings = Settings.from_env({"TELEGRAM_CHAT_ID": "-1001:7,@desk,-1001:9"})
    assert settings.telegram_allowed_chats == (ChatTarget("-1001"), ChatTarget("@desk"))
    assert settings.telegram_allowed_users == ()
    settings = Settings.from_env(
        {"TELEGRAM_CHAT_ID": "-1001", "TELEGRAM_ALLOWED_CHATS": "-1002:3", "TELEGRAM_ALLOWED_USERS": "5, 6,5"}
    )
    assert settings.telegram_allowed_chats == (ChatTarget("-1002", 3),) and settings.telegram_allowed_users == (5, 6)


def test_an_update_is_claimed_once_and_old_claims_go(tmp_path):
    first, second = Claims(tmp_path / "answered" / "7"), Claims(tmp_path / "answered" / "7")
    assert first.claim(10) and not second.claim(10) and not first.claim(10) and second.claim(11)
    old = tmp_path / "answered" / "7" / "3"
    old.touch()
    os.utime(old, (time.time() - 2 * Claims.KEEP,) * 2)
    Claims(tmp_path / "answered" / "7").claim(12)  # a new instance prunes at its first claim
    assert not old.exists() and (tmp_path / "answered" / "7" / "10").exists()
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert Claims(blocked / "answered").claim(1)  # claims cannot be written: answer anyway


def test_status_reads_the_last_complete_delivery_and_writes_nothing(tmp_path):
    assert last_delivered(tmp_path) is None
    store = DeliveryStore(tmp_path)
    for day, chats in ((date(2025, 11, 20), 2), (date(2025, 11, 21), 1)):
        for k in range(chats):
            record = store.new(day, ChatTarget(f"-100{k}"))
            record.calls["message:0"] = SentCall("sendMessage", [1], ["0" * 16])
            record.complete = True
            store.save(record)
    partial = store.new(date(2025, 11, 22), ChatTarget("-1000"))
    store.save(partial)  # a delivery that did not end: not the last delivered
    (tmp_path / "deliveries" / "2025-11-21" / "junk.json").write_text("{not json")
    files = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    done = last_delivered(tmp_path)
    assert (done.report_date, done.chats, done.records) == (date(2025, 11, 21), 1, 1)
    assert done.at is not None and done.at.tzinfo is not None
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == files
    assert last_delivered(tmp_path, "week") is None


def test_positions_show_signed_quantities_entries_marks_and_unrealized():
    def agent(agent_id: str, *positions: OpenPosition) -> AgentReport:
        return AgentReport(agent_id, None, positions, {}, (), name=None, emoji=None)  # type: ignore[arg-type]

    report = SimpleNamespace(
        day=SimpleNamespace(end=NOW, timezone="Europe/Berlin"),
        agents=(
            agent("a<b>", OpenPosition("BTCUSDT", -0.0125, 60123.456, 60000.0, 1.5432)),
            agent("quiet"),
            agent(
                "z",
                OpenPosition("DOGEUSDT", 1200.0, 0.3612345, 0.37, 10.5),
                OpenPosition("ETHUSDT", 2, 3000, 2990, -20),
            ),
        ),
    )
    (text,) = positions_text(report)  # type: ignore[arg-type]
    assert text.splitlines()[0] == "<b>📍 Open positions</b> · as of 2025-11-22 15:05 Europe/Berlin"
    assert "• BTCUSDT <code>−0.0125</code> · avg 60,123.46 · mark 60,000.00 · <b>+1.54</b>" in text
    assert "• DOGEUSDT <code>+1,200</code> · avg 0.361235 · mark 0.370000 · <b>+10.50</b>" in text
    assert "<b>a&lt;b&gt;</b> · unrealized +1.54 USDT" in text and "quiet" not in text
    assert text.index("<b>a&lt;b&gt;</b>") < text.index("<b>z</b>")  # best unrealized first
    assert "Total unrealized −7.96 USDT" in text
    assert fmt_price(150.1234) == "150.123" and fmt_price(0.0) == "0.00" and fmt_price(None) == "—"
