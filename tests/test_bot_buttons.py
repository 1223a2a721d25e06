"""``report bot``'s buttons, /agent and /symbols, and the summary sent first, as a real process against the fake
Bot API (long polling, callback queries, inline keyboards checked like Telegram's) and the fake trading service.

One bot serves the desk (a forum, topic 7; only the desk's trader is an allowed user); the CLI is run on the same
data to compare the figures.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from bot_harness import BotProcess, answer, desk_rows, noon_zone, text_of, wait_for
from factories import report_env
from fake_telegram import USER_ID, Call, FakeChat, FakeTelegram
from fake_trading import FakeTradingService, running_service

from reports.presentation.bot_text import fmt_price
from reports.presentation.fmt import fmt_pct, fmt_pnl, fmt_qty

TOKEN = "7000000021:AAHbuttonsTOKENbuttonsTOKENbuttons21"
DESK = -1001000000001
TOPIC = 7
FOREIGN = -1002000000002  # the bot is a member there, but it is not an allowed chat
STRANGER = 555  # a member of the desk who is not an allowed user
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
DASHBOARD = {
    "agents": [
        {"id": "trend-momentum-agent", "name": "Trend Rider", "emoji": "📈"},
        {"id": "vpin-hft", "name": "VPIN Scalper", "emoji": "⚡"},
    ]
}


@pytest.fixture(scope="module")
def desk(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("buttons")
    zone = noon_zone()
    today = datetime.now(ZoneInfo(zone)).date()
    chats = [FakeChat(DESK, is_forum=True, topics={TOPIC}), FakeChat(FOREIGN, title="Strangers")]
    service = FakeTradingService(trades=desk_rows(zone), dashboard=DASHBOARD)
    with running_service(service), FakeTelegram(TOKEN, chats, max_per_minute=10_000) as telegram:
        env = report_env(
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_CHAT_ID=str(DESK),
            TELEGRAM_ALLOWED_USERS=str(USER_ID),
            TELEGRAM_API_URL=telegram.url,
            TRADING_SERVICE_URL=service.url,
            REPORT_TIMEZONE=zone,
            REPORT_STATE_DIR=str(tmp / "state"),
        )
        bot = BotProcess(env, tmp / "bot.log", "--verbose")
        try:
            bot.wait_polling(telegram)
            yield SimpleNamespace(bot=bot, telegram=telegram, service=service, env=env, tmp=tmp, today=today)
        finally:
            status = bot.stop()
        assert status == 0, bot.log()[-3000:]
        assert "Traceback" not in bot.log()
        (tmp / "exchange.txt").write_text("\n".join(telegram.exchange()) + "\n")


def _late_fill(rows: list[dict]) -> dict:
    """A fill a minute ago, like the others."""
    last = max(rows, key=lambda r: r["id"])
    when = datetime.now(UTC) - timedelta(minutes=1)
    return last | {"id": last["id"] + 1, "timestamp": when.isoformat(), "side": "BUY"}


def _ask(desk, text: str, **kw):
    return desk.telegram.command(DESK, text, thread=TOPIC, **kw)


def _cli_json(desk, *args: str) -> dict:
    """``report ARGS --output DIR`` on the desk's data with a store of its own; its report.json."""
    env = {k: v for k, v in desk.env.items() if k.startswith(("TRADING_", "REPORT_TIMEZONE", "TELEGRAM_"))}
    out = desk.tmp / ("cli-" + "-".join(a.strip("-") for a in args))
    env = report_env(REPORT_STATE_DIR=str(desk.tmp / "cli-state"), **env)
    proc = subprocess.run(
        [sys.executable, "-m", "reports", *args, "--output", str(out)],
        env=env,
        cwd=desk.tmp,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "report.json").read_text())


def _buttons(call: Call) -> list[tuple[str, str]]:
    rows = (call.result.get("reply_markup") or {}).get("inline_keyboard") or []
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


