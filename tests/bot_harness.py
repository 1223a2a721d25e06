"""``report bot`` as a real process against the fake Bot API: start it, talk to it, wait for its answers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fake_telegram import Call, FakeTelegram
from history_data import history_rows

ROOT = Path(__file__).resolve().parent.parent


def desk_rows(zone: str) -> list[dict]:
    """Twelve days of fills (one an hour) up to ten minutes ago in ``zone``: nothing lands between two answers of
    the day so far."""
    cut = datetime.now(UTC) - timedelta(minutes=10)
    today = datetime.now(ZoneInfo(zone)).date()
    rows = history_rows(today - timedelta(days=12), today + timedelta(days=1), per_hour=1)
    return [r for r in rows if datetime.fromisoformat(r["timestamp"]) < cut]


def noon_zone(now: datetime | None = None) -> str:
    """A fixed-offset zone where it is about noon now: today has fills whatever the hour in UTC, and a test
    never straddles a midnight."""
    hour = (now or datetime.now(UTC)).hour
    east = 12 - hour  # hours east of UTC: 12 .. -11
    return "Etc/GMT" if east == 0 else f"Etc/GMT{'-' if east > 0 else '+'}{abs(east)}"


def wait_for(what: Callable[[], Any], timeout: float = 60.0, step: float = 0.1, message: str = "") -> Any:
    """Poll ``what()`` until it is truthy; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {message or what}")
        time.sleep(step)


class BotProcess:
    """``python -m reports bot`` with ``env``; its standard error (the log) goes to ``log_path``."""

    def __init__(self, env: dict[str, str], log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self._stderr = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reports", "bot", *args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")

    def lines(self, needle: str) -> list[str]:
        return [line for line in self.log().splitlines() if needle in line]

    def wait_log(self, needle: str, count: int = 1, timeout: float = 60.0) -> list[str]:
        return wait_for(
            lambda: len(self.lines(needle)) >= count and self.lines(needle), timeout, message=f"{needle!r} in the log"
        )

    def wait_polling(self, telegram: FakeTelegram, timeout: float = 60.0) -> None:
        self.wait_log("polling getUpdates", timeout=timeout)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then the exit status."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.alive():
                self.proc.kill()
                self.proc.wait(5)
            self._stderr.close()


def answer(
    telegram: FakeTelegram, message: dict[str, Any], *, document: bool = False, timeout: float = 90.0
) -> list[Call]:
    """The replies to ``message``: once a document came (``document``), else once a message came and nothing more
    followed for a moment."""
    if document:
        wait_for(
            lambda: any(c.method == "sendDocument" for c in telegram.replies_to(message)), timeout, message="a document"
        )
        return telegram.replies_to(message)
    wait_for(lambda: telegram.replies_to(message), timeout, message=f"a reply to {message.get('text')!r}")
    seen = -1
    while len(telegram.replies_to(message)) != seen:
        seen = len(telegram.replies_to(message))
        time.sleep(0.3)
    return telegram.replies_to(message)


def text_of(call: Call) -> str:
    """What a chat shows of a sent message (the text after entity parsing)."""
    return call.result["text"] if isinstance(call.result, dict) else ""
