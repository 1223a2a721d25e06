"""Delivery records under faults (issue 12): a full disk, damaged record files, temporary files left behind.

The full-disk tests mount a small tmpfs as REPORT_STATE_DIR (root, as in CI) and fill it. Whatever happens,
nothing is posted twice: a record that cannot be kept or cannot be trusted stops its chat with one line.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from assertions import sends
from factories import DAY, FAST, GROUP, TOKEN, SmallDisk, make_outbox, report_env
from fake_telegram import Call, FakeChat, FakeTelegram
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.delivery.deliver import DeliveryFailed, deliver, send_failure_notice
from reports.delivery.records import DeliveryRecord, DeliveryStore, parse_record
from reports.settings import ChatTarget, Secret, Settings

FULL_LINE = (
    "cannot write delivery records in {folder} (No space left on device): free space; "
    "the next run sends only what was not recorded"
)


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    with FakeTelegram(TOKEN, [FakeChat(GROUP)]) as server:
        yield server


def settings_for(fake: FakeTelegram, state: Path) -> Settings:
    return Settings(
        telegram_bot_token=Secret(TOKEN),
        telegram_chats=(ChatTarget(str(GROUP)),),
        telegram_api_url=fake.url,
        state_dir=state,
    )


def items(fake: FakeTelegram) -> list[tuple[str, str]]:
    """Every posted item: (method, its text or first caption)."""
    out = []
    for call in fake.calls_of("sendMessage", "sendPhoto", "sendMediaGroup", "sendDocument"):
        media = call.params.get("media")
        text = call.params.get("text") or (media[0].get("caption") if media else call.params.get("caption"))
        out.append((call.method, str(text)))
    return out


def leftovers(state: Path) -> list[Path]:
    return [p for p in state.rglob("*") if p.name.endswith(".tmp") or ".probe." in p.name]


def test_a_full_disk_before_the_first_message_sends_nothing_and_says_so(
    fake: FakeTelegram, small_disk: SmallDisk
) -> None:
    state = small_disk.path / "state"
    small_disk.fill()
    with pytest.raises(DeliveryFailed) as caught:
        deliver(make_outbox(), settings_for(fake, state), policy=FAST)
    assert str(caught.value) == FULL_LINE.format(folder=state / "deliveries" / DAY.isoformat())
    assert caught.value.exit_code == 1
    assert sends(fake) == [] and not leftovers(state)
    small_disk.free()
    result = deliver(make_outbox(), settings_for(fake, state), policy=FAST)
    assert sends(fake) == ["sendMessage", "sendMessage", "sendMediaGroup", "sendDocument"]
    assert result.messages_sent == 6 and not result.failed


def test_a_disk_that_fills_after_the_first_message_loses_no_record(fake: FakeTelegram, small_disk: SmallDisk) -> None:
    """The issue's run: the first message posted, then the disk is full. Its record, and every later one, is
    written over the reserved file in place; the re-run (disk still full) posts nothing."""
    state = small_disk.path / "state"

    def fill_after_first(call: Call) -> None:
        if call.method == "sendMessage" and len(fake.calls_of("sendMessage")) == 1:
            small_disk.fill()

    fake.on_call(fill_after_first)
    result = deliver(make_outbox(), settings_for(fake, state), policy=FAST)
    fake.on_call(None)
    assert not result.failed and result.messages_sent == 6
    record = DeliveryStore(state).load(DAY, ChatTarget(str(GROUP)))
    assert record is not None and record.complete and len(record.calls) == 4
    posted = items(fake)
    again = deliver(make_outbox(), settings_for(fake, state), policy=FAST)
    assert items(fake) == posted, "the re-run posted something again"
    assert (again.messages_sent, again.messages_skipped) == (0, 6)
    assert not leftovers(state)


def test_a_record_write_that_fails_stops_the_chat_with_one_line(fake: FakeTelegram, small_disk: SmallDisk) -> None:
    """When even the in-place write cannot be made (here: the reserved file was cut to nothing behind the
    run's back), the run says so in one line and makes no further call to that chat."""
    state = small_disk.path / "state"
    path = DeliveryStore(state).path(DAY, ChatTarget(str(GROUP)))

    def sabotage(call: Call) -> None:
        if call.method == "sendMessage":
            os.truncate(path, 0)
            small_disk.fill()

    fake.on_call(sabotage)
    with pytest.raises(DeliveryFailed) as caught:
        deliver(make_outbox(), settings_for(fake, state), policy=FAST)
    assert str(caught.value) == FULL_LINE.format(folder=path.parent)
    assert sends(fake) == ["sendMessage"]  # nothing after the write that failed
    assert not leftovers(state)


def test_the_report_command_on_a_full_disk(fake: FakeTelegram, small_disk: SmallDisk, tmp_path: Path) -> None:
    """The real ``report`` on a full REPORT_STATE_DIR: exit 1 and the line; once space is freed, the re-run
    posts everything once. A disk that fills during the run changes nothing either."""
    env = report_env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_CHAT_ID=str(GROUP), TELEGRAM_API_URL=fake.url)
    env |= {"REPORT_STATE_DIR": str(small_disk.path / "state"), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    command = [sys.executable, "-m", "reports", "--demo", "--send", "--date", "2025-11-21"]

    def report() -> subprocess.CompletedProcess[str]:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    small_disk.fill()
    failed = report()
    folder = small_disk.path / "state" / "deliveries" / "2025-11-21"
    assert failed.returncode == 1, failed.stderr
    assert failed.stderr.strip().splitlines()[-1] == "report: error: " + FULL_LINE.format(folder=folder)
    print(failed.stderr.strip().splitlines()[-1])
    assert items(fake) == []
    small_disk.free()
    done = report()
    assert done.returncode == 0, done.stderr
    once = items(fake)
    assert [m for m, _ in once] == ["sendMessage", "sendMediaGroup", "sendDocument"]
    small_disk.fill()  # a full disk on the re-run of a delivered date: nothing is posted again
    rerun = report()
    assert rerun.returncode == 0, rerun.stderr
    assert items(fake) == once and "0 Telegram messages sent" in rerun.stdout
    print(f"re-run on the full disk: {rerun.stdout.strip()}; posted in all: {[m for m, _ in items(fake)]}")


# -- damaged records: each stops its chat, with the file named, and nothing is posted -------------------


def good_record_bytes(fake: FakeTelegram, state: Path) -> bytes:
    """A real record of a delivery cut short after the summary (the album failed for good)."""
    fake.fail("sendMediaGroup", 400, description="Bad Request: wrong album")
    with pytest.raises(DeliveryFailed):
        deliver(make_outbox(), settings_for(fake, state), policy=FAST)
    return DeliveryStore(state).path(DAY, ChatTarget(str(GROUP))).read_bytes()


def damaged(kind: str, good: bytes) -> bytes:
    doc = json.loads(good)
    if kind == "binary garbage":
        return bytes(range(256)) * 4
    if kind == "a JSON array":
        return b"[]"
    if kind == "cut in half":
        return good.rstrip()[: len(good.rstrip()) // 2]
    if kind == "empty":
        return b""
    if kind == "nested too deeply":
        return b"[" * 100_000
    if kind == "another chat's record":
        doc["chat"] = "-1009"
    elif kind == "message ids as text":
        doc["calls"]["message:0"]["message_ids"] = ["1"]
    elif kind == "message ids as booleans":
        doc["calls"]["message:0"]["message_ids"] = [True]
    elif kind == "calls as an array":
        doc["calls"] = []
    elif kind == "complete as text":
        doc["complete"] = "yes"
    elif kind == "thread as text":
        doc["thread_id"] = "7"
    elif kind == "a call as a number":
        doc["calls"]["message:0"] = 5
    elif kind == "digests not matching ids":
        doc["calls"]["message:0"]["digests"] = []
    elif kind == "no chat id":
        del doc["chat_id"]
    elif kind == "a date that is not one":
        doc["report_date"] = "2025-13-40"
    elif kind == "NaN for an id":
        return good.replace(b'"message_ids": [\n        1\n', b'"message_ids": [\n        NaN\n')
    return json.dumps(doc).encode()


KINDS = [
    "binary garbage",
    "a JSON array",
    "cut in half",
    "empty",
    "nested too deeply",
    "another chat's record",
    "message ids as text",
    "message ids as booleans",
    "calls as an array",
    "complete as text",
    "thread as text",
    "a call as a number",
    "digests not matching ids",
    "no chat id",
    "a date that is not one",
    "NaN for an id",
]


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_record_stops_that_chat_and_posts_nothing(fake: FakeTelegram, tmp_path: Path, kind: str) -> None:
    state = tmp_path / "state"
    good = good_record_bytes(fake, state)
    path = DeliveryStore(state).path(DAY, ChatTarget(str(GROUP)))
    bad = damaged(kind, good)
    assert bad != good
    path.write_bytes(bad)
    before = len(sends(fake))
    with pytest.raises(DeliveryFailed) as caught:
        deliver(make_outbox(), settings_for(fake, state), policy=FAST)
    line = str(caught.value)
    assert line.startswith(f"the delivery record {path} is unreadable (") and "\n" not in line, line
    assert line.endswith("delete it to let the report be sent again, or run with --force"), line
    assert len(sends(fake)) == before, "a damaged record made the run post again"
    assert path.read_bytes() == bad, "the damaged record must be kept as it is, for a person to look at"
    send_failure_notice(settings_for(fake, state), DAY, "a failing build", policy=FAST)  # never raises either


def test_a_damaged_record_through_the_command_is_an_error_line_not_an_internal_error(
    fake: FakeTelegram, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    path = DeliveryStore(state).path(date(2025, 11, 21), ChatTarget(str(GROUP)))
    path.parent.mkdir(parents=True)
    env = report_env(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_CHAT_ID=str(GROUP), TELEGRAM_API_URL=fake.url)
    env |= {"REPORT_STATE_DIR": str(state)}
    for content in (b"\xff\xfe\x00\x81garbage", b"[]"):
        path.write_bytes(content)
        proc = subprocess.run(
            [sys.executable, "-m", "reports", "--demo", "--send", "--date", "2025-11-21"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        last = proc.stderr.strip().splitlines()[-1]
        assert proc.returncode == 1 and last.startswith(f"report: error: the delivery record {path} is unreadable")
        assert "internal error" not in proc.stderr and items(fake) == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_are_a_record_or_a_reason(raw: bytes) -> None:
    try:
        parse_record(raw)
    except ValueError as err:
        assert str(err) and "\n" not in str(err)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
RECORD_KEYS = ("version", "report_date", "chat", "chat_id", "thread_id", "complete", "updated_at", "calls")


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(RECORD_KEYS), JSON), st.dictionaries(st.text(max_size=8), JSON, max_size=3))
def test_any_json_is_a_record_or_a_reason(fields: dict, calls: dict) -> None:
    base = {"version": 1, "report_date": "2025-01-02", "chat": "1", "chat_id": "1", "calls": {"k": calls}}
    for doc in (fields, base | fields, base):
        try:
            record = parse_record(json.dumps(doc).encode())
        except ValueError as err:
            assert str(err) and "\n" not in str(err)
        else:
            assert isinstance(record, DeliveryRecord)


# -- temporary files ------------------------------------------------------------------------------------


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = DeliveryStore(tmp_path)
    record = store.new(DAY, ChatTarget(str(GROUP)))
    store.save(record)

    def no_fsync(fd: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "fsync", no_fsync)
    with pytest.raises(Exception, match=r"cannot write delivery records in .* \(Input/output error\)"):
        store.save(record)
    monkeypatch.undo()
    assert [p.name for p in store.path(DAY, ChatTarget(str(GROUP))).parent.iterdir()] == [f"{GROUP}.json"]


def test_temporary_files_of_a_killed_run_are_removed_by_the_next(fake: FakeTelegram, tmp_path: Path) -> None:
    state = tmp_path / "state"
    folder = DeliveryStore(state).path(DAY, ChatTarget(str(GROUP))).parent
    folder.mkdir(parents=True)
    orphan = folder / f"{GROUP}.json.k1ll3d.tmp"
    orphan.write_bytes(b'{"half": ')
    deliver(make_outbox(), settings_for(fake, state), policy=FAST)
    assert not orphan.exists() and not leftovers(state)


def test_the_record_is_reserved_before_the_first_call_and_stays_json(fake: FakeTelegram, tmp_path: Path) -> None:
    state = tmp_path / "state"
    path = DeliveryStore(state).path(DAY, ChatTarget(str(GROUP)))
    sizes: list[int] = []
    fake.on_call(lambda call: sizes.append(path.stat().st_size) if call.method.startswith("send") else None)
    deliver(make_outbox(), settings_for(fake, state), policy=FAST)
    assert len(sizes) == 4 and sizes[0] > 0 and len(set(sizes)) == 1  # reserved whole before the first send
    assert path.stat().st_size == sizes[0]  # every write kept the reserved size: no block to find on a full disk
    record = parse_record(path.read_bytes())
    assert record.complete and json.loads(path.read_text())["version"] == 1