def _summary(replies: list[Call]) -> Call:
    """The summary's message that holds the buttons (its last part)."""
    return [c for c in replies if c.method == "sendMessage"][-1]


def _as_message(call: Call) -> dict:
    return call.result


def _press(desk, under: Call, data: str, *, user_id: int = USER_ID) -> int:
    return desk.telegram.callback_query(DESK, data, user_id=user_id, message_id=under.result["message_id"])


def _answers(desk, update_id: int, timeout: float = 30.0) -> list[Call]:
    return wait_for(lambda: desk.telegram.answered(update_id), timeout, message=f"answerCallbackQuery of {update_id}")


def _marker(desk) -> None:
    """A /help answered: every update before it was handled."""
    answer(desk.telegram, _ask(desk, "/help"))


def test_a_day_s_summary_has_previous_and_next_and_a_press_brings_that_day(desk):
    day = desk.today - timedelta(days=3)
    replies = answer(desk.telegram, _ask(desk, f"/report {day}"), document=True)
    summary = _summary(replies)
    before, after = day - timedelta(days=1), day + timedelta(days=1)
    assert _buttons(summary) == [(f"◀ {before}", f"report:{before}"), (f"{after} ▶", f"report:{after}")]
    assert [c.method for c in replies][-2:] == ["sendMediaGroup", "sendDocument"]
    for data, shown in ((f"report:{before}", before), (f"report:{after}", after)):
        pressed = _press(desk, summary, data)
        (answered,) = _answers(desk, pressed)
        assert not answered.params.get("text")  # an empty answer: the spinner stops, the report follows

        def brought(since: float = answered.at) -> list[Call]:
            return [c for c in desk.telegram.replies_to(_as_message(summary)) if c.at > since]

        wait_for(lambda: any(c.method == "sendDocument" for c in brought()), 90, message=f"the report of {shown}")
        calls = brought()
        assert [c.method for c in calls] == ["sendMessage", "sendMediaGroup", "sendDocument"]
        assert f"Sapphire daily report · {shown}" in text_of(calls[0])
        assert calls[0].result["message_thread_id"] == TOPIC  # in the topic, as a reply to the summary pressed
        assert _buttons(calls[0])[0] == (f"◀ {shown - timedelta(days=1)}", f"report:{shown - timedelta(days=1)}")


def test_no_forward_button_past_the_last_complete_day(desk):
    yesterday = desk.today - timedelta(days=1)
    (summary, *_) = answer(desk.telegram, _ask(desk, f"/report {yesterday}"), document=True)
    assert _buttons(summary) == [(f"◀ {yesterday - timedelta(days=1)}", f"report:{yesterday - timedelta(days=1)}")]


def test_a_week_has_the_previous_week_and_no_next_past_the_last_complete_one(desk):
    replies = answer(desk.telegram, _ask(desk, "/week"), document=True)
    buttons = _buttons(_summary(replies))
    assert len(buttons) == 1 and buttons[0][0].startswith("◀ week of ") and buttons[0][1].startswith("week:")
    monday = datetime.strptime(buttons[0][0].removeprefix("◀ week of "), "%Y-%m-%d").date()
    assert monday.weekday() == 0 and buttons[0][1] == f"week:{monday + timedelta(days=6)}"


