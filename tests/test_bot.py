"""``report bot`` as a real process, against the fake Bot API (long polling) and the fake trading service.

One bot serves the module's desk (a forum supergroup, answers in topic 7); the CLI is run on the same data to
compare the figures. Other tests start their own bot: users restricted, two instances, SIGTERM during a build.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from bot_harness import BotProcess, answer, desk_rows, noon_zone, text_of, wait_for
from factories import report_env, run_report
from fake_telegram import USER_ID, FakeChat, FakeTelegram, parse_html
from fake_trading import FakeTradingService, running_service

from reports.bot.commands import COMMANDS
from reports.presentation.bot_text import fmt_price
from reports.presentation.fmt import fmt_pnl, fmt_qty

TOKEN = "7000000014:AAHbotTOKENbotTOKENbotTOKENbotTOKEN14"
SECRET = TOKEN.split(":")[1]
DESK = -1001000000001  # allowed: TELEGRAM_CHAT_ID; a forum, the desk writes in topic 7
TOPIC = 7
FOREIGN = -1002000000002  # the bot is a member there, but it is not an allowed chat
DESK2, DESK3 = -1001000000003, -1001000000004  # allowed too (TELEGRAM_ALLOWED_CHATS)
STRANGER = 555  # a user the desk's chat does not list when users are restricted
_GENERATED = re.compile(r"generated \d{4}-\d\d-\d\d \d\d:\d\d \S+", re.IGNORECASE)  # the page says "Generated"
_AS_OF = re.compile(r"as of \d\d:\d\d")


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("desk")
    zone = noon_zone()
    today = datetime.now(ZoneInfo(zone)).date()
    chats = [FakeChat(DESK, is_forum=True, topics={TOPIC}), FakeChat(FOREIGN, title="Strangers")]
    chats += [FakeChat(DESK2, title="Desk 2"), FakeChat(DESK3, title="Desk 3")]
    with (
        running_service(FakeTradingService(trades=desk_rows(zone))) as service,
        FakeTelegram(TOKEN, chats, max_per_minute=10_000) as telegram,
    ):
        env = report_env(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_CHAT_ID=str(DESK),
            TELEGRAM_ALLOWED_CHATS=f"{DESK},{DESK2},{DESK3}",
            TELEGRAM_API_URL=telegram.url,
            TRADING_SERVICE_URL=service.url,
            REPORT_TIMEZONE=zone,
            REPORT_STATE_DIR=str(tmp / "state"),
        )
        bot = BotProcess(env, tmp / "bot.log", "--verbose")
        try:
            bot.wait_polling(telegram)
            yield SimpleNamespace(
                bot=bot, telegram=telegram, service=service, env=env, tmp=tmp, zone=zone, today=today, cli_logs=[]
            )
        finally:
            status = bot.stop()
        assert status == 0, bot.log()[-3000:]


def _cli(desk, *args: str, state: str | None = None) -> subprocess.Popen:
    """``report ARGS`` on the desk's data (with a store of its own, unless ``state`` is given), started in the
    background so that it runs while the bot answers; :func:`_done` waits for it."""
    env = {k: v for k, v in desk.env.items() if k.startswith(("TRADING_", "REPORT_TIMEZONE", "TELEGRAM_"))}
    env = report_env(REPORT_STATE_DIR=state or str(desk.tmp / "cli-state"), **env)
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.Popen([sys.executable, "-m", "reports", *args], env=env, cwd=desk.tmp, text=True, **pipes)


def _done(desk, proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    desk.cli_logs.append(out + err)
    assert proc.returncode == 0, err
    return out


def _cli_calls(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((folder / "telegram").glob("*.json"))]


def _normal(text: str) -> str:
    return _AS_OF.sub("as of HH:MM", _GENERATED.sub("generated ...", text))


def _same_as_cli(replies, folder: Path, *, html: bool = True) -> None:
    """The bot's answer is the CLI's report: the same summary, album and document (and report.html byte for
    byte but the time it was made, unless ``html`` is False: the day so far's intraday chart ends at its own now)."""
    calls = _cli_calls(folder)
    summary = [_normal(parse_html(c["params"]["text"])[0]) for c in calls if c["method"] == "sendMessage"]
    assert [_normal(text_of(c)) for c in replies if c.method == "sendMessage"] == summary
    album = [len(c["params"]["media"]) for c in calls if c["method"] == "sendMediaGroup"]
    assert [len(c.result) for c in replies if c.method == "sendMediaGroup"] == album
    caption = [_normal(parse_html(c["params"]["caption"])[0]) for c in calls if c["method"] == "sendDocument"]
    assert [_normal(c.result["caption"]) for c in replies if c.method == "sendDocument"] == caption
    sent = [c.files["document"] for c in replies if c.method == "sendDocument"]
    assert [name for name, _ in sent] == ["report.html"]
    if html:
        assert _normal(sent[0][1].decode()) == _normal((folder / "report.html").read_text())


def _ask(desk, text: str, **kw):
    return desk.telegram.command(DESK, text, thread=TOPIC, **kw)


def test_report_of_a_day_is_the_cli_s_report_as_replies_in_the_topic(desk):
    day = desk.today - timedelta(days=3)
    out = desk.tmp / "cli-day"
    cli = _cli(desk, "--date", day.isoformat(), "--dry-run", "--output", str(out))
    asked = _ask(desk, f"/report {day}")
    replies = answer(desk.telegram, asked, document=True)
    assert [c.method for c in replies][-2:] == ["sendMediaGroup", "sendDocument"]
    for call in replies:  # replies, in the same chat and topic
        results = call.result if isinstance(call.result, list) else [call.result]
        assert all(r["reply_to_message"]["message_id"] == asked["message_id"] for r in results)
        assert all(r["chat"]["id"] == DESK and r["message_thread_id"] == TOPIC for r in results)
    _done(desk, cli)
    _same_as_cli(replies, out)


def test_week_is_the_cli_s_week(desk):
    out = desk.tmp / "cli-week"
    cli = _cli(desk, "--period", "week", "--dry-run", "--output", str(out))
    replies = answer(desk.telegram, _ask(desk, "/week"), document=True)
    _done(desk, cli)
    _same_as_cli(replies, out)
    assert "weekly report" in text_of(replies[0])


@pytest.fixture(scope="module")
def today_cli(desk):
    out = desk.tmp / "cli-today"
    return SimpleNamespace(out=out, proc=_cli(desk, "--today", "--output", str(out)), done=False)


def _today(desk, today_cli) -> Path:
    if not today_cli.done:
        _done(desk, today_cli.proc)
        today_cli.done = True
    return today_cli.out


def test_today_is_the_cli_s_day_so_far(desk, today_cli):
    replies = answer(desk.telegram, _ask(desk, "/today"), document=True)
    today_cli = _today(desk, today_cli)
    first = text_of(replies[0]).splitlines()[0]
    assert re.fullmatch(rf"⏳ The day so far, as of \d\d:\d\d {re.escape(desk.zone)}, not final", first)
    _same_as_cli(replies, today_cli, html=False)
    doc = json.loads((today_cli / "report.json").read_text())
    assert doc["period"]["kind"] == "partial" and doc["totals"]["trades"] > 0


def test_positions_are_the_cli_s_open_positions_now(desk, today_cli):
    (reply,) = answer(desk.telegram, _ask(desk, "/positions"))
    today_cli = _today(desk, today_cli)
    shown = [line for line in text_of(reply).splitlines() if line.startswith("• ")]
    doc = json.loads((today_cli / "report.json").read_text())
    wanted = [
        f"• {p['symbol']} {fmt_qty(p['quantity'])} · avg {fmt_price(p['avg_entry_price'])} · mark "
        f"{fmt_price(p['mark_price'])} · {fmt_pnl(p['unrealized_pnl'])}"
        for a in doc["agents"]
        for p in a["open_positions"]
    ]
    assert wanted and sorted(shown) == sorted(wanted)
    assert text_of(reply).startswith("📍 Open positions · as of ")


def test_status_says_what_was_delivered_when_the_next_run_is_and_each_source(desk):
    day = desk.today - timedelta(days=1)
    state = desk.env["REPORT_STATE_DIR"]
    _done(desk, _cli(desk, "--date", day.isoformat(), state=state))  # the daily delivery, for real
    records = sorted((Path(state) / "deliveries").rglob("*.json"))
    before = {p: p.read_bytes() for p in records}
    check = _cli(desk, "check", state=state)
    (reply,) = answer(desk.telegram, _ask(desk, "/status"))
    text = text_of(reply)
    check_out = _done(desk, check)
    assert re.search(rf"Last report delivered: {day}, at {day + timedelta(days=1)} \d\d:\d\d \S+, to 1 chat\n", text)
    assert re.search(r"Next scheduled run: \d{4}-\d\d-\d\d 00:05 \S+ \(report \d{4}-\d\d-\d\d\)", text)
    links = [line.split(": ", 1)[0] for line in check_out.splitlines()]
    shown = [line.split(" ", 1)[1].split(": ", 1)[0] for line in text.splitlines() if line and line[0] in "✅⚠❌"]
    assert shown == links and len(links) >= 8
    trading = [line for line in check_out.splitlines() if "/healthz" in line]
    assert trading and all(line in text for line in trading)
    assert {p: p.read_bytes() for p in records} == before  # the bot reads the delivery records, never writes them


def test_help_lists_the_commands_registered_with_set_my_commands(desk):
    (reply,) = answer(desk.telegram, _ask(desk, "/help"))
    names = [name for name, _ in COMMANDS]
    assert [c["command"] for c in desk.telegram.commands] == names
    assert all(f"/{name} — " in text_of(reply) for name in names)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("/report 2025-13-45", "'2025-13-45' is not a valid calendar date: use /report YYYY-MM-DD"),
        ("/report yesterday", "'yesterday' is not a date: use /report YYYY-MM-DD"),
        ("/report 2099-01-01", "2099-01-01 has not ended yet in "),
        ("/week 2099-01-01", "the week 2098-12-29..2099-01-04 has not ended yet in "),
        ("/report 2001-01-01", "2001-01-01 is before the history, which starts on "),
        ("/frobnicate", "unknown command /frobnicate: the bot answers /today, /report [YYYY-MM-DD]"),
        ("/today please", "/today takes no argument"),
    ],
)
def test_bad_input_gets_one_line_saying_what_is_accepted(desk, text, needle):
    (reply,) = answer(desk.telegram, _ask(desk, text))
    line = text_of(reply)
    assert "\n" not in line and line.startswith(needle.split(" ")[0]) and needle in line, line
    assert "Traceback" not in desk.bot.log()


