"""The Bot API calls that deliver an outbox to a chat, and their artifacts (CONTRACT 4). No network here."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from telegram.constants import MediaGroupLimit, MessageLimit

from reports.delivery.outbox import Attachment, Outbox
from reports.presentation.tgtext import split_message, visible_length
from reports.settings import ChatTarget

PLACEHOLDER_CHAT = "<TELEGRAM_CHAT_ID>"


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """Pacing, retry and timeout settings; the defaults suit Telegram, tests pass smaller ones."""

    min_interval: float = 1.0  # seconds between two calls to one chat: Telegram allows about 1 a second
    retry_budget: float = 120.0  # seconds one call may spend retrying network errors and 5xx
    flood_budget: float = 900.0  # seconds one call may spend waiting out flood control (429 retry_after)
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    write_timeout: float = 60.0  # uploads: report.html and the charts


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One Bot API call as it will be made. ``key`` names its slot in the delivery record."""

    key: str
    method: str
    chat_id: str
    params: dict[str, Any]
    files: dict[str, Attachment] = field(default_factory=dict)

    def artifact(self) -> dict[str, Any]:
        """The call as CONTRACT 4 writes it: no token, files by name."""
        return {
            "method": self.method,
            "chat_id": self.chat_id,
            "params": self.params,
            "files": {name: attachment.filename for name, attachment in self.files.items()},
        }


def _caption(text: str | None) -> str | None:
    if not text:
        return None
    if visible_length(text) <= MessageLimit.CAPTION_LENGTH:
        return text
    parts = split_message(text, MessageLimit.CAPTION_LENGTH)
    return parts[0] if parts else None


def _album_sizes(count: int) -> list[int]:
    """Split ``count`` photos into albums of 2..10, as even as possible (11 -> 6 + 5, never 10 + 1)."""
    albums = math.ceil(count / MediaGroupLimit.MAX_MEDIA_LENGTH)
    base, extra = divmod(count, albums)
    return [base + 1] * extra + [base] * (albums - extra)


def plan_calls(outbox: Outbox, chat: ChatTarget) -> list[PlannedCall]:
    """The Bot API calls, in order, that deliver ``outbox`` to one chat."""
    base: dict[str, Any] = {"chat_id": chat.chat_id}
    if chat.thread_id is not None:
        base["message_thread_id"] = chat.thread_id
    calls: list[PlannedCall] = []
    for i, text in enumerate(outbox.messages):
        params = base | {"text": text, "parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}
        calls.append(PlannedCall(f"message:{i}", "sendMessage", chat.chat_id, params))
    photos = list(outbox.photos)
    if len(photos) == 1:
        params = base | {"photo": "attach://photo0"} | _caption_params(photos[0].caption)
        calls.append(PlannedCall("photos:0", "sendPhoto", chat.chat_id, params, {"photo0": photos[0]}))
    elif photos:
        start = 0
        for album, size in enumerate(_album_sizes(len(photos))):
            files = {f"photo{start + k}": photo for k, photo in enumerate(photos[start : start + size])}
            media = [
                {"type": "photo", "media": f"attach://{name}"} | _caption_params(a.caption) for name, a in files.items()
            ]
            calls.append(PlannedCall(f"photos:{album}", "sendMediaGroup", chat.chat_id, base | {"media": media}, files))
            start += size
    if outbox.document is not None:
        params = base | {"document": "attach://document"} | _caption_params(outbox.document.caption)
        calls.append(PlannedCall("document", "sendDocument", chat.chat_id, params, {"document": outbox.document}))
    return calls


def _caption_params(text: str | None) -> dict[str, Any]:
    caption = _caption(text)
    return {"caption": caption, "parse_mode": "HTML"} if caption else {}


def write_call_artifacts(outbox: Outbox, chats: Sequence[ChatTarget], directory: Path) -> None:
    """Write ``directory/NN-<method>.json``, one per call in order over all chats (CONTRACT 4).

    With no chat configured (a dry run), the calls are shown for a placeholder chat ``<TELEGRAM_CHAT_ID>``.
    Files are named by their file name; the token is never part of a call.
    """
    directory.mkdir(parents=True, exist_ok=True)
    targets = list(chats) or [ChatTarget(PLACEHOLDER_CHAT)]
    calls = [call for chat in targets for call in plan_calls(outbox, chat)]
    width = max(2, len(str(len(calls))))
    for old in directory.glob("*.json"):  # a re-run into the same folder must not leave stale calls
        old.unlink()
    for number, call in enumerate(calls, start=1):
        path = directory / f"{number:0{width}d}-{call.method}.json"
        path.write_text(json.dumps(call.artifact(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