def test_refresh_edits_the_day_so_far_in_place_and_unchanged_counts_as_success(desk):
    t = desk.telegram
    replies = answer(t, _ask(desk, "/today"), document=True)
    summary = _summary(replies)
    assert _buttons(summary) == [("🔄 Refresh", f"refresh:{desk.today}")]
    shown = text_of(summary)  # (the fake edits its message in place: its call's result too)
    desk.service.trades.append(_late_fill(desk.service.trades))  # a fill since: the figures move
    pressed = _press(desk, summary, f"refresh:{desk.today}")
    _answers(desk, pressed)
    (edit,) = wait_for(lambda: t.calls_of("editMessageText"), 60, message="the edit")
    assert edit.params["message_id"] in (summary.result["message_id"], str(summary.result["message_id"]))
    assert edit.chat_id == DESK and re.match(r"⏳ The day so far, as of \d\d:\d\d ", edit.result["text"])
    trades = re.compile(r"Trades (\d+)")
    assert int(trades.search(edit.result["text"])[1]) == int(trades.search(shown)[1]) + 1
    assert _buttons(edit) == [("🔄 Refresh", f"refresh:{desk.today}")]  # the button stays
    assert t.replies_to(_as_message(summary)) == []  # edited, nothing new posted
    # Nothing new since: Telegram says "message is not modified", which is no failure.
    t.fail("editMessageText", 400, description=NOT_MODIFIED)
    again = _press(desk, summary, f"refresh:{desk.today}")
    _answers(desk, again)
    desk.bot.wait_log("unchanged (nothing new)")
    assert [r.status for r in t.attempts("editMessageText")][-1] == 400
    assert t.replies_to(_as_message(summary)) == [] and len(t.calls_of("editMessageText")) == 1
    assert "could not edit" not in desk.bot.log()


def test_presses_by_a_stranger_or_in_a_foreign_chat_get_no_visible_answer(desk):
    t = desk.telegram
    day = desk.today - timedelta(days=2)
    foreign = t.bot_message(FOREIGN, "a summary", keyboard=[[{"text": "◀", "callback_data": f"report:{day}"}]])
    mine = t.bot_message(DESK, "a summary", keyboard=[[{"text": "◀", "callback_data": f"report:{day}"}]])
    before = len(t.calls)
    presses = [
        t.callback_query(FOREIGN, f"report:{day}", message_id=foreign["message_id"]),
        t.callback_query(DESK, f"report:{day}", user_id=STRANGER, message_id=mine["message_id"]),
    ]
    _marker(desk)
    made = [c.method for c in t.calls[before:] if c.method not in ("getUpdates", "answerCallbackQuery")]
    assert made == ["sendMessage"]  # the marker's answer only: nothing sent, nothing edited
    for pressed in presses:  # at most an empty answer, which only stops the presser's spinner
        assert all(not c.params.get("text") for c in t.answered(pressed))
    assert desk.bot.lines(f"dropped an update (callback_query) from chat {FOREIGN} user {USER_ID}: not an allowed chat")
    assert desk.bot.lines(f"dropped an update (callback_query) from chat {DESK} user {STRANGER}: not an allowed user")


@pytest.mark.parametrize(
    ("data", "on_keyboard", "line"),
    [
        ("report:2026-13-45", True, "This button is not one of this bot's"),
        ("rm -rf /", True, "This button is not one of this bot's"),
        ("report:" + "9" * 80, True, "This button is not one of this bot's"),  # past 64 bytes
        ("report:{yesterday}", False, "This button is not one of this bot's"),  # not a button of that message
        ("refresh:{yesterday}", True, "The day so far of {yesterday} is over: /report {yesterday} shows"),
        ("report:{today}", True, "has not ended yet"),
    ],
)
def test_forged_oversized_and_stale_presses_get_one_short_line(desk, data, on_keyboard, line):
    t = desk.telegram
    yesterday, today = desk.today - timedelta(days=1), desk.today
    data = data.format(yesterday=yesterday, today=today)
    line = line.format(yesterday=yesterday)
    keyboard = [[{"text": "button", "callback_data": data if on_keyboard and len(data) <= 64 else "report:x"}]]
    old = t.bot_message(DESK, "an earlier answer", keyboard=keyboard, age=86_400)
    edits, sends = len(t.calls_of("editMessageText")), len(t.sent_to(DESK))
    pressed = t.callback_query(DESK, data, message_id=old["message_id"])
    (answered,) = _answers(desk, pressed)
    assert line in answered.params["text"] and len(answered.params["text"]) <= 200
    _marker(desk)
    assert len(t.calls_of("editMessageText")) == edits and len(t.sent_to(DESK)) == sends + 1  # the marker's
    assert "Traceback" not in desk.bot.log()


