"""Delivery records in ``REPORT_STATE_DIR``: what was sent to which chat for which date, with message ids.

One JSON file per (report date, chat), rewritten after every successful Bot API call, so that a run killed
at any point leaves a record of exactly what got through. A record is written atomically (temporary file,
fsync, rename, fsync of the folder). Before the first call to a chat its file is *reserved*: written whole,
padded with blanks to the largest size this run can make it, so that a disk that fills up meanwhile can
still take every later write: when the temporary file finds no space, the reserved file is overwritten in
place (same size, no new block). Every record read is checked (UTF-8, JSON, shape, types); one that is not
usable stops that chat with a line that names the file: a record we cannot trust never causes a repost.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from reports.errors import DeliveryError
from reports.settings import ChatTarget

RECORD_VERSION = 1
# The widest values a field can take in this run, for the reservation: Telegram's ids fit in 64 bits.
_WIDEST_ID = 2**63 - 1
_WIDEST_CHAT = "-" + "9" * 20  # a group may migrate to a supergroup with a longer id
_WIDEST_TIME = "0000-00-00T00:00:00+00:00"
_SLACK, _BLOCK = 64, 512
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


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
    def from_json(cls, data: Any, where: str = "a call") -> SentCall:
        """Read what :meth:`to_json` wrote; ValueError naming the field that is wrong."""
        obj = _object(data, where)
        ids, digests = obj.get("message_ids"), obj.get("digests")
        if not isinstance(ids, list) or not ids or not all(_is_int(i) for i in ids):
            raise ValueError(f"message_ids of {where} is not a list of integers")
        if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests) or len(digests) != len(ids):
            raise ValueError(f"digests of {where} is not a list of one text per message")
        return cls(
            method=_text(obj, "method", where),
            message_ids=list(ids),
            digests=list(digests),
            plain=_flag(obj, "plain", where),
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
    def from_json(cls, data: Any) -> DeliveryRecord:
        """Read what :meth:`to_json` wrote; ValueError naming the first field that is wrong."""
        obj = _object(data, "the record")
        if obj.get("version") != RECORD_VERSION:
            raise ValueError(f"unknown record version {obj.get('version')!r}")
        raw_date = _text(obj, "report_date", "the record")
        try:
            report_date = date.fromisoformat(raw_date)
        except ValueError:
            raise ValueError(f"report_date {raw_date!r} is not a date") from None
        thread = obj.get("thread_id")
        if thread is not None and not _is_int(thread):
            raise ValueError("thread_id is neither null nor an integer")
        updated = obj.get("updated_at", "")
        if not isinstance(updated, str):
            raise ValueError("updated_at is not a text")
        calls = _object(obj.get("calls"), "calls")
        return cls(
            report_date=report_date,
            chat=_text(obj, "chat", "the record"),
            chat_id=_text(obj, "chat_id", "the record"),
            thread_id=thread,
            calls={key: SentCall.from_json(value, f"calls[{key!r}]") for key, value in calls.items()},
            complete=_flag(obj, "complete", "the record"),
            updated_at=updated,
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is not a message id


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} is {_kind(value)}, not a JSON object")
    return value


def _text(obj: dict[str, Any], name: str, where: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} of {where} is {'missing' if value is None else _kind(value)}, not a text")
    return value


def _flag(obj: dict[str, Any], name: str, where: str) -> bool:
    value = obj.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f"{name} of {where} is {_kind(value)}, not true or false")
    return value


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a text", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def parse_record(raw: bytes) -> DeliveryRecord:
    """A record from the bytes of its file; ValueError saying what is wrong with them."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"not UTF-8 text: byte {err.start} is {raw[err.start : err.start + 1]!r}") from None
    if not text.strip():
        raise ValueError("the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise ValueError("not a record: nested too deeply") from None
    return DeliveryRecord.from_json(data)


_AFTER = "the next run sends only what was not recorded"


def write_error(folder: Path, err: OSError, after: str = _AFTER) -> DeliveryError:
    """The one line for a record that could not be written: what to fix, and what a re-run then does."""
    fix = "free space" if err.errno in _NO_SPACE else "make REPORT_STATE_DIR writable"
    return DeliveryError(f"cannot write delivery records in {folder} ({err.strerror or err}): {fix}; {after}")


class DeliveryStore:
    """Delivery records under ``<state_dir>/deliveries/<date>/<chat>.json``; a week's or a month's under
    ``deliveries-week/`` or ``deliveries-month/``, by the period's last day."""

    def __init__(self, state_dir: Path, kind: str = "day") -> None:
        self.kind = kind
        self.root = Path(state_dir) / ("deliveries" if kind == "day" else f"deliveries-{kind}")

    def close(self) -> None:
        """Nothing to close (the PostgreSQL store has a connection)."""

    def path(self, report_date: date, chat: ChatTarget) -> Path:
        """The record file of one date and chat; the chat is percent-encoded (``:`` included)."""
        return self.root / report_date.isoformat() / f"{quote(str(chat), safe='@-_.')}.json"

    def new(self, report_date: date, chat: ChatTarget) -> DeliveryRecord:
        """An empty record for a first (or forced) delivery."""
        return DeliveryRecord(report_date, str(chat), chat.chat_id, chat.thread_id)

    def load(self, report_date: date, chat: ChatTarget) -> DeliveryRecord | None:
        """The record, None when there is none; :class:`DeliveryError` when it cannot be read or trusted."""
        path = self.path(report_date, chat)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise DeliveryError(
                f"cannot read the delivery record {path} ({err.strerror or err}): fix its permissions, then re-run"
            ) from err
        try:
            record = parse_record(raw)
            if record.report_date != report_date or record.chat != str(chat):
                raise ValueError(f"it is the record of chat {record.chat!r} for {record.report_date}")
        except ValueError as err:
            raise DeliveryError(
                f"the delivery record {path} is unreadable ({err}): delete it to let the report be sent "
                "again, or run with --force"
            ) from None
        return record

    def check_writable(self, report_date: date | None = None) -> None:
        """:class:`DeliveryError` when records (of that date) cannot be written: found before anything is sent."""
        folder = self.root if report_date is None else self.root / report_date.isoformat()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".probe.", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as err:
            raise write_error(folder, err, "nothing was sent") from err

    @contextmanager
    def lock(self, report_date: date, wait: float = 600.0) -> Iterator[None]:
        """Hold the date's lock for a delivery: two runs (the schedule and one by hand) never post a date at once.

        Temporary files left by a run that was killed mid-write are removed once the lock is held.
        """
        folder = self.root / report_date.isoformat()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as err:
            raise write_error(folder, err, "nothing was sent") from err
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
            for stale in folder.glob("*.json.*.tmp"):  # only the lock holder writes here: these are orphans
                stale.unlink(missing_ok=True)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def reserve(self, record: DeliveryRecord, slots: Sequence[tuple[str, str, int]]) -> None:
        """Before the first call to a chat: make its record file as large as this run can make it.

        ``slots`` are the calls this run may still record: (key, method, number of messages). The record is
        written whole (a complete record of what was sent so far, maybe nothing) and padded; a file already
        that large is left as it is. :class:`DeliveryError` when it cannot be written: then nothing is sent.
        """
        path = self._path_of(record)
        size = _reserved_size(record, slots)
        try:
            if path.stat().st_size >= size:
                return
        except FileNotFoundError:
            pass
        except OSError as err:
            raise write_error(path.parent, err) from err
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _replace(path, _encode(record, size))
        except OSError as err:
            raise write_error(path.parent, err) from err

    def save(self, record: DeliveryRecord) -> Path:
        """Write the record: atomically, or over its reserved file in place when the disk has no room left.

        :class:`DeliveryError` (the one line to show) when neither works: the caller then stops that chat.
        """
        path = self._path_of(record)
        record.updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            reserved = path.stat().st_size
        except FileNotFoundError:
            reserved = 0
        except OSError as err:
            raise write_error(path.parent, err) from err
        payload = _encode(record, reserved)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _replace(path, payload)
        except OSError as err:
            if err.errno not in _NO_SPACE or len(payload) > reserved:
                raise write_error(path.parent, err) from err
            try:  # the same number of bytes over blocks the file already has: no new space needed
                _overwrite(path, payload)
            except OSError as again:
                raise write_error(path.parent, again) from again
        return path

    def _path_of(self, record: DeliveryRecord) -> Path:
        return self.path(record.report_date, ChatTarget(*_split_chat(record.chat)))


def _encode(record: DeliveryRecord, size: int = 0) -> bytes:
    """The record's JSON, padded with blanks (which JSON ignores) to ``size`` bytes when it is shorter."""
    payload = json.dumps(record.to_json(), indent=2, sort_keys=True).encode() + b"\n"
    return payload.ljust(size, b" ")


def _reserved_size(record: DeliveryRecord, slots: Sequence[tuple[str, str, int]]) -> int:
    """The largest the record can grow in this run: every slot sent, with the widest ids and chat id."""
    widest = replace(
        record,
        chat_id=max(record.chat_id, _WIDEST_CHAT, key=len),
        calls=dict(record.calls),
        updated_at=_WIDEST_TIME,
        complete=False,
    )
    for key, method, count in slots:
        known = widest.calls.get(key)
        count = max(count, len(known.message_ids) if known else 0)
        widest.calls[key] = SentCall(method, [_WIDEST_ID] * count, ["0" * 16] * count, plain=False)
    need = len(_encode(widest)) + _SLACK
    return -(-need // _BLOCK) * _BLOCK


def _replace(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` atomically; the temporary file is gone whatever happens."""
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
    _sync_folder(path.parent)


def _overwrite(path: Path, payload: bytes) -> None:
    """Write ``payload`` over the file's first bytes, as many as it has: the blocks exist, none is allocated."""
    fd = os.open(path, os.O_WRONLY)
    try:
        view = memoryview(payload)
        while view:
            view = view[os.pwrite(fd, view, len(payload) - len(view)) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (the new name survives a power cut)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def chat_target(chat: str) -> ChatTarget:
    """The chat of a record's ``chat`` text (``CHAT`` or ``CHAT:THREAD``)."""
    return ChatTarget(*_split_chat(chat))


def _split_chat(chat: str) -> tuple[str, int | None]:
    head, sep, thread = chat.rpartition(":")
    if sep and thread.isdigit() and head:
        return head, int(thread)
    return chat, None