def test_two_quick_reports_in_one_chat_make_one_build_and_one_working_reply(desk):
    day = desk.today - timedelta(days=4)
    first, second = _ask(desk, f"/report {day}"), _ask(desk, f"/report {day}")
    replies = answer(desk.telegram, first, document=True)
    (busy,) = answer(desk.telegram, second)
    assert text_of(busy) == f"⏳ working on the previous request (/report {day}): ask again once it is answered"
    assert len(desk.bot.lines(f"answered /report {day} ")) == 1
    assert [c.method for c in replies].count("sendDocument") == 1


def test_a_failed_build_replies_with_the_cli_s_one_line_reason(desk):
    day = desk.today - timedelta(days=5)
    answer(desk.telegram, _ask(desk, f"/report {day + timedelta(days=1)}"), document=True)  # the day is stored
    desk.service.fail("/api/trades/history", 422)  # not retried: the build fails at once
    asked = _ask(desk, f"/report {day}")
    # A stored day: its summary from the store first (no fill read), then the one line of the build that failed.
    wait_for(lambda: len(desk.telegram.replies_to(asked)) >= 2, 90, message="the summary and the failure")
    summary, reply = answer(desk.telegram, asked)  # and nothing more
    assert f"daily report · {day}" in text_of(summary)
    assert desk.bot.lines(f"summary of {day} from the store: no fill read")
    desk.service.fail("/api/trades/history", 422)
    cli = _cli(desk, "--date", day.isoformat(), "--dry-run", "--output", str(desk.tmp / "cli-failed"))
    out, err = cli.communicate(timeout=60)
    desk.cli_logs.append(out + err)
    assert cli.returncode == 1
    reason = err.strip().splitlines()[-1].removeprefix("report: error: ")
    assert "the trading service at http://127.0.0.1:" in reason
    assert text_of(reply) == f"⚠️ /report {day}: the album and report.html could not be built: {reason}"