def test_a_press_on_a_message_that_is_not_the_bot_s_is_refused(desk):
    pressed = desk.telegram.callback_query(DESK, f"refresh:{desk.today}")  # a message the bot never sent
    (answered,) = _answers(desk, pressed)
    assert answered.params["text"].startswith("This button is not one of this bot's")


def test_a_press_under_a_message_telegram_no_longer_shows_the_bot_is_stale(desk):
    day = desk.today - timedelta(days=2)
    old = desk.telegram.bot_message(DESK, "a summary", keyboard=[[{"text": "◀", "callback_data": f"report:{day}"}]])
    pressed = desk.telegram.callback_query(DESK, f"report:{day}", message_id=old["message_id"], inaccessible=True)
    (answered,) = _answers(desk, pressed)
    assert answered.params["text"] == "This message is too old for its buttons: ask with a command (/help lists them)"


def test_a_press_while_the_chat_s_previous_request_is_answered_says_so(desk):
    t = desk.telegram
    day = desk.today - timedelta(days=5)
    old = t.bot_message(DESK, "a summary", keyboard=[[{"text": "◀", "callback_data": f"report:{day}"}]])
    asked = _ask(desk, f"/report {day}")
    pressed = t.callback_query(DESK, f"report:{day}", message_id=old["message_id"])  # in the same poll, just after
    (answered,) = _answers(desk, pressed)
    assert answered.params["text"] == (
        f"⏳ working on the previous request (/report {day}): press again once it is answered"
    )
    answer(t, asked, document=True)
    assert t.replies_to(old) == []  # the press built nothing


@pytest.fixture(scope="module")
def day_json(desk):
    return _cli_json(desk, "--date", (desk.today - timedelta(days=2)).isoformat(), "--dry-run")


@pytest.mark.parametrize(
    ("name", "agent"),
    [
        ("vpin-hft", "vpin-hft"),  # its id
        ("TREND RIDER", "trend-momentum-agent"),  # its name, any case
        ("Strat", "strategy-optimization-agent"),  # a unique prefix
    ],
)
def test_agent_card_by_id_name_or_prefix_has_the_cli_s_figures(desk, day_json, name, agent):
    day = desk.today - timedelta(days=2)
    asked = _ask(desk, f"/agent {name} {day}")
    wait_for(lambda: any(c.method == "sendPhoto" for c in desk.telegram.replies_to(asked)), 90, message="the chart")
    replies = desk.telegram.replies_to(asked)
    assert [c.method for c in replies] == ["sendMessage", "sendPhoto"]
    card = text_of(replies[0])
    wanted = next(a for a in day_json["agents"] if a["agent_id"] == agent)
    assert f" · {day}" in card.splitlines()[0]
    assert f"Day P&L {fmt_pnl(wanted['total_pnl'])} USDT" in card
    funding = wanted["funding_pnl"]
    assert f"funding {fmt_pnl(funding) if funding is not None else 'n/a'}" in card
    for p in wanted["open_positions"]:
        assert f"• {p['symbol']} {fmt_qty(p['quantity'])} · avg {fmt_price(p['avg_entry_price'])}" in card
    for window in ("7d", "30d", "90d"):
        risk = wanted["risk"][window]
        assert re.search(rf"^{window}\s+{re.escape(fmt_pnl(risk['pnl']))}\s", card, re.M), window
    assert replies[1].files["photo"][0] == "agent-pnl.png"
    movers = day_json.get("movers")  # report.json's movers (issue 20), where this version has them
    if movers:
        mine = sum(abs(m["total_pnl"]) for m in movers if m["agent_id"] == agent)
        share = fmt_pct(mine / sum(abs(m["total_pnl"]) for m in movers), 0)
        assert f"Its share of the day's movers: {share} of the P&L moved" in card


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("v", "'v' matches 2 agents: volume-microstructure-agent, vpin-hft (VPIN Scalper); give more of the name"),
        ("nobody", "no agent 'nobody' that day: the agents are financial-sentiment-agent, "),
    ],
)
def test_agent_unknown_or_ambiguous_is_one_line_naming_the_agents(desk, name, needle):
    (reply,) = answer(desk.telegram, _ask(desk, f"/agent {name}"))
    assert "\n" not in text_of(reply) and needle in text_of(reply), text_of(reply)
    if name == "nobody":
        assert "trend-momentum-agent (Trend Rider)" in text_of(reply)


