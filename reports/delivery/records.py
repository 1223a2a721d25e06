"""Delivery records in ``REPORT_STATE_DIR``: what was sent to which chat for which date, with message ids.

One JSON file per (report date, chat), rewritten atomically (temporary file, fsync, rename) after every
successful Bot API call, so that a run killed at any point leaves a record of exactly what got through.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reports.errors import DeliveryError
from reports.settings import ChatTarget

RECORD_VERSION = 1


def digest(text: str) -> str:
    """A short, stable fingerprint of a message or caption, to tell whether it changed since it was sent."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class SentCall:
    """One planned call that went through: the messages it made and a digest of each one's text or caption."""

    method: str
    message_ids: list[int]
    digests: list[str]
    plain: bool = False  # sent as plain text after Telegram could not parse the HTML

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in the record file."""
        return {
            "method": self.method,
            "message_ids": self.message_ids,
            "digests": self.digests,
            "plain": self.plain,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SentCall:
        """Read what :meth:`to_json` wrote."""
        return cls(
            method=str(data["method"]),
            message_ids=[int(i) for i in data["message_ids"]],
            digests=[str(d) for d in data["digests"]],
            plain=bool(data.get("plain", False)),
        )


@dataclass
class DeliveryRecord:
    """What one chat got for one report date. ``chat_id`` is where messages went (after a migration)."""

    report_date: date
    chat: str  # the chat as configured, "CHAT" or "CHAT:THREAD"
    chat_id: str
    thread_id: int | None = None
    calls: dict[str, SentCall] = field(default_factory=dict)
    complete: bool = False
    updated_at: str = ""

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in the record file."""
        return {
            "version": RECORD_VERSION,
            "report_date": self.report_date.isoformat(),
            "chat": self.chat,
            "chat_id": self.chat_id,
            "thread_id": self.thread_id,
            "complete": self.complete,
            "updated_at": self.updated_at,
            "calls": {key: call.to_json() for key, call in self.calls.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeliveryRecord:
        """Read what :meth:`to_json` wrote; ValueError/KeyError/TypeError when it is not a record."""
        if data.get("version") != RECORD_VERSION:
            raise ValueError(f"unknown record version {data.get('version')!r}")
        thread = data.get("thread_id")
        return cls(
            report_date=date.fromisoformat(data["report_date"]),
            chat=str(data["chat"]),
            chat_id=str(data["chat_id"]),
            thread_id=int(thread) if thread is not None else None,
            calls={str(k): SentCall.from_json(v) for k, v in data["calls"].items()},
            complete=bool(data.get("complete", False)),
            updated_at=str(data.get("updated_at", "")),
        )


class DeliveryStore:
    """Delivery records under ``<state_dir>/deliveries/<date>/<chat>.json``."""

    def __init__(self, state_dir: Path) -> None:
        self.root = Path(state_dir) / "deliveries"

    def path(self, report_date: date, chat: ChatTarget) -> Path:
        """The record file of one date and chat; the chat is percent-encoded (``:`` included)."""
        return self.root / report_date.isoformat() / f"{quote(str(chat), safe='@-_.')}.json"

    def new(self, report_date: date, chat: ChatTarget) -> DeliveryRecord:
        """An empty record for a first (or forced) delivery."""
        return DeliveryRecord(report_date, str(chat), chat.chat_id, chat.thread_id)

    def load(self, report_date: date, chat: ChatTarget) -> DeliveryRecord | None:
        """The record, None when there is none; :class:`DeliveryError` when it cannot be read."""
        path = self.path(report_date, chat)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as err:
            raise DeliveryError(f"cannot read the delivery record {path}: {err.strerror}") from err
        try:
            return DeliveryRecord.from_json(json.loads(raw))
        except (ValueError, KeyError, TypeError) as err:
            raise DeliveryError(
                f"the delivery record {path} is unreadable ({err}): delete it to let the report be sent "
                "again, or run with --force"
            ) from err

    def check_writable(self, report_date: date | None = None) -> None:
        """:class:`DeliveryError` when records (of that date) cannot be written: found before anything is sent."""
        folder = self.root if report_date is None else self.root / report_date.isoformat()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe.", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise DeliveryError(
                f"cannot write delivery records in {folder} ({err.strerror}): make REPORT_STATE_DIR writable; "
                "nothing was sent"
            ) from err

    @contextmanager
    def lock(self, report_date: date, wait: float = 600.0) -> Iterator[None]:
        """Hold the date's lock for a delivery: two runs (the schedule and one by hand) never post a date at once."""
        folder = self.root / report_date.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            deadline = time.monotonic() + wait
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise DeliveryError(
                            f"another report run is delivering {report_date} (lock {folder / '.lock'}) "
                            f"for over {wait:g} s: let it finish, then re-run"
                        ) from None
                    time.sleep(0.5)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def save(self, record: DeliveryRecord) -> Path:
        """Write the record atomically: a reader sees the old file or the new one, never half of one."""
        chat = ChatTarget(*_split_chat(record.chat))
        path = self.path(record.report_date, chat)
        path.parent.mkdir(parents=True, exist_ok=True)
        record.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        payload = json.dumps(record.to_json(), indent=2, sort_keys=True).encode()
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path


def _split_chat(chat: str) -> tuple[str, int | None]:
    head, sep, thread = chat.rpartition(":")
    if sep and thread.isdigit() and head:
        return head, int(thread)
    return chat, None
