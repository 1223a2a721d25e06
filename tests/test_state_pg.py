"""REPORT_STATE_URL against a real PostgreSQL (tests/pgstack.py): delivery claims, kills, faults, the password.

Each ``report`` here is a real subprocess sending the demo's report to the fake Bot API, its delivery records in the
database and, on purpose, a state folder of its own: only the database is shared between two runs.
"""

from __future__ import annotations

import errno
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from factories import report_env
from fake_telegram import Call, FakeChat, FakeTelegram
from pgstack import PgServer, remove, start_server

from reports.statedb import connect

TOKEN = "7000000019:AAHstateTOKENstateTOKENstateTOKEN12345"
CHATS = (-1001900000001, -1001900000002)
DATES = ("2025-11-18", "2025-11-19")
SENDS = ("sendMessage", "sendMediaGroup", "sendPhoto", "sendDocument")


def command(day: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "reports", "--demo", "--send", "--date", day, *extra]


def environment(fake: FakeTelegram, state: Path, url: str, **more: str) -> dict[str, str]:
    return report_env(
        TELEGRAM_BOT_TOKEN=TOKEN,
        TELEGRAM_CHAT_ID=",".join(map(str, CHATS)),
        TELEGRAM_API_URL=fake.url,
        REPORT_STATE_DIR=str(state),
        REPORT_STATE_URL=url,
        **more,
    )


def posts(fake: FakeTelegram) -> Counter[tuple[int | None, str, str]]:
    """Each post as (chat, method, what it shows): a post made twice counts 2."""
    out: Counter[tuple[int | None, str, str]] = Counter()
    for call in fake.calls:
        if call.method in SENDS:
            out[(call.chat_id, call.method, _shown(call.params))] += 1
    return out


def _shown(params: dict) -> str:
    media = params.get("media")
    if isinstance(media, str):
        media = json.loads(media)
    text = params.get("text") or (media[0].get("caption") if media else params.get("caption")) or ""
    return str(text)[:60]  # the first words: the date and kind, never the "generated" minute


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> int:
    """How many send calls one delivery of a demo day makes per chat (a dry run's call artifacts)."""
    out = tmp_path_factory.mktemp("plan")
    env = report_env(TELEGRAM_CHAT_ID=str(CHATS[0]))
    dry = [sys.executable, "-m", "reports", "--demo", "--date", DATES[0], "--output", str(out)]
    subprocess.run(dry, check=True, capture_output=True, timeout=120, env=env)
    return len(list((out / "telegram").glob("*.json")))


def test_two_processes_with_their_own_folders_and_one_database_post_each_date_once(
    tmp_path: Path, pg: PgServer, state_url: str, planned: int
) -> None:
    # A server that ends transactions left idle for a second: the claim, idle while Telegram is called, must hold.
    pg.sql(f"ALTER ROLE {urlsplit(state_url).username} SET idle_in_transaction_session_timeout = '1s'")
    with FakeTelegram(TOKEN, [FakeChat(c) for c in CHATS]) as fake:
        for day in DATES:  # a round per date: both processes started at once
            envs = [environment(fake, tmp_path / f"{day}-{k}", state_url) for k in range(2)]
            with ThreadPoolExecutor(2) as pool:
                done = list(
                    pool.map(
                        lambda env, day=day: subprocess.run(
                            command(day), env=env, capture_output=True, text=True, timeout=180
                        ),
                        envs,
                    )
                )
            for proc in done:
                assert proc.returncode == 0, proc.stderr[-2000:]
            sent = [sum(" sent (" in line for line in proc.stderr.splitlines()) for proc in done]
            waited = ["waiting for it" in proc.stderr for proc in done]
            print(f"{day}: calls sent by each process {sent}, waited for the other's claim {waited}, posts in the fake"
                  f" Bot API {sum(posts(fake).values())}")  # fmt: skip
        counted = posts(fake)
        per_chat = Counter(chat for (chat, _, _), n in counted.items() for _ in range(n))
        print("posts per chat:", dict(per_chat), "planned per delivery:", planned)
        assert max(counted.values()) == 1, [k for k, n in counted.items() if n > 1]
        assert per_chat == {chat: planned * len(DATES) for chat in CHATS}


