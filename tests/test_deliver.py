"""Telegram delivery against the fake Bot API server on a real 127.0.0.1 socket (CONTRACT 5, issue 3)."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import pickle
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from assertions import sends
from factories import DAY, FAST, GROUP, TOKEN, make_outbox, png
from fake_telegram import FakeChat, FakeTelegram
from telegram import Bot

from reports.delivery.deliver import (
    DeliveryFailed,
    deliver,
    plan_calls,
    send_failure_notice,
    write_call_artifacts,
)
from reports.delivery.outbox import Attachment
from reports.delivery.records import DeliveryStore
from reports.errors import DeliveryError
from reports.presentation.tgtext import split_message
from reports.settings import ChatTarget, Secret, Settings

SECRET_PART = TOKEN.split(":")[1]
FORUM = -1001000000002


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    chats = [FakeChat(GROUP), FakeChat(FORUM, title="Desk", is_forum=True, topics={7})]
    with FakeTelegram(TOKEN, chats) as server:
        yield server


@pytest.fixture
def settings(fake: FakeTelegram, tmp_path: Path) -> Settings:
    return Settings(
        telegram_bot_token=Secret(TOKEN),
        telegram_chats=(ChatTarget(str(GROUP)),),
        telegram_api_url=fake.url,
        state_dir=tmp_path / "state",
    )


def test_delivers_summary_then_album_then_document_byte_for_byte(fake: FakeTelegram, settings: Settings) -> None:
    outbox = make_outbox()
    result = deliver(outbox, settings, policy=FAST)
    assert sends(fake) == ["sendMessage", "sendMessage", "sendMediaGroup", "sendDocument"]
    assert result.messages_sent == 2 + 3 + 1 and not result.warnings
    album = fake.calls_of("sendMediaGroup")[0]
    assert [item["caption"] for item in album.params["media"]] == ["Chart 1", "Chart 2", "Chart 3"]
    assert sorted(data for _, data in album.files.values()) == sorted(p.data for p in outbox.photos)
    document = fake.calls_of("sendDocument")[0]
    assert list(document.files.values()) == [("report.html", outbox.document.data)]
    texts = [m["text"] for m in fake.messages[GROUP].values() if "text" in m]
    assert texts == ["Daily report 2025-01-02", "agent  +1.00"]


def test_forum_topic_gets_every_call_in_its_thread(fake: FakeTelegram, settings: Settings) -> None:
    settings = replace(settings, telegram_chats=(ChatTarget(str(FORUM), 7),))
    deliver(make_outbox(photos=1), settings, policy=FAST)
    assert sends(fake) == ["sendMessage", "sendMessage", "sendPhoto", "sendDocument"]
    assert all(m.get("message_thread_id") == 7 for m in fake.messages[FORUM].values())


def test_sixty_agents_arrive_in_valid_messages_with_the_odd_agent_id_escaped(
    fake: FakeTelegram, settings: Settings
) -> None:
    agents = [f"agent-{i:02d}" for i in range(59)] + ["<b>x</b>&co"]
    rows = "\n".join(
        f"{html.escape(a, quote=False):<24} {i * 11.5:>12,.2f} USDT {'🟢' if i % 3 else '🔴'}" * 3
        for i, a in enumerate(agents)
    )
    summary = f"<b>Daily report</b>\n\n<b>Agents</b>\n<pre>{rows}</pre>\n\n<i>UTC, average cost</i>"
    outbox = make_outbox(tuple(split_message(summary)))
    assert len(outbox.messages) > 1
    deliver(outbox, settings, policy=FAST)
    texts = [m["text"] for m in fake.messages[GROUP].values() if "text" in m]
    assert len(texts) == len(outbox.messages)  # the fake (4,096 after parsing, strict HTML) took every part
    for agent in agents:
        assert sum(agent in t for t in texts) == 1, agent
    odd = next(m for m in fake.messages[GROUP].values() if "<b>x</b>&co" in m.get("text", ""))
    start = odd["text"].index("<b>x</b>&co")
    bold = [e for e in odd.get("entities", []) if e["type"] == "bold"]
    assert not any(e["offset"] <= start < e["offset"] + e["length"] for e in bold)  # shown, not interpreted


def test_flood_control_is_waited_out_with_one_delivery(fake: FakeTelegram, settings: Settings) -> None:
    fake.fail("sendMessage", 429, retry_after=1)
    result = deliver(make_outbox(), settings, policy=FAST)
    attempts = fake.attempts("sendMessage")
    assert [r.status for r in attempts] == [429, 200, 200]
    assert attempts[1].at - attempts[0].at >= 1.0
    assert sends(fake).count("sendMessage") == 2 and result.messages_sent == 6


def test_flood_wait_longer_than_the_error_budget_is_still_waited_out(fake: FakeTelegram, settings: Settings) -> None:
    fake.fail("sendMediaGroup", 429, retry_after=2)
    result = deliver(make_outbox(), settings, policy=replace(FAST, retry_budget=0.5))
    assert [r.status for r in fake.attempts("sendMediaGroup")] == [429, 200]
    assert not result.failed


def test_flood_wait_beyond_the_flood_budget_stops_and_says_so(fake: FakeTelegram, settings: Settings) -> None:
    fake.fail("sendMediaGroup", 429, retry_after=30)
    with pytest.raises(DeliveryFailed, match="flood control asks to wait 30 s") as caught:
        deliver(make_outbox(), settings, policy=replace(FAST, flood_budget=10.0))
    assert caught.value.result.chats[0].sent == 2


def test_a_state_folder_that_cannot_be_written_sends_nothing(fake: FakeTelegram, settings: Settings) -> None:
    blocker = settings.state_dir / "not-a-folder"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("")
    with pytest.raises(DeliveryError, match=r"cannot write delivery records .*nothing was sent"):
        deliver(make_outbox(), replace(settings, state_dir=blocker), policy=FAST)
    assert sends(fake) == []


def test_one_delivery_of_a_date_at_a_time(tmp_path: Path) -> None:
    store = DeliveryStore(tmp_path)
    with store.lock(DAY):
        with pytest.raises(DeliveryError, match="another report run is delivering"), store.lock(DAY, wait=0.3):
            pass
        with store.lock(DAY + timedelta(days=1), wait=0.3):  # another date is not held
            pass
    with store.lock(DAY, wait=0.3):  # released
        pass


def test_server_errors_and_dropped_connections_are_retried(fake: FakeTelegram, settings: Settings) -> None:
    fake.fail("sendMediaGroup", 500, times=2)
    fake.fail("sendDocument", 0)  # the connection drops without an answer
    deliver(make_outbox(), settings, policy=FAST)
    assert [r.status for r in fake.attempts("sendMediaGroup")] == [500, 500, 200]
    assert [r.status for r in fake.attempts("sendDocument")] == [0, 200]
    assert sends(fake) == ["sendMessage", "sendMessage", "sendMediaGroup", "sendDocument"]


def test_a_rerun_posts_nothing_new(fake: FakeTelegram, settings: Settings) -> None:
    deliver(make_outbox(), settings, policy=FAST)
    before = len(fake.calls)
    result = deliver(make_outbox(), settings, policy=FAST)
    assert [c.method for c in fake.calls[before:]] == ["getMe"]
    assert (result.messages_sent, result.messages_edited, result.messages_skipped) == (0, 0, 6)


def test_a_rerun_edits_what_changed_and_sends_nothing_new(fake: FakeTelegram, settings: Settings) -> None:
    deliver(make_outbox(), settings, policy=FAST)
    changed = make_outbox(("<b>Daily report</b> 2025-01-02 (corrected)", "<pre>agent  +1.00</pre>"))
    before = len(fake.calls)
    result = deliver(changed, settings, policy=FAST)
    assert [c.method for c in fake.calls[before:]] == ["getMe", "editMessageText"]
    assert fake.messages[GROUP][1]["text"] == "Daily report 2025-01-02 (corrected)"
    assert (result.messages_sent, result.messages_edited) == (0, 1)


def test_message_is_not_modified_counts_as_success(fake: FakeTelegram, settings: Settings) -> None:
    deliver(make_outbox(), settings, policy=FAST)
    # Different markup, same text and entities: Telegram answers "message is not modified".
    same = make_outbox(("<strong>Daily report</strong> 2025-01-02", "<pre>agent  +1.00</pre>"))
    result = deliver(same, settings, policy=FAST)
    assert [r.status for r in fake.attempts("editMessageText")] == [400]
    assert result.messages_sent == 0 and not result.failed
    assert not result.warnings
    third = deliver(same, settings, policy=FAST)  # the record now holds the new digest: no edit at all
    assert len(fake.attempts("editMessageText")) == 1 and third.messages_skipped == 6


def test_a_run_stopped_after_the_album_resumes_with_the_document_only(fake: FakeTelegram, settings: Settings) -> None:
    fake.fail("sendDocument", 503, times=1000)
    with pytest.raises(DeliveryFailed, match=r"did not take sendDocument .*re-run later") as caught:
        deliver(make_outbox(), settings, policy=replace(FAST, retry_budget=0.3))
    assert caught.value.exit_code == 1
    assert sends(fake) == ["sendMessage", "sendMessage", "sendMediaGroup"]
    fake.clear_failures()  # the outage is over
    result = deliver(make_outbox(), settings, policy=FAST)
    assert sends(fake) == ["sendMessage", "sendMessage", "sendMediaGroup", "sendDocument"]
    assert (result.messages_sent, result.messages_skipped) == (1, 5)


KILLED_RUN = """
import pickle, sys
from reports.delivery.deliver import deliver
outbox, settings, policy = pickle.load(open(sys.argv[1], "rb"))
deliver(outbox, settings, policy=policy)
"""


def test_a_process_killed_mid_call_resumes_with_what_is_missing(
    fake: FakeTelegram, settings: Settings, tmp_path: Path
) -> None:
    held = fake.hold("sendDocument")
    job = tmp_path / "job.pickle"
    job.write_bytes(pickle.dumps((make_outbox(), settings, FAST)))
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(job)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert held.arrived.wait(30), "the run never reached sendDocument"
    finally:
        process.kill()
        out, err = process.communicate(timeout=30)
    fake.release("sendDocument")
    assert sends(fake) == ["sendMessage", "sendMessage", "sendMediaGroup"]
    result = deliver(make_outbox(), settings, policy=FAST)
    assert sends(fake) == ["sendMessage", "sendMessage", "sendMediaGroup", "sendDocument"]
    assert result.messages_sent == 1
    assert TOKEN not in (out + err).decode(errors="replace")


def test_force_posts_anew(fake: FakeTelegram, settings: Settings) -> None:
    deliver(make_outbox(), settings, policy=FAST)
    result = deliver(make_outbox(), settings, force=True, policy=FAST)
    assert sends(fake) == ["sendMessage", "sendMessage", "sendMediaGroup", "sendDocument"] * 2
    assert result.messages_sent == 6
    record = DeliveryStore(settings.state_dir).load(DAY, ChatTarget(str(GROUP)))
    assert record is not None and record.calls["document"].message_ids == [12]


def test_html_telegram_cannot_parse_is_sent_as_plain_text_with_a_warning(
    fake: FakeTelegram, settings: Settings
) -> None:
    broken = "<b>Agent &lt;b&gt;x&lt;/b&gt;&amp;co</b> 1 < 2 <unknown>"
    result = deliver(make_outbox((broken,), photos=0, document=None), settings, policy=FAST)
    assert [r.status for r in fake.attempts("sendMessage")] == [400, 200]
    sent = fake.calls_of("sendMessage")[0]
    assert "parse_mode" not in sent.params
    assert fake.messages[GROUP][1]["text"] == "Agent <b>x</b>&co 1 < 2 <unknown>"
    assert any("sent it as plain text" in w for w in result.warnings)


def test_a_chat_the_bot_left_fails_with_what_to_fix_after_the_other_chats(
    fake: FakeTelegram, settings: Settings
) -> None:
    fake.chats[GROUP].bot_status = "kicked"
    settings = replace(settings, telegram_chats=(ChatTarget(str(GROUP)), ChatTarget(str(FORUM), 7)))
    with pytest.raises(DeliveryFailed) as caught:
        deliver(make_outbox(), settings, policy=FAST)
    message = str(caught.value)
    assert f"the bot is not a member of chat {GROUP}" in message and "add the bot" in message
    assert "\n" not in message
    assert [c.chat_id for c in fake.calls_of("sendMessage")] == [FORUM, FORUM]
    assert caught.value.result.chats[1].sent == 6


def test_unknown_chat_and_unknown_topic_say_what_to_fix(fake: FakeTelegram, settings: Settings) -> None:
    settings = replace(settings, telegram_chats=(ChatTarget("-100999"), ChatTarget(str(FORUM), 8)))
    with pytest.raises(DeliveryFailed) as caught:
        deliver(make_outbox(), settings, policy=FAST)
    assert "chat -100999 was not found" in str(caught.value)
    assert f"topic 8 was not found in chat {FORUM}" in str(caught.value)
    assert not sends(fake)


def test_a_rejected_token_is_named_without_showing_it(fake: FakeTelegram, settings: Settings) -> None:
    settings = replace(settings, telegram_bot_token=Secret("111:wrong-token-wrong-token-wrong-token-x"))
    with pytest.raises(DeliveryError, match=r"^TELEGRAM_BOT_TOKEN was rejected by Telegram \(Unauthorized\)"):
        deliver(make_outbox(), settings, policy=FAST)
    assert not fake.calls


def test_a_group_upgraded_to_a_supergroup_is_followed(fake: FakeTelegram, settings: Settings) -> None:
    fake.migrate(GROUP, -1001000000099)
    result = deliver(make_outbox(), settings, policy=FAST)
    assert {c.chat_id for c in fake.calls_of("sendMessage", "sendMediaGroup", "sendDocument")} == {-1001000000099}
    assert any("set TELEGRAM_CHAT_ID to -1001000000099" in w for w in result.warnings)
    assert result.chats[0].delivered_to == "-1001000000099"
    again = deliver(make_outbox(), settings, policy=FAST)
    assert again.messages_sent == 0 and again.messages_skipped == 6


def test_albums_hold_two_to_ten_photos_and_one_photo_goes_alone(fake: FakeTelegram, settings: Settings) -> None:
    deliver(make_outbox(photos=11, document=None), settings, policy=FAST)
    assert [len(c.params["media"]) for c in fake.calls_of("sendMediaGroup")] == [6, 5]
    calls = plan_calls(make_outbox(photos=1), ChatTarget("1"))
    assert [c.method for c in calls] == ["sendMessage", "sendMessage", "sendPhoto", "sendDocument"]


def test_captions_are_cut_to_telegram_limit(fake: FakeTelegram, settings: Settings) -> None:
    long_caption = "<b>" + "word " * 400 + "</b>"
    outbox = replace(make_outbox(), photos=(Attachment("a.png", png(), long_caption), Attachment("b.png", png())))
    deliver(outbox, settings, policy=FAST)
    caption = fake.calls_of("sendMediaGroup")[0].params["media"][0]["caption"]
    assert caption.startswith("<b>word") and caption.endswith("</b>") and len(caption) <= 1024 + 7


def test_call_artifacts_are_numbered_in_order_and_never_hold_the_token(tmp_path: Path) -> None:
    outbox = make_outbox()
    write_call_artifacts(outbox, (ChatTarget("-1001", 3), ChatTarget("@desk")), tmp_path / "telegram")
    names = sorted(p.name for p in (tmp_path / "telegram").iterdir())
    assert names == [
        "01-sendMessage.json",
        "02-sendMessage.json",
        "03-sendMediaGroup.json",
        "04-sendDocument.json",
        "05-sendMessage.json",
        "06-sendMessage.json",
        "07-sendMediaGroup.json",
        "08-sendDocument.json",
    ]
    album = json.loads((tmp_path / "telegram" / "03-sendMediaGroup.json").read_text())
    assert album["chat_id"] == "-1001" and album["params"]["message_thread_id"] == 3
    assert album["files"] == {"photo0": "01-chart.png", "photo1": "02-chart.png", "photo2": "03-chart.png"}
    assert [m["media"] for m in album["params"]["media"]] == ["attach://photo0", "attach://photo1", "attach://photo2"]
    write_call_artifacts(outbox, (), tmp_path / "dry")
    first = json.loads((tmp_path / "dry" / "01-sendMessage.json").read_text())
    assert first["chat_id"] == "<TELEGRAM_CHAT_ID>" and first["params"]["parse_mode"] == "HTML"
    assert len(list((tmp_path / "dry").iterdir())) == 4


def test_failure_notice_reaches_the_chats_and_never_raises(fake: FakeTelegram, settings: Settings) -> None:
    send_failure_notice(settings, DAY, f"trading service answered 503 <busy> & {TOKEN}", policy=FAST)
    text = fake.messages[GROUP][1]["text"]
    assert "2025-01-02 could not be built" in text and "503 <busy> &" in text and TOKEN not in text
    send_failure_notice(settings, DAY, f"trading service answered 503 <busy> & {TOKEN}", policy=FAST)
    assert len(fake.calls_of("sendMessage")) == 1  # a re-run failing the same way does not repeat it
    deliver(make_outbox(), settings, policy=FAST)  # the report then goes out after all
    send_failure_notice(settings, DAY, "a later re-run failed", policy=FAST)
    assert len(fake.calls_of("sendMessage")) == 3  # the notice and the two parts of the summary, nothing more
    with socket.socket() as probe:  # a port with nothing behind it
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    quick = replace(FAST, retry_budget=0.5)
    send_failure_notice(replace(settings, telegram_api_url=dead), DAY, "boom", policy=quick)
    assert time.monotonic() - started < 5


def test_an_unreadable_record_stops_that_chat_instead_of_posting_twice(fake: FakeTelegram, settings: Settings) -> None:
    path = DeliveryStore(settings.state_dir).path(DAY, ChatTarget(str(GROUP)))
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(DeliveryFailed, match="is unreadable"):
        deliver(make_outbox(), settings, policy=FAST)
    assert not sends(fake)
    deliver(make_outbox(), settings, force=True, policy=FAST)
    assert len(sends(fake)) == 4 and not list(path.parent.glob("*.tmp"))


def test_the_token_appears_nowhere_even_at_debug_level(
    fake: FakeTelegram,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail("sendMessage", 429, retry_after=1)
    fake.fail("sendMediaGroup", 500)
    fake.fail("sendDocument", 0)
    outbox = make_outbox()
    deliver(outbox, settings, policy=FAST)
    deliver(outbox, settings, policy=FAST)
    bad = replace(settings, telegram_bot_token=Secret(TOKEN + "x"))
    with pytest.raises(DeliveryError) as caught:
        deliver(outbox, bad, policy=FAST)
    send_failure_notice(settings, DAY, f"token {TOKEN} leaked into a reason", policy=FAST)
    write_call_artifacts(outbox, settings.telegram_chats, tmp_path / "artifacts")
    captured = capsys.readouterr()
    assert "Calling Bot API endpoint" in caplog.text  # DEBUG records were captured
    everything = [caplog.text, captured.out, captured.err, str(caught.value)]
    everything += [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    for text in everything:
        assert SECRET_PART not in text


# -- the fake itself: as strict as Telegram where delivery depends on it --------------------------------


def api(fake: FakeTelegram, method: str, token: str = TOKEN, **kwargs: object) -> tuple[int, dict]:
    response = httpx.post(f"{fake.url}/bot{token}/{method}", timeout=5, **kwargs)
    return response.status_code, response.json()


def test_the_fake_refuses_what_telegram_refuses(fake: FakeTelegram) -> None:
    def refused(method: str, **kwargs: object) -> str:
        status, answer = api(fake, method, **kwargs)
        assert status == answer["error_code"] == 400 and answer["ok"] is False, answer
        return answer["description"]

    chat = {"chat_id": GROUP}
    assert "can't parse entities" in refused("sendMessage", json=chat | {"text": "P&L", "parse_mode": "HTML"})
    assert "too long" in refused("sendMessage", json=chat | {"text": "x" * 4097})
    assert "too long" in refused("sendMessage", json=chat | {"text": "🟢" * 2049})  # 4,098 UTF-16 units
    assert "empty" in refused("sendMessage", json=chat | {"text": " <b> </b>", "parse_mode": "HTML"})
    assert "chat not found" in refused("sendMessage", json={"chat_id": -5, "text": "hi"})
    assert "thread not found" in refused("sendMessage", json=chat | {"text": "hi", "message_thread_id": 3})
    caption = json.dumps(
        [{"type": "photo", "media": "attach://a", "caption": "c" * 1025}, {"type": "photo", "media": "attach://b"}]
    )
    files = {"a": ("a.png", png()), "b": ("b.png", png())}
    assert "caption is too long" in refused("sendMediaGroup", data=chat | {"media": caption}, files=files)
    one = json.dumps([{"type": "photo", "media": "attach://a"}])
    assert "2-10" in refused("sendMediaGroup", data=chat | {"media": one}, files=files)
    assert "DIMENSIONS" in refused("sendPhoto", data=chat, files={"photo": ("p.png", png(2100, 100))})
    assert "IMAGE_PROCESS_FAILED" in refused("sendPhoto", data=chat, files={"photo": ("p.png", b"GIF89a....")})
    status, answer = api(fake, "getMe", token="1:nope")
    assert (status, answer["description"]) == (401, "Unauthorized")
    assert not fake.calls


def test_the_fake_accepts_json_form_and_multipart_and_records_bytes(fake: FakeTelegram) -> None:
    assert (
        api(fake, "sendMessage", json={"chat_id": GROUP, "text": "<b>a</b> &lt;&#33;", "parse_mode": "HTML"})[0] == 200
    )
    assert api(fake, "sendMessage", data={"chat_id": str(GROUP), "text": "form"})[0] == 200
    blob = bytes(range(256)) * 3 + b"\r\n--not-a-boundary\r\n"
    status, answer = api(fake, "sendDocument", data={"chat_id": str(GROUP)}, files={"document": ("r.html", blob)})
    assert status == 200 and answer["result"]["document"]["file_name"] == "r.html"
    assert fake.calls_of("sendDocument")[0].files == {"document": ("r.html", blob)}
    assert fake.messages[GROUP][1]["text"] == "a <!"


def test_bot_api_reads_work_through_python_telegram_bot(fake: FakeTelegram) -> None:
    async def read() -> tuple[str, str, str]:
        async with Bot(TOKEN, base_url=fake.url + "/bot", base_file_url=fake.url + "/file/bot") as bot:
            chat = await bot.get_chat(GROUP)
            member = await bot.get_chat_member(GROUP, bot.id)
            return bot.username, chat.title or "", member.status

    assert asyncio.run(read()) == ("sapphire_report_bot", "Traders", "member")