def test_flood_control_and_5xx_are_handled_as_the_delivery_does(desk):
    t = desk.telegram
    t.fail("sendMessage", 429, retry_after=1)
    t.fail("sendMessage", 502)
    t.fail("getUpdates", 502, times=2)
    (reply,) = answer(t, _ask(desk, "/help"))
    assert "/today" in text_of(reply)
    desk.bot.wait_log("Telegram flood control: waiting 1 s before sendMessage")
    desk.bot.wait_log("failed (Bad Gateway); retrying in 1 s")
    answer(t, _ask(desk, "/help"))  # polling went on after its own 502s
    assert desk.bot.lines("getUpdates failed (NetworkError: Bad Gateway); retrying")


def test_three_chats_at_once_get_at_most_two_builds_at_a_time(desk):
    waiting = len(desk.bot.lines("waiting for a free build slot: 2 builds running"))
    asked = [_ask(desk, "/positions"), desk.telegram.command(DESK2, "/positions")]
    asked.append(desk.telegram.command(DESK3, "/positions"))
    for message in asked:
        (reply,) = answer(desk.telegram, message)
        assert text_of(reply).startswith("📍 Open positions")
    assert len(desk.bot.lines("waiting for a free build slot: 2 builds running")) == waiting + 1


def test_a_foreign_chat_and_every_other_kind_of_update_get_nothing(desk):
    t = desk.telegram
    asked = [t.command(FOREIGN, text) for text in ("/today", f"/report {desk.today - timedelta(days=2)}", "/week")]
    asked += [t.command(FOREIGN, text) for text in ("/positions", "/status", "/help")]
    t.edited(DESK, "/today")  # an edited command in the desk's own chat
    t.edited(FOREIGN, "/status")
    t.channel_post(FOREIGN, "/today")
    t.inline_query("today")
    t.callback_query(FOREIGN, "report")
    marker = _ask(desk, "/help")  # answered once everything before it was handled
    answer(t, marker)
    assert t.sent_to(FOREIGN) == [] and all(t.replies_to(m) == [] for m in asked)
    dropped = desk.bot.lines("dropped an update")
    for kind in ("message", "edited_message", "channel_post", "inline_query", "callback_query"):
        assert any(f"({kind})" in line for line in dropped), kind
    assert len([d for d in dropped if f"from chat {FOREIGN} user {USER_ID}: not an allowed chat" in d]) >= 8
    assert any(
        f"(edited_message) from chat {DESK} user {USER_ID}: only new messages are answered" in d for d in dropped
    )
    assert all(" INFO " in line for line in dropped)


