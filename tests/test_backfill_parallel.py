"""``report --from D1 --to D2 --workers N``: the days built side by side in forked processes give the files a
day-by-day run gives (report.json byte for byte but its generated_at, the same PNGs), over a range crossing a month
end and a change of daylight saving time; a worker SIGKILLed mid-range costs its own day only, the range completes
when run again and nothing is sent twice; ``--shard`` keeps one share of the days."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from factories import make_row, report_env
from fake_telegram import FakeChat, FakeTelegram
from fake_trading import FakeTradingService, running_service

from reports.operations.parallel import cores, parse_shard, share

TOKEN = "7000000003:AAHparallelTOKENparallelTOKEN12345"
CHAT = -1001000000001
GENERATED_AT = re.compile(rb'\n  "generated_at": "[^"]*",\n')
GENERATED = re.compile(rb"[Gg]enerated \d{4}-\d\d-\d\d \d\d:\d\d")
"""report.html's and the summary's 'Generated 2025-11-04 07:00 UTC': the minute each run happened to end in."""


def history_rows(first: date, last: date) -> list[dict[str, Any]]:
    """Three agents on two symbols, fills every day around the clock: near New York's midnight (04:00-05:00 UTC)
    too, so a day's fills depend on the zone's offset that day."""
    rows = []
    d, k = first, 0
    while d <= last:
        base = datetime(d.year, d.month, d.day, tzinfo=UTC)
        for hour, agent, symbol, side in [
            (1, "vpin-hft", "BTCUSDT", "BUY"),
            (4, "momentum", "ETHUSDT", "BUY"),
            (5, "vpin-hft", "BTCUSDT", "SELL"),
            (13, "mean-rev", "ETHUSDT", "SELL"),
            (20, "momentum", "ETHUSDT", "SELL"),
            (23, "mean-rev", "BTCUSDT", "BUY"),
        ]:
            price = (60_000.0 if symbol == "BTCUSDT" else 3_000.0) * (1 + 0.01 * ((k * 7 + hour) % 5 - 2))
            rows.append(
                make_row(
                    agent_id=agent,
                    symbol=symbol,
                    side=side,
                    price=price,
                    quantity=0.01 if symbol == "BTCUSDT" else 0.3,
                    fee=0.05,
                    timestamp=base + timedelta(hours=hour, minutes=30),
                )
            )
        d += timedelta(days=1)
        k += 1
    return rows


def report(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """``report ARGS`` as a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "reports", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def day_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` by its relative path: report.json without its generated_at line (the clock),
    the others with the minute they were generated masked; the PNGs as they are."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "report.json":
                data, n = GENERATED_AT.subn(b"\n", data)
                assert n == 1, path
            elif path.suffix != ".png":
                data = GENERATED.sub(b"Generated (masked)", data)
            files[str(path.relative_to(folder))] = data
    return files


def test_parallel_backfill_equals_the_day_by_day_one_across_a_month_end_and_dst(tmp_path: Path) -> None:
    # 2025-10-31 is a month end; New York leaves daylight saving time on 2025-11-02 (a 25-hour day).
    first, last = date(2025, 10, 30), date(2025, 11, 3)
    fake = FakeTradingService(trades=history_rows(date(2025, 10, 20), last + timedelta(days=1)))
    runs = {}
    with running_service(fake):
        for name, workers in (("one-by-one", "1"), ("side-by-side", "3")):
            env = report_env(
                TRADING_SERVICE_URL=fake.url,
                REPORT_TIMEZONE="America/New_York",
                REPORT_STATE_DIR=str(tmp_path / f"state-{name}"),
            )
            out = tmp_path / name
            args = ["--from", str(first), "--to", str(last), "--dry-run", "--output", str(out), "--workers", workers]
            runs[name] = report(*args, env=env)
            assert runs[name].returncode == 0, runs[name].stderr
    side = runs["side-by-side"]
    assert "building 5 day(s) in 3 worker processes" in side.stderr and "one by one" not in side.stderr
    assert "worker processes" not in runs["one-by-one"].stderr
    # The table: oldest first, the same totals (in each run's own output folder).
    assert side.stdout.replace("side-by-side", "one-by-one") == runs["one-by-one"].stdout
    one, many = day_files(tmp_path / "one-by-one"), day_files(tmp_path / "side-by-side")
    assert sorted({k.split("/")[0] for k in one}) == [str(first + timedelta(days=k)) for k in range(5)]
    pngs = [k for k in one if k.endswith(".png")]
    assert len(pngs) >= 10 and sorted(many) == sorted(one)
    for name in one:
        assert many[name] == one[name], name
    nov2 = json.loads((tmp_path / "side-by-side" / "2025-11-02" / "report.json").read_text())
    assert nov2["period"]["start"] == "2025-11-02T00:00:00-04:00" and nov2["period"]["end"].endswith("-05:00")


class _Port(threading.local):
    port = 0


def _socket_owner(port: int, parent: int) -> int | None:
    """The child of ``parent`` whose TCP socket has local port ``port`` (from /proc: no library needed)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    for pid in children:
        try:
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            return int(pid)
    return None


class KillingService(FakeTradingService):
    """The fake service; the second request for the whole of ``day`` (the first is the main process closing the
    days, the second the worker building that day) gets its worker SIGKILLed before the answer."""

    def __init__(self, rows: list[dict[str, Any]], day: date) -> None:
        super().__init__(trades=rows)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        self.span = ([start.isoformat()], [(start + timedelta(days=1)).isoformat()])
        self.parent = 0
        self.killed: list[int] = []
        self.local = _Port()
        seen = []
        service = self

        class Requests(list):
            def append(self, item: tuple[str, dict[str, list[str]]]) -> None:
                super().append(item)
                path, query = item
                if path != "/api/trades/history" or (query.get("start_date"), query.get("end_date")) != service.span:
                    return
                seen.append(item)
                if len(seen) == 2 and not service.killed:
                    pid = _socket_owner(service.local.port, service.parent)
                    assert pid is not None
                    os.kill(pid, signal.SIGKILL)
                    service.killed.append(pid)
                    time.sleep(0.2)  # the answer below goes to a closed socket

        self.requests = Requests()


def sent_items(telegram: FakeTelegram) -> list[tuple[str, str]]:
    """Every accepted sending call as (method, what it showed): a text, or the captions and file names."""
    items = []
    for call in telegram.calls_of("sendMessage", "sendPhoto", "sendMediaGroup", "sendDocument"):
        shown = call.params.get("text") or call.params.get("caption") or call.params.get("media") or ""
        items.append((call.method, f"{shown} {sorted(name for name, _ in call.files.values())}"))
    return items


def test_a_worker_killed_mid_range_costs_its_day_only_and_a_rerun_sends_the_rest_once(tmp_path: Path) -> None:
    first, last = date(2025, 11, 3), date(2025, 11, 6)
    victim = date(2025, 11, 5)
    fake = KillingService(history_rows(date(2025, 10, 30), last + timedelta(days=1)), victim)
    serving = running_service(fake)

    class Handler(serving.server.RequestHandlerClass):  # type: ignore[name-defined,misc]
        def do_GET(self) -> None:
            fake.local.port = self.client_address[1]  # whose request this is: see KillingService
            super().do_GET()

    serving.server.RequestHandlerClass = Handler
    with serving as svc, FakeTelegram(TOKEN, [FakeChat(CHAT)], max_per_minute=1000) as telegram:
        env = report_env(
            TRADING_SERVICE_URL=svc.url,
            TELEGRAM_BOT_TOKEN=TOKEN,
            TELEGRAM_CHAT_ID=str(CHAT),
            TELEGRAM_API_URL=telegram.url,
            REPORT_STATE_DIR=str(tmp_path / "state"),
        )
        args = ["--from", str(first), "--to", str(last), "--workers", "2"]
        with subprocess.Popen(
            [sys.executable, "-m", "reports", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as proc:
            fake.parent = proc.pid
            out, err = proc.communicate(timeout=240)
        assert fake.killed, err
        assert proc.returncode == 1, err
        rows = {line.split()[0]: line for line in out.splitlines()[1:5]}
        assert "failed" in rows[str(victim)] and "killed by SIGKILL" in rows[str(victim)]
        assert all(" sent " in rows[str(d)] for d in (first, date(2025, 11, 4), last))
        assert "1 of 4 day(s) failed (2025-11-05)" in err
        documents = [c.params["caption"] for c in telegram.calls_of("sendDocument")]
        assert sorted(d.split()[-1] for d in documents) == ["2025-11-03", "2025-11-04", "2025-11-06"]

        again = report(*args, env=env)
        assert again.returncode == 0, again.stderr
        table = again.stdout.splitlines()
        assert table[-1] == "4 day(s): 1 sent, 3 skipped"
        items = sent_items(telegram)
    documents = sorted(c.params["caption"].split()[-1] for c in telegram.calls_of("sendDocument"))
    assert documents == [str(first + timedelta(days=k)) for k in range(4)]
    assert len(items) == len(set(items)), "a message was sent twice"


def test_shards_split_the_days_round_robin_and_cover_them_once() -> None:
    days = [date(2025, 1, 1) + timedelta(days=k) for k in range(10)]
    parts = [share(days, (i, 4)) for i in range(4)]
    assert parts[0] == [days[0], days[4], days[8]] and parts[3] == [days[3], days[7]]
    assert sorted(d for p in parts for d in p) == days
    assert share(days, None) == days and parse_shard("3/4") == (3, 4)
    for bad in ("4/4", "-1/4", "1", "a/b", "0/0"):
        proc = report("--from", "2025-01-01", "--to", "2025-01-02", "--shard", bad, "--dry-run", env=report_env())
        assert proc.returncode == 2 and "--shard" in proc.stderr, bad
    proc = report("--date", "2025-01-01", "--workers", "2", env=report_env())
    assert proc.returncode == 2 and "--workers and --shard apply to a range" in proc.stderr
    proc = report("--from", "2025-01-01", "--to", "2025-01-02", "--workers", "0", "--dry-run", env=report_env())
    assert proc.returncode == 2 and "--workers 0" in proc.stderr


def test_when_the_days_cannot_be_closed_first_they_run_one_by_one(tmp_path: Path) -> None:
    from test_backfill import DAYS, FailingDay, rows_for

    # The service fails on the third day's fills while the main process closes the days: a passing outage.
    fake = FailingDay(rows_for(DAYS), DAYS[2])
    with running_service(fake):
        env = report_env(TRADING_SERVICE_URL=fake.url, REPORT_STATE_DIR=str(tmp_path / "state"))
        proc = report("--from", str(DAYS[0]), "--to", str(DAYS[-1]), "--dry-run", "--output", str(tmp_path), env=env)
    assert proc.returncode == 0, proc.stderr
    assert (
        f"could not close the days up to {DAYS[-1]} first" in proc.stderr and "the days run one by one" in proc.stderr
    )
    assert "worker processes" not in proc.stderr
    assert proc.stdout.splitlines()[-1] == "5 day(s): 5 written"


def test_the_default_workers_follow_the_cpu_set_and_the_cgroup_quota(tmp_path: Path) -> None:
    cpu_set = len(os.sched_getaffinity(0))
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("max 100000\n")
    assert cores(cpu_max) == cpu_set
    cpu_max.write_text("150000 100000\n")  # a limit of 1.5 CPU: two processes
    assert cores(cpu_max) == min(cpu_set, 2)
    cpu_max.write_text("50000 100000\n")
    assert cores(cpu_max) == 1
    assert cores(tmp_path / "missing") == cpu_set


def test_an_indexed_job_on_one_state_database_posts_each_day_once(tmp_path: Path, state_url: str) -> None:
    # Three pods of an Indexed Job, each on its own node (its own empty folder), one PostgreSQL: the two shares,
    # and a retry of share 0 racing the first (a pod thought lost). Each closes the days first, all at once.
    first, last = date(2025, 11, 3), date(2025, 11, 6)
    fake = FakeTradingService(trades=history_rows(date(2025, 10, 30), last + timedelta(days=1)))
    with running_service(fake), FakeTelegram(TOKEN, [FakeChat(CHAT)], max_per_minute=1000) as telegram:
        pods = []
        for k, shard in enumerate(("0/2", "1/2", "0/2")):
            env = report_env(
                TRADING_SERVICE_URL=fake.url,
                TELEGRAM_BOT_TOKEN=TOKEN,
                TELEGRAM_CHAT_ID=str(CHAT),
                TELEGRAM_API_URL=telegram.url,
                REPORT_STATE_DIR=str(tmp_path / f"pod-{k}"),
                REPORT_STATE_URL=state_url,
            )
            argv = ["--from", str(first), "--to", str(last), "--shard", shard, "--workers", "2"]
            pods.append(
                subprocess.Popen(
                    [sys.executable, "-m", "reports", *argv],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        done = [(p, *p.communicate(timeout=240)) for p in pods]
        items = sent_items(telegram)
        documents = sorted(c.params["caption"].split()[-1] for c in telegram.calls_of("sendDocument"))
    for proc, out, err in done:
        assert proc.returncode == 0, err[-3000:]
        # Sent, or (the racing retry's days, or its twin's) skipped as delivered: never failed.
        assert out.splitlines()[-1].startswith("2 day(s): ") and "failed" not in out, out
    assert documents == [str(first + timedelta(days=k)) for k in range(4)]  # every day, each once
    assert len(items) == len(set(items)), "a message was sent twice"
