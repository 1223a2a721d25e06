"""How the fake Bot API reads and checks a call's parameters, and the JSON it answers with.

Text and captions formatted and measured (``parse_mode`` HTML only), photos, integers and flags, setMyCommands'
list, inline keyboards, the replied message's id, the bot's and a chat's JSON, and the lines of
:meth:`FakeTelegram.exchange`. These helpers are shared by the fake's modules only (hence their leading underscore).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fake_telegram_parse import ApiError, ParseError, image_size, parse_html, utf16
from fake_telegram_records import BOT_ID, CALLBACK_DATA_MAX, PHOTO_MAX_BYTES, Call, FakeChat

_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")

_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


def _formatted(
    p: dict[str, Any], key: str, limit: int, too_long: str, empty: str | None
) -> tuple[str, list[dict[str, Any]]]:
    raw = p.get(key)
    raw = "" if raw is None else str(raw)
    mode = p.get("parse_mode")
    if mode in (None, ""):
        text, entities = raw, []
    elif str(mode).lower() == "html":
        try:
            text, entities = parse_html(raw)
        except ParseError as err:
            raise ApiError(400, f"Bad Request: can't parse entities: {err}") from None
    else:
        raise ApiError(400, f"Bad Request: the fake supports parse_mode HTML only, not {mode!r}")
    if utf16(text.strip()) > limit:
        raise ApiError(400, f"Bad Request: {too_long}")
    if empty and not text.strip():
        raise ApiError(400, f"Bad Request: {empty}")
    return text, entities


def _set_caption(message: dict[str, Any], caption: str, entities: list[dict[str, Any]]) -> None:
    message.pop("caption", None)
    message.pop("caption_entities", None)
    if caption:
        message["caption"] = caption
    if entities:
        message["caption_entities"] = entities


def _photo(ref: Any, files: dict[str, tuple[str, bytes]]) -> list[dict[str, Any]]:
    if not (isinstance(ref, str) and ref.startswith("attach://") and ref[9:] in files):
        raise ApiError(400, "Bad Request: there is no photo in the request")
    _, data = files[ref[9:]]
    if len(data) > PHOTO_MAX_BYTES:
        raise ApiError(400, "Bad Request: PHOTO_TOO_BIG")
    size = image_size(data)
    if size is None:
        raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
    width, height = size
    if width <= 0 or height <= 0 or width + height > 10000 or max(width, height) / min(width, height) > 20:
        raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    key = f"{len(data)}-{width}x{height}"
    return [{"file_id": f"photo-{key}", "file_unique_id": key, "width": width, "height": height}]


def _bot_user() -> dict[str, Any]:
    return {"id": BOT_ID, "is_bot": True, "first_name": "Report Bot", "username": "sapphire_report_bot"}


def _chat_json(chat: FakeChat) -> dict[str, Any]:
    out: dict[str, Any] = {"id": chat.id, "type": chat.type, "title": chat.title}
    if chat.username:
        out["username"] = chat.username
    if chat.is_forum:
        out["is_forum"] = True
    return out


def _int(p: dict[str, Any], key: str) -> int | None:
    value = p.get(key)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {key}") from None


def _flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _commands(raw: Any) -> list[dict[str, Any]]:
    """setMyCommands' list, checked like the Bot API: 1-100 commands, names of 1-32 of a-z 0-9 _, descriptions
    of 1-256 characters."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse commands JSON object") from None
    if not isinstance(raw, list) or not 1 <= len(raw) <= 100:
        raise ApiError(400, "Bad Request: commands must be a non-empty array of at most 100 commands")
    for item in raw:
        if not isinstance(item, dict) or not _COMMAND_RE.fullmatch(str(item.get("command", ""))):
            raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        if not 1 <= len(str(item.get("description", ""))) <= 256:
            raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
    return raw


_BUTTON_ACTIONS = ("callback_data", "url", "switch_inline_query", "switch_inline_query_current_chat", "copy_text")


def _inline_keyboard(raw: Any) -> dict[str, Any] | None:
    """A ``reply_markup`` checked like the Bot API's inline keyboards (the only markup the fake takes): rows of
    buttons, each with a text and exactly one action; ``callback_data`` of 1-64 bytes; at most 100 buttons."""
    if raw in (None, ""):
        return None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object") from None
    rows = raw.get("inline_keyboard") if isinstance(raw, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if sum(len(row) for row in rows) > 100:
        raise ApiError(400, "Bad Request: reply markup is too long")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not str(button.get("text") or "").strip():
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: Text must be non-empty")
            actions = [k for k in _BUTTON_ACTIONS if k in button]
            if len(actions) != 1:
                raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if "callback_data" in actions and not (
                isinstance(data, str) and 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_MAX
            ):
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return {"inline_keyboard": [[dict(button) for button in row] for row in rows]}


def _buttons(message: dict[str, Any]) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    return [button["text"] for row in rows for button in row]


def _reply_id(p: dict[str, Any]) -> int | None:
    reply = p.get("reply_parameters")
    if isinstance(reply, str):
        reply = json.loads(reply)
    raw = reply.get("message_id") if isinstance(reply, dict) else p.get("reply_to_message_id")
    try:
        return int(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _short(text: str, width: int = 90) -> str:
    line = " / ".join(part for part in text.splitlines() if part.strip())
    return line if len(line) <= width else line[: width - 1] + "…"


def _describe_update(kind: str, u: dict[str, Any]) -> str:
    chat = u.get("chat") or (u.get("message") or {}).get("chat") or {}
    user = (u.get("from") or {}).get("id", "-")
    where = f"chat {chat.get('id', '-')}" + (f" topic {u['message_thread_id']}" if u.get("is_topic_message") else "")
    what = u.get("text") or u.get("query") or u.get("data") or ""
    number = f" message {u['message_id']}" if "message_id" in u else ""
    return f"{where} user {user}{number}: {what!r}"


def _describe_call(call: Call) -> str | None:
    """One line of :meth:`FakeTelegram.exchange` for an accepted call (None for the polling itself)."""
    p = call.params
    if call.method == "getUpdates":
        ids = [u["update_id"] for u in call.result]
        return f"<- getUpdates (offset {p.get('offset', '-')}): updates {ids}" if ids else None
    reply = _reply_id(p)
    where = f"chat {call.chat_id}" if call.chat_id is not None else ""
    if p.get("message_thread_id") not in (None, ""):
        where += f" topic {p['message_thread_id']}"
    head = f"<- {call.method} {where}".rstrip() + (f" reply to {reply}" if reply is not None else "")
    if call.method in ("sendMessage", "editMessageText"):
        text = call.result.get("text", "") if isinstance(call.result, dict) else ""
        if call.method == "editMessageText":
            head += f" message {p.get('message_id')}"
        buttons = _buttons(call.result) if isinstance(call.result, dict) else []
        return f"{head}: {_short(text)!r}" + (f" buttons {buttons}" if buttons else "")
    if call.method == "answerCallbackQuery":
        return f"{head} {p.get('callback_query_id')}" + (f": {p['text']!r}" if p.get("text") else "")
    if call.method == "sendMediaGroup":
        return f"{head}: album of {len(call.result)} photo(s)"
    if call.method in ("sendPhoto", "sendDocument"):
        name = next(iter(call.files.values()), ("?", b""))[0]
        caption = call.result.get("caption", "") if isinstance(call.result, dict) else ""
        return f"{head}: {name} ({_short(caption, 60)!r})"
    if call.method == "setMyCommands":
        return f"{head}: " + " ".join("/" + c["command"] for c in _commands(p.get("commands")))
    return head