def test_the_heartbeat_is_touched_after_each_polling_round(desk):
    beat = Path(desk.env["REPORT_STATE_DIR"]) / "bot" / "heartbeat"
    before = beat.stat().st_mtime_ns
    answer(desk.telegram, _ask(desk, "/help"))  # the round that brings the command ends, another begins
    wait_for(lambda: beat.stat().st_mtime_ns > before, 10, message="a newer heartbeat")
    assert datetime.now(UTC).timestamp() - beat.stat().st_mtime < 60


def test_zz_the_token_is_nowhere_in_what_was_captured_at_debug(desk):
    logs = [desk.bot.log(), *desk.cli_logs]
    assert "DEBUG" in logs[0]  # the bot ran with --verbose
    for text in logs:
        assert TOKEN not in text and SECRET not in text
    assert all(TOKEN not in r.path for r in desk.telegram.requests)
    assert "Traceback" not in logs[0]


def test_zzz_sigterm_while_an_answer_is_being_sent_lets_it_finish(desk):
    t = desk.telegram
    asked = _ask(desk, f"/report {desk.today - timedelta(days=6)}")
    wait_for(lambda: t.replies_to(asked), 60, message="the summary")  # the album and the document are still to come
    assert desk.bot.stop() == 0
    assert [c.method for c in t.replies_to(asked)][-2:] == ["sendMediaGroup", "sendDocument"]
    assert "SIGTERM: stopping; finishing the 1 answer(s) being sent (at most 20 s)" in desk.bot.log()


# ---- bots of their own ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def history():
    zone = noon_zone()
    with running_service(FakeTradingService(trades=desk_rows(zone))) as service:
        yield SimpleNamespace(service=service, zone=zone)


def _env(history, telegram, state: Path, **extra: str) -> dict[str, str]:
    return report_env(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_CHAT_ID=str(DESK),
        TELEGRAM_API_URL=telegram.url,
        TRADING_SERVICE_URL=history.service.url,
        REPORT_TIMEZONE=history.zone,
        REPORT_STATE_DIR=str(state),
        **extra,
    )