def test_a_run_killed_mid_delivery_and_the_rerun_from_another_folder_post_everything_once(
    tmp_path: Path, state_url: str, planned: int
) -> None:
    day = DATES[0]
    with FakeTelegram(TOKEN, [FakeChat(c) for c in CHATS]) as fake:
        env = environment(fake, tmp_path / "killed", state_url)
        process = subprocess.Popen(
            command(day), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
        )
        killed = threading.Event()

        def strike(call: Call) -> None:
            sends = sum(1 for c in fake.calls if c.method in SENDS)
            if call.method in SENDS and sends == 2 and not killed.is_set():  # mid-delivery, the claim held
                threading.Timer(0.05, lambda: (os.killpg(process.pid, signal.SIGKILL), killed.set())).start()

        fake.on_call(strike)
        process.communicate(timeout=120)
        fake.on_call(None)
        assert killed.is_set() and process.returncode == -signal.SIGKILL
        first = posts(fake)
        assert 0 < sum(first.values()) < planned * len(CHATS)
        started = time.monotonic()
        again = subprocess.run(
            command(day), env=environment(fake, tmp_path / "other", state_url), capture_output=True, text=True
        )
        waited = time.monotonic() - started
        assert again.returncode == 0, again.stderr[-2000:]
        assert waited < 60  # the killed run's claim ended with its connection: nothing to wait for
        both = posts(fake)
        per_chat = Counter(chat for (chat, _, _) in both)
        assert set(per_chat) == set(CHATS) and all(n == planned for n in per_chat.values())  # nothing missing
        twice = [k for k, n in both.items() if n > 1]
        # Only the window: the one call Telegram took in the killed run whose record was not committed.
        assert len(twice) <= 1 and max(both.values()) <= 2, twice
        print(f"killed after {sum(first.values())} post(s); the re-run took {waited:.1f} s; posted twice: {twice}")


@pytest.fixture
def own_server() -> Iterator[PgServer]:
    """A server of this test's own, to stop and start."""
    server = start_server()
    yield server
    remove(server)


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stderr.strip().splitlines()[-1]


def test_the_database_stopped_before_a_run_is_exit_1_one_line_nothing_posted(tmp_path: Path, own_server: PgServer):
    url = own_server.role()
    own_server.stop()
    with FakeTelegram(TOKEN, [FakeChat(c) for c in CHATS]) as fake:
        proc = subprocess.run(
            command(DATES[0]), env=environment(fake, tmp_path / "s", url), capture_output=True, text=True, timeout=180
        )
        assert proc.returncode == 1, proc.stderr
        line = _one_line(proc)
        assert f"the state database 127.0.0.1:{own_server.port}/reports" in line and "cannot be reached" in line
        assert "Traceback" not in proc.stderr
        assert not posts(fake)  # not even a failure notice: it could not be recorded


def test_the_database_stopped_during_a_delivery_stops_it_and_the_next_run_completes(
    tmp_path: Path, own_server: PgServer, planned: int
) -> None:
    url = own_server.role()
    with FakeTelegram(TOKEN, [FakeChat(c) for c in CHATS]) as fake:

        def stop_on_first_send(call: Call) -> None:
            if call.method in SENDS and sum(1 for c in fake.calls if c.method in SENDS) == 1:
                own_server.stop()  # before Telegram's answer leaves: the record of this call cannot be committed

        fake.on_call(stop_on_first_send)
        proc = subprocess.run(
            command(DATES[0]), env=environment(fake, tmp_path / "a", url), capture_output=True, text=True, timeout=180
        )
        fake.on_call(None)
        assert proc.returncode == 1, proc.stderr
        line = _one_line(proc)
        assert f"the state database 127.0.0.1:{own_server.port}/reports" in line
        assert "the connection was lost" in line or "cannot be reached" in line, line
        assert sum(posts(fake).values()) == 1  # the call in flight; nothing after the records failed
        own_server.start()
        again = subprocess.run(
            command(DATES[0]), env=environment(fake, tmp_path / "b", url), capture_output=True, text=True, timeout=180
        )
        assert again.returncode == 0, again.stderr[-2000:]
        per_chat = Counter(chat for (chat, _, _) in posts(fake))
        assert all(per_chat[c] == planned for c in CHATS), per_chat
        twice = [k for k, n in posts(fake).items() if n > 1]
        assert len(twice) <= 1, twice  # the call in flight when the database went: the documented window


