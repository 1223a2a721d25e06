"""The fake Bot API's methods that post and edit messages in a chat.

sendMessage, sendPhoto, sendMediaGroup, sendDocument, editMessageText and editMessageCaption, with Telegram's
checks (forum topic, replied message, sizes, nothing modified) and its flood limit per chat. A mixin of
:class:`fake_telegram.FakeTelegram`, which holds the state declared below.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Any

from fake_telegram_params import (
    _NOT_MODIFIED,
    _bot_user,
    _chat_json,
    _flag,
    _formatted,
    _inline_keyboard,
    _int,
    _photo,
    _set_caption,
)
from fake_telegram_parse import ApiError
from fake_telegram_records import (
    ALBUM_MAX,
    ALBUM_MIN,
    CAPTION_LIMIT,
    DOCUMENT_MAX_BYTES,
    TEXT_LIMIT,
    Call,
    FakeChat,
)


class MessageMethods:
    """Posting and editing messages; the attributes are set by :class:`fake_telegram.FakeTelegram`."""

    calls: list[Call]
    max_per_minute: int
    messages: dict[int, dict[int, dict[str, Any]]]
    _next_id: dict[int, int]
    _sent_at: dict[int, deque[float]]

    def _new_message(self, chat: FakeChat, p: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        thread = _int(p, "message_thread_id")
        if thread is not None and not (chat.is_forum and thread in chat.topics):
            raise ApiError(400, "Bad Request: message thread not found")
        replied = self._replied(chat, p, thread)
        if replied is not None:
            content = content | {"reply_to_message": replied}
        markup = _inline_keyboard(p.get("reply_markup"))
        if markup is not None:
            content = content | {"reply_markup": markup}
        message_id = self._next_id[chat.id]
        self._next_id[chat.id] += 1
        message = {"message_id": message_id, "date": int(time.time()), "chat": _chat_json(chat)}
        message["from"] = _bot_user()
        if thread is not None:
            message |= {"message_thread_id": thread, "is_topic_message": True}
        message |= content
        self.messages[chat.id][message_id] = message
        return message

    def _replied(self, chat: FakeChat, p: dict[str, Any], thread: int | None) -> dict[str, Any] | None:
        """The message a send replies to (``reply_parameters`` or the older ``reply_to_message_id``), checked as
        Telegram does: it must be in the chat (unless ``allow_sending_without_reply``) and in the same topic."""
        reply = p.get("reply_parameters")
        if isinstance(reply, str):
            reply = json.loads(reply)
        if reply is None and p.get("reply_to_message_id") not in (None, ""):
            reply = {"message_id": p["reply_to_message_id"]}
        if reply is None:
            return None
        if not isinstance(reply, dict) or _int(reply, "message_id") is None:
            raise ApiError(400, "Bad Request: invalid reply parameters")
        if reply.get("chat_id") not in (None, "", chat.id, str(chat.id)):
            raise ApiError(400, "Bad Request: the fake answers replies in the same chat only")
        original = self.messages[chat.id].get(_int(reply, "message_id") or 0)
        if original is None:
            if _flag(reply.get("allow_sending_without_reply")):
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        if original.get("is_topic_message") and original.get("message_thread_id") != thread:
            raise ApiError(400, "Bad Request: message to be replied not found")
        return {k: v for k, v in original.items() if k != "reply_to_message"}

    def _flood(self, chat: FakeChat, count: int) -> None:
        now = time.monotonic()
        sent = self._sent_at[chat.id]
        while sent and now - sent[0] >= 60:
            sent.popleft()
        if len(sent) + count > self.max_per_minute:
            wait = max(1, int(60 - (now - sent[0])) + 1) if sent else 1
            raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
        sent.extend([now] * count)

    def _send_message(self, chat: FakeChat, p: dict[str, Any], files: Any) -> dict[str, Any]:
        text, entities = _formatted(p, "text", TEXT_LIMIT, "message is too long", "message text is empty")
        self._flood(chat, 1)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._new_message(chat, p, content)

    def _edit_text(self, chat: FakeChat, p: dict[str, Any], files: Any) -> dict[str, Any]:
        message = self._editable(chat, p)
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities = _formatted(p, "text", TEXT_LIMIT, "message is too long", "message text is empty")
        markup = _inline_keyboard(p.get("reply_markup"))  # none given: Telegram removes the keyboard
        if (
            text == message["text"]
            and entities == message.get("entities", [])
            and markup == message.get("reply_markup")
        ):
            raise ApiError(400, _NOT_MODIFIED)
        message["text"] = text
        message.pop("entities", None)
        if entities:
            message["entities"] = entities
        message.pop("reply_markup", None)
        if markup is not None:
            message["reply_markup"] = markup
        message["edit_date"] = int(time.time())
        return message

    def _edit_caption(self, chat: FakeChat, p: dict[str, Any], files: Any) -> dict[str, Any]:
        message = self._editable(chat, p)
        if not any(k in message for k in ("photo", "document")):
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption, entities = _formatted(p, "caption", CAPTION_LIMIT, "message caption is too long", None)
        if caption == message.get("caption", "") and entities == message.get("caption_entities", []):
            raise ApiError(400, _NOT_MODIFIED)
        _set_caption(message, caption, entities)
        message["edit_date"] = int(time.time())
        return message

    def _editable(self, chat: FakeChat, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("inline_message_id"):
            raise ApiError(400, "Bad Request: the fake knows no inline messages")
        message = self.messages[chat.id].get(_int(p, "message_id") or 0)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    def _send_photo(self, chat: FakeChat, p: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        photo = _photo(p.get("photo"), files)
        caption, entities = _formatted(p, "caption", CAPTION_LIMIT, "message caption is too long", None)
        self._flood(chat, 1)
        content: dict[str, Any] = {"photo": photo}
        _set_caption(content, caption, entities)
        return self._new_message(chat, p, content)

    def _send_media_group(self, chat: FakeChat, p: dict[str, Any], files: dict[str, Any]) -> list[Any]:
        media = p.get("media")
        if not isinstance(media, list) or not media:
            raise ApiError(400, "Bad Request: media is empty or not a JSON array")
        if len(media) < ALBUM_MIN:
            raise ApiError(400, "Bad Request: media group must contain 2-10 items")
        if len(media) > ALBUM_MAX:
            raise ApiError(400, "Bad Request: too many messages to send as an album")
        items = []
        for item in media:
            if not isinstance(item, dict) or item.get("type") != "photo":
                raise ApiError(400, "Bad Request: the fake album takes photos only")
            caption, entities = _formatted(item, "caption", CAPTION_LIMIT, "message caption is too long", None)
            items.append((_photo(item.get("media"), files), caption, entities))
        self._flood(chat, len(items))
        group_id = f"{chat.id}{self._next_id[chat.id]}"
        messages = []
        for photo, caption, entities in items:
            content: dict[str, Any] = {"photo": photo, "media_group_id": group_id}
            _set_caption(content, caption, entities)
            messages.append(self._new_message(chat, p, content))
        return messages

    def _send_document(self, chat: FakeChat, p: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        ref = p.get("document")
        if not (isinstance(ref, str) and ref.startswith("attach://") and ref[9:] in files):
            raise ApiError(400, "Bad Request: there is no document in the request")
        name, data = files[ref[9:]]
        if len(data) > DOCUMENT_MAX_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        if not data:
            raise ApiError(400, "Bad Request: file must be non-empty")
        caption, entities = _formatted(p, "caption", CAPTION_LIMIT, "message caption is too long", None)
        self._flood(chat, 1)
        document = {"file_id": f"doc-{len(self.calls)}", "file_unique_id": f"d{len(self.calls)}"}
        document |= {"file_name": name, "file_size": len(data)}
        content: dict[str, Any] = {"document": document}
        _set_caption(content, caption, entities)
        return self._new_message(chat, p, content)