def test_with_users_restricted_a_stranger_in_the_desk_gets_nothing(tmp_path, history):
    with FakeTelegram(TOKEN, [FakeChat(DESK)], max_per_minute=10_000) as telegram:
        bot = BotProcess(
            _env(history, telegram, tmp_path / "state", TELEGRAM_ALLOWED_USERS=str(USER_ID)), tmp_path / "b"
        )
        try:
            bot.wait_polling(telegram)
            day = (datetime.now(UTC) - timedelta(days=2)).date()
            texts = ("/today", f"/report {day}", "/week", "/positions", "/status", "/help", "/nonsense")
            asked = [telegram.command(DESK, text, user_id=STRANGER) for text in texts]
            answer(telegram, telegram.command(DESK, "/help"))  # the allowed user: answered
            assert all(telegram.replies_to(m) == [] for m in asked)
            assert len(bot.lines(f"from chat {DESK} user {STRANGER}: not an allowed user")) == len(texts)
            assert bot.lines(f"user {STRANGER}: /") == []  # not even read as a command
        finally:
            assert bot.stop() == 0


def test_a_second_instance_beside_the_first_both_keep_running_and_a_command_is_answered_once(tmp_path, history):
    with FakeTelegram(TOKEN, [FakeChat(DESK)], max_per_minute=10_000) as telegram:
        first = BotProcess(_env(history, telegram, tmp_path / "one"), tmp_path / "one.log")
        second = None
        try:
            second = BotProcess(_env(history, telegram, tmp_path / "two"), tmp_path / "two.log")  # another host
            first.wait_polling(telegram)
            second.wait_polling(telegram)
            cause = "another instance is polling with this token (Telegram answered 409 Conflict"
            wait_for(lambda: first.lines(cause) or second.lines(cause), 30, message="the conflict warning")
            asked = [telegram.command(DESK, "/help") for _ in range(3)]
            for message in asked:
                answer(telegram, message)
            wait_for(lambda: telegram.conflicts >= 3, 30, message="the two polls taking turns")
            assert [len(telegram.replies_to(m)) for m in asked] == [1, 1, 1]
            assert first.alive() and second.alive()
            for bot in (first, second):  # at most once a minute
                assert len(bot.lines(cause)) <= 1 and "Traceback" not in bot.log()
        finally:
            statuses = [bot.stop() for bot in (first, second) if bot is not None]
        assert statuses == [0, 0]


def test_sigterm_during_a_build_ends_cleanly(tmp_path, history):
    slow = FakeTradingService(trades=history.service.trades, delay=1.0)
    with running_service(slow), FakeTelegram(TOKEN, [FakeChat(DESK)], max_per_minute=10_000) as telegram:
        env = _env(history, telegram, tmp_path / "state") | {"TRADING_SERVICE_URL": slow.url}
        bot = BotProcess(env, tmp_path / "bot.log", "--verbose")
        try:
            bot.wait_polling(telegram)
            asked = telegram.command(DESK, f"/report {(datetime.now(UTC) - timedelta(days=2)).date()}")
            (started,) = bot.wait_log("build process")
            pid = int(re.search(r"build process (\d+) started", started).group(1))
            wait_for(lambda: any(path == "/api/trades/history" for path, _ in slow.requests), 30)
        finally:
            status = bot.stop(timeout=20)
        assert status == 0
        log = bot.log()
        assert "SIGTERM: stopping; abandoning the build in progress, not answered: /report" in log
        assert "bot stopped" in log and "Traceback" not in log and "did not end on SIGTERM" not in log
        assert f"build process {pid} of /report ended (exit status -15)" in log
        assert telegram.replies_to(asked) == []
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_bad_settings_of_the_bot_exit_2_with_one_line(tmp_path):
    cases = [
        ({}, "TELEGRAM_BOT_TOKEN is not set"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN}, "TELEGRAM_ALLOWED_CHATS and TELEGRAM_CHAT_ID are not set"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_ALLOWED_CHATS": "-100,,7"}, "TELEGRAM_ALLOWED_CHATS="),
        (
            {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "-1", "TELEGRAM_ALLOWED_USERS": "bob"},
            "'bob' is malformed",
        ),
    ]
    for env, needle in cases:
        proc = run_report("bot", env=env)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr
        assert TOKEN not in proc.stderr


def test_the_noon_zone_of_the_fixtures():
    for hour in range(24):
        now = datetime(2025, 1, 1, hour, 30, tzinfo=UTC)
        assert now.astimezone(ZoneInfo(noon_zone(now))).hour == 12