def test_symbols_is_the_day_s_table_with_the_cli_s_figures(desk, day_json):
    day = desk.today - timedelta(days=2)
    (reply,) = answer(desk.telegram, _ask(desk, f"/symbols {day}"))
    text = text_of(reply)
    assert text.startswith(f"💱 Symbols · {day} ({len(day_json['symbols'])})")
    for s in day_json["symbols"]:
        funding = fmt_pnl(s["funding_pnl"]) if s["funding_pnl"] is not None else "n/a"
        row = rf"^{re.escape(s['symbol'])}\s+{s['trades']:,}\s+{re.escape(fmt_pnl(s['net_realized_pnl']))}\s+"
        assert re.search(row + re.escape(funding) + "$", text, re.M), s["symbol"]


def test_the_summary_is_sent_before_the_charts_are_drawn(desk):
    t = desk.telegram
    day = desk.today - timedelta(days=4)
    at_summary: list[list[str]] = []  # the chart lines in the log when the summary reached Telegram
    drawn = "stage charts "

    def on_call(call: Call) -> None:
        if call.method == "sendMessage" and "daily report" in call.result.get("text", ""):
            at_summary.append(desk.bot.lines(drawn))

    time.sleep(1.5)  # the bot keeps a second between two calls to a chat: the test before may have just posted
    t.on_call(on_call)
    try:
        replies = answer(t, _ask(desk, f"/report {day}"), document=True)
    finally:
        t.on_call(None)
    assert [c.method for c in replies] == ["sendMessage", "sendMediaGroup", "sendDocument"]
    # Lines of other builds still drawing may come and go: this build is told apart by its run id.
    summary = rf"\[{day} (\w+)\] /report {day}: summary sent to chat {DESK}:{TOPIC} after \d+\.\d\d s"
    sent = re.search(summary, desk.bot.log())
    assert sent, desk.bot.log()
    run = f"[{day} {sent.group(1)}]"
    assert at_summary and not [line for line in at_summary[0] if run in line]  # no chart of this build yet
    assert [line for line in desk.bot.lines(drawn) if run in line]  # its charts came after


def test_sigterm_while_the_first_build_is_still_starting_ends_it_and_exits_at_once(desk, tmp_path):
    """The fork server imports for a few seconds after the bot starts: a build asked for then, and SIGTERM before
    it has started, is ended once started (not left running after the bot), and the bot exits at once."""
    with FakeTelegram(TOKEN, [FakeChat(DESK)], max_per_minute=10_000) as telegram:
        env = desk.env | {"TELEGRAM_API_URL": telegram.url, "REPORT_STATE_DIR": str(tmp_path / "state")}
        env.pop("TELEGRAM_ALLOWED_USERS")
        bot = BotProcess(env, tmp_path / "bot.log", "--verbose")
        try:
            bot.wait_polling(telegram)
            telegram.command(DESK, f"/report {desk.today - timedelta(days=3)}")
            bot.wait_log(f"user {USER_ID}: /report", timeout=20)
        finally:
            started = time.monotonic()
            status = bot.stop(timeout=20)
        assert status == 0 and time.monotonic() - started < 15, bot.log()[-2000:]
        time.sleep(3.0)  # a build left running would go on logging into the bot's file
        log = bot.log()
        after = log[log.index("bot stopped") :]
        assert "fetched" not in after and "reading" not in after and "Traceback" not in log, after
        for line in bot.lines("build process"):
            pid = int(re.search(r"build process (\d+)", line)[1])
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


