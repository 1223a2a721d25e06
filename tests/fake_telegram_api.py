"""The fake Bot API's HTTP side: each request answered, its method dispatched, long polling, the server.

:meth:`BotApi.handle` checks the token, applies the holds and failures a test set, decodes the body, runs the
method and records the request and the call; getUpdates is served here with its update queue and 409 Conflicts,
as are getChat, getChatMember, answerCallbackQuery and the webhook and command methods. A mixin of
:class:`fake_telegram.FakeTelegram`, which holds the state declared below.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from fake_telegram_messages import MessageMethods
from fake_telegram_params import _bot_user, _chat_json, _commands, _describe_call, _flag, _int
from fake_telegram_parse import ApiError, decode_body
from fake_telegram_records import (
    _NOT_BY_DEFAULT,
    BOT_ID,
    CALLBACK_TEXT_MAX,
    CONFLICT,
    QUERY_TTL,
    WEBHOOK_CONFLICT,
    Call,
    FakeChat,
    Hold,
    Request,
    _Failure,
    _Query,
)


class BotApi(MessageMethods):
    """Answering the Bot API's requests; the attributes are set by :class:`fake_telegram.FakeTelegram`."""

    token: str
    chats: dict[int, FakeChat]
    requests: list[Request]
    log: list[tuple[float, str]]
    updates: list[dict[str, Any]]
    polls_open: int
    conflicts: int
    allowed_updates: list[str] | None
    webhook: str | None
    commands: list[dict[str, Any]] | None
    queries: dict[str, _Query]
    _lock: threading.Lock
    _polls: threading.Condition
    _poll_id: int
    _holds: dict[str, Hold]
    _failures: dict[str, deque[_Failure]]
    _on_call: Callable[[Call], None] | None

    def handle(self, http_method: str, path: str, content_type: str, body: bytes) -> tuple[int, bytes]:
        """Answer one HTTP request; returns (status, JSON body). Status 0: drop the connection."""
        match = re.fullmatch(r"/bot([^/]*)/([A-Za-z]+)", urlsplit(path).path)
        status, payload = 200, b""
        method = match.group(2) if match else "?"
        try:
            if not match:
                raise ApiError(404, "Not Found")
            if match.group(1) != self.token:
                raise ApiError(401, "Unauthorized")
            hold = self._holds.get(method)
            if hold is not None:
                # A request that never gets through: the client may be killed meanwhile; once released it is
                # dropped unanswered and unprocessed, as if it had never reached Telegram.
                hold.arrived.set()
                hold.released.wait(30)
                status = 0
                return 0, b""
            with self._lock:
                failure = self._take_failure(method)
            if failure is not None:
                if failure.code == 0:
                    status = 0
                    return 0, b""
                raise ApiError(failure.code, failure.description, failure.parameters)
            params, files = decode_body(content_type, body, urlsplit(path).query)
            with self._lock:
                result, chat_id = self._dispatch(method, params, files)
                call = Call(method, chat_id, params, files, result, time.monotonic())
                self.calls.append(call)
                line = _describe_call(call)
                if line:
                    self.log.append((call.at, line))
            if self._on_call is not None:
                self._on_call(call)
            payload = json.dumps({"ok": True, "result": result}).encode()
        except ApiError as err:
            status = err.code
            answer: dict[str, Any] = {"ok": False, "error_code": err.code, "description": err.description}
            if err.parameters:
                answer["parameters"] = err.parameters
            payload = json.dumps(answer).encode()
        finally:
            with self._lock:
                self.requests.append(Request(method, path.replace(self.token, "<token>"), status, time.monotonic()))
        return status, payload

    def _take_failure(self, method: str) -> _Failure | None:
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining <= 0:
            queue.popleft()
        return failure

    def _dispatch(self, method: str, p: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> tuple[Any, Any]:
        if method == "getMe":
            return _bot_user(), None
        if method == "getUpdates":
            return self._get_updates(p), None
        if method == "deleteWebhook":
            self.webhook = None
            if _flag(p.get("drop_pending_updates")):
                self.updates.clear()
            return True, None
        if method == "getWebhookInfo":
            return {"url": self.webhook or "", "has_custom_certificate": False, "pending_update_count": 0}, None
        if method == "setMyCommands":
            self.commands = _commands(p.get("commands"))
            return True, None
        if method == "getMyCommands":
            return list(self.commands or []), None
        if method == "answerCallbackQuery":
            return self._answer_query(p), None
        handler = {
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_text,
            "sendPhoto": self._send_photo,
            "sendMediaGroup": self._send_media_group,
            "sendDocument": self._send_document,
            "editMessageCaption": self._edit_caption,
        }.get(method)
        if handler is None:
            raise ApiError(404, "Not Found")
        chat = self._chat(p)
        return handler(chat, p, files), chat.id

    def _chat(self, p: dict[str, Any]) -> FakeChat:
        raw = p.get("chat_id")
        if raw in (None, ""):
            raise ApiError(400, "Bad Request: chat_id is empty")
        chat: FakeChat | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            chat = next((c for c in self.chats.values() if c.username and "@" + c.username == raw), None)
        else:
            try:
                chat = self.chats.get(int(raw))
            except (TypeError, ValueError):
                chat = None
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        if chat.migrated_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.bot_status == "left":
            raise ApiError(403, f"Forbidden: bot is not a member of the {chat.type} chat")
        if chat.bot_status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {chat.type} chat")
        if chat.bot_status == "blocked":  # a user who blocked the bot in their private chat
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _get_chat(self, chat: FakeChat, p: dict[str, Any], files: Any) -> dict[str, Any]:
        info = _chat_json(chat) | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }
        return info

    def _get_chat_member(self, chat: FakeChat, p: dict[str, Any], files: Any) -> dict[str, Any]:
        if _int(p, "user_id") != BOT_ID:
            raise ApiError(400, "Bad Request: PARTICIPANT_ID_INVALID")
        return {"status": "member", "user": _bot_user()}

    def _get_updates(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        """Long polling (called with the lock held): confirm what lies before ``offset``, answer at once when
        updates wait, else wait up to ``timeout`` seconds; a newer getUpdates ends this one with 409."""
        if self.webhook:
            raise ApiError(409, WEBHOOK_CONFLICT)
        offset, limit = _int(p, "offset"), _int(p, "limit") or 100
        timeout = float(p.get("timeout") or 0)
        allowed = p.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        if isinstance(allowed, list):
            self.allowed_updates = allowed or None
        self._poll_id += 1
        me = self._poll_id
        self._polls.notify_all()  # the older poll, if one is open, sees it is not the newest and gets 409
        if offset is not None:
            kept = [u for u in self.updates if u["update_id"] >= offset]
            self.updates = kept if offset >= 0 else self.updates[offset:]
        deadline = time.monotonic() + timeout
        self.polls_open += 1
        try:
            while True:
                if self._poll_id != me:
                    self.conflicts += 1
                    self.log.append((time.monotonic(), "<> getUpdates: 409 Conflict to the older poll"))
                    raise ApiError(409, CONFLICT)
                self.updates = [u for u in self.updates if self._wanted(u)]  # Telegram never sends the others
                ready = self.updates[:limit]
                left = deadline - time.monotonic()
                if ready or left <= 0:
                    return [dict(u) for u in ready]
                self._polls.wait(left)
        finally:
            self.polls_open -= 1

    def _wanted(self, update: dict[str, Any]) -> bool:
        kind = next(k for k in update if k != "update_id")
        if self.allowed_updates is None:
            return kind not in _NOT_BY_DEFAULT
        return kind in self.allowed_updates

    def _answer_query(self, p: dict[str, Any]) -> bool:
        """answerCallbackQuery: a query the bot got, answered once and in time; a text of at most 200 characters."""
        query = self.queries.get(str(p.get("callback_query_id") or ""))
        if query is None or query.answered or time.monotonic() - query.at > QUERY_TTL:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        if len(str(p.get("text") or "")) > CALLBACK_TEXT_MAX:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        query.answered = True
        return True


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client killed mid-call (the fault tests do it on purpose): nothing to report
        super().handle_error(request, client_address)


def _handler_for(fake: BotApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, payload = fake.handle(self.command, self.path, self.headers.get("Content-Type", ""), body)
            if status == 0:
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request line holds the token: never print it

    return Handler
