"""The bot's answer times against cold command-line runs (issue 21): printed figures, not a timed test.

.venv/bin/python -m bench.bot                 # 20,000 fills a day × 30 days, 5 rounds
.venv/bin/python -m bench.bot --quick         # 2,000 fills a day × 10 days, 2 rounds (a smoke test)

What it does: generates deterministic fills (:mod:`bench.data`) up to now, serves them from the benchmark's fake
trading service (:mod:`bench.fake`) and fills the store of closed days with one ``report --date D --dry-run``.
Then ``report bot`` runs on that state against the tests' fake Bot API (``tests/fake_telegram.py``: real long
polling, real sockets), and in alternating rounds:

* ``/report D`` for the stored day D: from the update's arrival (queued in the fake, which answers the open long
  poll at once) to the summary's ``sendMessage`` reaching the fake, against a cold ``report --date D --dry-run``
  process on the same state (spawn to exit);
* ``/today``, same measure, against a cold ``report --today`` process;
* a press of 🔄 Refresh under the day so far: from the callback's arrival to ``editMessageText`` reaching the fake.

Medians of the rounds; the bot's pacing (one call a second per chat) is waited out between two measures, so it
never counts. No Prometheus, no Telegram but the fake.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from bench.child import ROOT, child_env, report_argv, run_child
from bench.data import generate
from bench.fake import FakeService

sys.path.insert(0, str(ROOT / "tests"))
from fake_telegram import USER_ID, Call, FakeChat, FakeTelegram  # the tests' fake Bot API

T = TypeVar("T")
TOKEN = "7000000099:AAHbenchTOKENbenchTOKENbenchTOKEN99"
CHAT = -1001000000001


@dataclass
class Sizes:
    """Fills a day and days of history."""

    per_day: int
    days: int
    rounds: int


FULL = Sizes(20_000, 30, 5)
QUICK = Sizes(2_000, 10, 2)


def _wait(what: Callable[[], T], timeout: float = 180.0) -> T:
    deadline = time.monotonic() + timeout
    while not (value := what()):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: timed out waiting for {what}")
        time.sleep(0.005)
    return value


def _replies(telegram: FakeTelegram, message_id: int) -> list[Call]:
    return telegram.replies_to({"chat": {"id": CHAT}, "message_id": message_id})


def _ask(telegram: FakeTelegram, text: str) -> tuple[float, dict[str, Any]]:
    """Queue a command; (when it arrived, the message)."""
    arrived = time.monotonic()
    return arrived, telegram.command(CHAT, text)


def _summary_after(telegram: FakeTelegram, message: dict[str, Any], arrived: float) -> tuple[float, dict[str, Any]]:
    """Seconds from arrival to the first sendMessage replying to ``message``; waits for the whole answer."""
    first = _wait(
        lambda: next((c for c in _replies(telegram, message["message_id"]) if c.method == "sendMessage"), None)
    )
    _wait(lambda: any(c.method == "sendDocument" for c in _replies(telegram, message["message_id"])))
    return first.at - arrived, first.result


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    now = datetime.now(UTC)
    today = now.date()
    day = today - timedelta(days=2)  # a stored day that is not the last one (the store's tail is read again)
    tape = generate([(today - timedelta(days=k), sizes.per_day) for k in range(sizes.days, -1, -1)])
    fake = FakeService(tape)
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as tmp_name, fake.serve():
        tmp = Path(tmp_name)
        fake.show_until(datetime.now(UTC))
        env = child_env(
            {"TRADING_SERVICE_URL": fake.url, "REPORT_STATE_DIR": str(tmp / "state"), "REPORT_TIMEZONE": "UTC"}
        )
        prime = run_child(
            report_argv(["--date", str(today - timedelta(days=1)), "--dry-run", "--output", str(tmp / "p")]), env
        )
        if not prime.ok:
            raise SystemExit(f"bench: priming the store failed: {prime.error_line()}")
        print(f"store primed: {sizes.days} days × {sizes.per_day:,} fills, {prime.wall_s:.1f} s", flush=True)
        with FakeTelegram(TOKEN, [FakeChat(CHAT)], max_per_minute=100_000) as telegram:
            bot_env = env | {
                "TELEGRAM_BOT_TOKEN": TOKEN,
                "TELEGRAM_CHAT_ID": str(CHAT),
                "TELEGRAM_API_URL": telegram.url,
            }
            log = (tmp / "bot.log").open("w")
            bot = subprocess.Popen([sys.executable, "-m", "reports", "bot"], env=bot_env, cwd=ROOT, stderr=log)
            try:
                _wait(lambda: "polling getUpdates" in (tmp / "bot.log").read_text())
                time.sleep(3.0)  # the fork server imports pandas and matplotlib once, at start
                rows = _rounds(sizes, telegram, env, tmp, day, fake)
            finally:
                bot.terminate()
                bot.wait(30)
                log.close()
    _print(rows, sizes, day)
    return 0


def _rounds(
    sizes: Sizes, telegram: FakeTelegram, env: dict[str, str], tmp: Path, day: date, fake: FakeService
) -> dict[str, list[float]]:
    """Alternating rounds of the cold runs and the bot's answers; the seconds of each measure."""
    got: dict[str, list[float]] = {k: [] for k in ("bot_report", "cli_report", "bot_today", "cli_today", "refresh")}
    for r in range(sizes.rounds):
        fake.show_until(datetime.now(UTC))
        cli_first = r % 2 == 0  # A B, then B A
        for step in ("cli", "bot") if cli_first else ("bot", "cli"):
            if step == "cli":
                cold = run_child(report_argv(["--date", str(day), "--dry-run", "--output", str(tmp / "c")]), env)
                today = run_child(report_argv(["--today", "--output", str(tmp / "t")]), env)
                if not (cold.ok and today.ok):
                    raise SystemExit(f"bench: a cold run failed: {cold.error_line()} / {today.error_line()}")
                got["cli_report"].append(cold.wall_s)
                got["cli_today"].append(today.wall_s)
                continue
            time.sleep(1.2)  # the bot's pacing: one call a second per chat
            arrived, message = _ask(telegram, f"/report {day}")
            got["bot_report"].append(_summary_after(telegram, message, arrived)[0])
            time.sleep(1.2)
            arrived, message = _ask(telegram, "/today")
            seconds, summary = _summary_after(telegram, message, arrived)
            got["bot_today"].append(seconds)
            time.sleep(1.2)
            edits = len(telegram.attempts("editMessageText"))
            pressed = time.monotonic()
            data = f"refresh:{datetime.now(UTC).date()}"
            telegram.callback_query(CHAT, data, user_id=USER_ID, message_id=summary["message_id"])
            edit = _wait(lambda edits=edits: telegram.attempts("editMessageText")[edits:])[0]
            got["refresh"].append(edit.at - pressed)
        print(f"round {r + 1}/{sizes.rounds}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in got.items()), flush=True)
    return got


def _print(got: dict[str, list[float]], sizes: Sizes, day: date) -> None:
    """The table of docs/benchmarks.md's bot section."""
    med = {k: statistics.median(v) for k, v in got.items()}
    cases = [
        (
            f"`/report {day}` (stored day): update → summary's sendMessage",
            "bot_report",
            "cli_report",
            0.25,
            "cold `report --date D --dry-run`",
        ),
        ("`/today`: update → summary's sendMessage", "bot_today", "cli_today", 0.5, "cold `report --today`"),
        ("🔄 Refresh press: callback → editMessageText", "refresh", "cli_today", 0.5, "cold `report --today`"),
    ]
    print(f"\n{sizes.days} days × {sizes.per_day:,} fills a day; medians of {sizes.rounds} rounds (A B, then B A)\n")
    print("| case | bot s | cold process s | ratio | target | met | runs (bot) |")
    print("|---|---|---|---|---|---|---|")
    for name, bot, cold, target, against in cases:
        ratio = med[bot] / med[cold]
        runs = ", ".join(f"{x:.3f}" for x in got[bot])
        print(
            f"| {name} | {med[bot]:.3f} | {med[cold]:.3f} ({against}) | {ratio:.2f} | ≤ {target:g} × | "
            f"{'yes' if ratio <= target else '**no**'} | {runs} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