def _trade_reads(desk) -> int:
    return sum(1 for path, _ in desk.service.requests if path == "/api/trades/history")


def _unstamped(text: str) -> str:
    """A summary without the minute it was made at (its last line says ``generated 2026-12-07 12:06 …``)."""
    return re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d", "generated (when)", text)


def _texts(calls: list[Call]) -> list[str]:
    return [_unstamped(c.params["text"]) for c in calls]


def _cli_summary(desk, day) -> list[str]:
    """The summary's messages of ``report --date DAY --dry-run`` on the desk's data (its telegram/ artifacts), as
    :func:`_texts` gives them: a minute may turn between the bot's answer and this run."""
    _cli_json(desk, "--date", day.isoformat(), "--dry-run")
    calls = sorted((desk.tmp / f"cli-date-{day}-dry-run" / "telegram").glob("*-sendMessage.json"))
    return [_unstamped(json.loads(p.read_text())["params"]["text"]) for p in calls]


def test_a_stored_day_s_summary_comes_from_the_store_before_a_fill_is_read(desk):
    t = desk.telegram
    day = desk.today - timedelta(days=3)
    answer(t, _ask(desk, f"/report {day + timedelta(days=1)}"), document=True)  # the store holds the day now
    before = _trade_reads(desk)
    replies = answer(t, _ask(desk, f"/report {day}"), document=True)
    (stored,) = desk.bot.lines(f"summary of {day} from the store: no fill read")
    run = re.search(r"\[\S+ \w+\]", stored)[0]  # "[DAY RUN_ID]": this build's lines
    mine = [line for line in desk.bot.log().splitlines() if run in line]
    # The build handed the summary on before it read a fill (the bot then sends it as the chat's pacing allows).
    assert mine.index(stored) < next(i for i, line in enumerate(mine) if "stage fetch" in line)
    assert _trade_reads(desk) > before  # the album's build read the day's fills after it
    assert [c.method for c in replies] == ["sendMessage", "sendMediaGroup", "sendDocument"]
    assert _texts(replies[:1]) == _cli_summary(desk, day)  # the command line's, to the byte
    assert "differs from the one of its fills" not in desk.bot.log()


def test_a_stored_day_whose_fills_changed_upstream_gets_its_summary_corrected(desk):
    t = desk.telegram
    day = desk.today - timedelta(days=6)
    first = answer(t, _ask(desk, f"/report {day}"), document=True)  # stored
    zone = ZoneInfo(desk.env["REPORT_TIMEZONE"])
    fill = next(r for r in desk.service.trades if datetime.fromisoformat(r["timestamp"]).astimezone(zone).date() == day)
    fill["price"] = round(fill["price"] * 1.5, 2)  # a correction upstream, after the day was stored
    fill["notional"] = fill["price"] * fill["quantity"]
    replies = answer(t, _ask(desk, f"/report {day}"), document=True)
    methods = [c.method for c in replies]
    assert methods == ["sendMessage", "sendMessage", "sendMessage", "sendMediaGroup", "sendDocument"], methods
    assert _texts(replies[:1]) == _texts(first[:1])  # the stored day's, at once
    assert "The summary above came from the stored day" in text_of(replies[1])
    assert replies[2].params["text"] != replies[0].params["text"]
    assert _texts(replies[2:3]) == _cli_summary(desk, day)  # the corrected one is the command line's
    assert desk.bot.lines(f"the summary of {day} from the store differs from the one of its fills: sent again")