def test_a_malformed_url_is_exit_2_before_any_request(tmp_path: Path) -> None:
    secret = "Sup3r-secret-pw"
    for url in (
        f"mysql://report:{secret}@127.0.0.1:5432/reports",
        f"postgresql://report:{secret}@127.0.0.1:99999/reports",
        f"postgresql://report:{secret}@127.0.0.1:5432/",
    ):
        with FakeTelegram(TOKEN, [FakeChat(c) for c in CHATS]) as fake:
            proc = subprocess.run(
                command(DATES[0]), env=environment(fake, tmp_path, url), capture_output=True, text=True, timeout=60
            )
            assert proc.returncode == 2, (url, proc.stderr)
            assert "REPORT_STATE_URL" in _one_line(proc) and secret not in proc.stderr + proc.stdout
            assert not fake.calls  # not even getMe


def test_a_wrong_password_is_exit_1_and_the_password_is_in_no_output_or_file(
    tmp_path: Path, pg: PgServer, state_url: str
) -> None:
    right = urlsplit(state_url).password or ""
    secret = "wrong-" + right  # the role's password, changed: refused
    bad = state_url.replace(f":{right}@", f":{secret}@")
    out = tmp_path / "out"
    with FakeTelegram(TOKEN, [FakeChat(c) for c in CHATS]) as fake:
        refused = subprocess.run(
            [*command(DATES[0]), "--verbose"],
            env=environment(fake, tmp_path / "s", bad),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert refused.returncode == 1
        assert f"127.0.0.1:{pg.port}/reports" in _one_line(refused) and "password is refused" in _one_line(refused)
        assert not posts(fake)
        fine = subprocess.run(
            [*command(DATES[0]), "--verbose", "--output", str(out)],
            env=environment(fake, tmp_path / "s", state_url),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert fine.returncode == 0, fine.stderr[-2000:]
        check = subprocess.run(
            [sys.executable, "-m", "reports", "check", "--verbose"],
            env=environment(fake, tmp_path / "s", state_url),
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert f"state database 127.0.0.1:{pg.port}/reports" in check.stdout
        bodies = [json.dumps(c.params) for c in fake.calls]
    texts = [refused.stdout, refused.stderr, fine.stdout, fine.stderr, check.stdout, check.stderr, *bodies]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) > 5  # the artifacts, the state folder
    for password in (secret, right):
        assert not any(password in t for t in texts)
        assert not any(password.encode() in p.read_bytes() for p in files)


@pytest.fixture
def small_tablespace(own_server: PgServer) -> Iterator[tuple[str, Path]]:
    """A role of ``own_server`` whose tables live on a 2 MiB tmpfs (a tablespace), its schema made; the mount."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root: run as root (as CI does) to test a full disk on the server")
    disk = Path(tempfile.mkdtemp(prefix="pgdisk-"))
    owner = pwd.getpwnam("postgres")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size=2m,mode=0700,uid={owner.pw_uid},gid={owner.pw_gid}", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mount -t tmpfs was refused: {mounted.stderr.strip()}")
    try:
        (disk / "space").mkdir()
        os.chown(disk / "space", owner.pw_uid, owner.pw_gid)
        url = own_server.role()
        role = urlsplit(url).username
        own_server.sql(f"CREATE TABLESPACE small LOCATION '{disk / 'space'}'")
        own_server.sql(f"GRANT CREATE ON TABLESPACE small TO {role}")
        own_server.sql(f"ALTER ROLE {role} SET default_tablespace = 'small'")
        connect(url).close()  # the schema, made while there is room
        yield url, disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)
        shutil.rmtree(disk, ignore_errors=True)


def test_a_full_disk_on_the_database_server_is_exit_1_one_line_nothing_posted(
    tmp_path: Path, own_server: PgServer, small_tablespace: tuple[str, Path], planned: int
) -> None:
    url, disk = small_tablespace
    filler = disk / "filler"
    with filler.open("wb") as out:  # every free byte of the server's disk
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
    with FakeTelegram(TOKEN, [FakeChat(c) for c in CHATS]) as fake:
        full = subprocess.run(
            command(DATES[0]), env=environment(fake, tmp_path / "a", url), capture_output=True, text=True, timeout=180
        )
        assert full.returncode == 1, full.stderr[-2000:]
        line = _one_line(full)
        assert f"the state database 127.0.0.1:{own_server.port}/reports" in line and "its disk is full" in line
        assert not posts(fake)  # a record that cannot be written: nothing is sent
        filler.unlink()
        freed = subprocess.run(
            command(DATES[0]), env=environment(fake, tmp_path / "b", url), capture_output=True, text=True, timeout=180
        )
        assert freed.returncode == 0, freed.stderr[-2000:]
        assert sorted(Counter(chat for (chat, _, _) in posts(fake)).values()) == [planned, planned]
