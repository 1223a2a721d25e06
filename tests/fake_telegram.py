"""A fake Telegram Bot API server on a real 127.0.0.1 socket, as strict as Telegram where we depend on it.

It speaks ``POST /bot<token>/<method>`` with JSON, form or multipart bodies (python-telegram-bot sends the
last two), validates like the Bot API (token, chat, membership, forum topic, Telegram's HTML subset,
length limits after entity parsing, album size, photo dimensions, document size), answers Telegram's
error JSON, records every request and every accepted call, and fails calls on demand.

For a bot it also serves long polling: ``getUpdates`` with ``offset`` (confirming what came before it),
``limit``, ``timeout`` and ``allowed_updates``, over updates the test queues (:meth:`FakeTelegram.command` and
friends); a second poll while one is open ends the older one with 409 Conflict, as Telegram does; a webhook set
makes getUpdates a 409 too. ``deleteWebhook``, ``setMyCommands``/``getMyCommands``, and replies
(``reply_parameters``, the replied message checked like Telegram: in the chat, in the same topic).
:meth:`FakeTelegram.exchange` is the log of what the test sent and what the bot answered.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from fake_telegram_parse import ApiError, ParseError, decode_body, image_size, parse_html, utf16

__all__ = ["ApiError", "Call", "FakeChat", "FakeTelegram", "ParseError", "Request", "image_size", "parse_html"]

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ALBUM_MIN, ALBUM_MAX = 2, 10
PHOTO_MAX_BYTES = 10 * 1024 * 1024
DOCUMENT_MAX_BYTES = 50 * 1024 * 1024
BOT_ID = 7000000001
USER_ID = 424242  # the trader who writes to the bot in the tests
CONFLICT = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
QUERY_TTL = 15 * 60
"""Seconds after which Telegram no longer takes an answer to a callback query (it says "query is too old")."""
CALLBACK_DATA_MAX = 64
CALLBACK_TEXT_MAX = 200
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
# What Telegram sends when allowed_updates was never given: every kind but these.
_NOT_BY_DEFAULT = {"chat_member", "message_reaction", "message_reaction_count"}
_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")


@dataclass
class Call:
    """One accepted Bot API call: what was asked and what was answered."""

    method: str
    chat_id: int | None
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]]  # field -> (file name, bytes)
    result: Any
    at: float


@dataclass
class Request:
    """One HTTP request to the fake, accepted or not."""

    method: str
    path: str
    status: int
    at: float


@dataclass
class FakeChat:
    """A chat the bot may know: a supergroup by default."""

    id: int
    title: str = "Traders"
    type: str = "supergroup"
    username: str | None = None
    is_forum: bool = False
    topics: set[int] = field(default_factory=set)
    bot_status: str = "administrator"  # "member", "administrator", "left", "kicked"; "blocked" in a private chat
    migrated_to: int | None = None


@dataclass
class Hold:
    """Calls held by :meth:`FakeTelegram.hold`: ``arrived`` is set when one is waiting."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Query:
    """A callback query sent to the bot: answered at most once, within :data:`QUERY_TTL` seconds."""

    chat_id: int
    at: float
    answered: bool = False
    update_id: int = 0


@dataclass
class _Failure:
    code: int  # 0: drop the connection without an answer
    description: str
    parameters: dict[str, Any] | None
    remaining: int


_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: wrong parameters",
    401: "Unauthorized",
    403: "Forbidden: bot is not a member of the supergroup chat",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class FakeTelegram:
    """The fake Bot API server. Use as a context manager; ``url`` is the root to give as TELEGRAM_API_URL."""

    def __init__(self, token: str, chats: list[FakeChat] | None = None, *, max_per_minute: int = 20) -> None:
        self.token = token
        self.chats: dict[int, FakeChat] = {c.id: c for c in (chats or [FakeChat(-1001000000001)])}
        self.max_per_minute = max_per_minute
        self.calls: list[Call] = []
        self.requests: list[Request] = []
        self.messages: dict[int, dict[int, dict[str, Any]]] = defaultdict(dict)  # chat -> id -> message
        self._failures: dict[str, deque[_Failure]] = defaultdict(deque)
        self._holds: dict[str, Hold] = {}
        self._on_call: Callable[[Call], None] | None = None
        self._sent_at: dict[int, deque[float]] = defaultdict(deque)
        self._next_id: dict[int, int] = defaultdict(lambda: 1)
        self._lock = threading.Lock()
        self._polls = threading.Condition(self._lock)
        self.updates: list[dict[str, Any]] = []  # queued and not confirmed yet (an offset past them confirms them)
        self._next_update = 1
        self._poll_id = 0  # the newest getUpdates request; an older one still open gets 409 Conflict
        self.polls_open = 0
        self.conflicts = 0
        self.allowed_updates: list[str] | None = None  # kept between calls, as Telegram does
        self.webhook: str | None = None
        self.commands: list[dict[str, Any]] | None = None
        self.queries: dict[str, _Query] = {}  # callback queries sent, by id
        self.log: list[tuple[float, str]] = []  # (monotonic time, line): see exchange()
        self._server = _Server(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-telegram", daemon=True
        )

    @property
    def url(self) -> str:
        """The Bot API root, e.g. ``http://127.0.0.1:PORT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for hold in self._holds.values():
            hold.released.set()
        with self._lock:
            self._poll_id += 1  # open long polls end now
            self._polls.notify_all()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- what tests set up and look at ---------------------------------------------------------------

    def fail(
        self,
        method: str,
        code: int,
        *,
        times: int = 1,
        description: str | None = None,
        retry_after: int = 1,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with an error (code 0: drop the connection)."""
        parameters: dict[str, Any] | None = None
        if code == 429:
            parameters = {"retry_after": retry_after}
        if migrate_to_chat_id is not None:
            parameters = {"migrate_to_chat_id": migrate_to_chat_id}
        text = description or _DEFAULT_DESCRIPTIONS.get(code, "Error").format(retry_after=retry_after)
        with self._lock:
            self._failures[method].append(_Failure(code, text, parameters, times))

    def hold(self, method: str) -> Hold:
        """Keep calls of ``method`` waiting unanswered until released, then drop them (to kill a client mid-call)."""
        hold = Hold()
        with self._lock:
            self._holds[method] = hold
        return hold

    def release(self, method: str) -> None:
        """Stop holding ``method``: held calls are dropped unanswered, later ones are served."""
        with self._lock:
            hold = self._holds.pop(method, None)
        if hold is not None:
            hold.released.set()

    def on_call(self, hook: Callable[[Call], None] | None) -> None:
        """Run ``hook(call)`` after each accepted call, before its answer is sent (to fill a disk, kill a client)."""
        self._on_call = hook

    def clear_failures(self) -> None:
        """Forget the failures still queued: the outage is over."""
        with self._lock:
            self._failures.clear()

    def migrate(self, old: int, new: int) -> None:
        """Upgrade group ``old`` to supergroup ``new``: calls to ``old`` answer ``migrate_to_chat_id``."""
        with self._lock:
            self.chats[old].migrated_to = new
            self.chats.setdefault(new, FakeChat(new, title=self.chats[old].title))

    def calls_of(self, *methods: str) -> list[Call]:
        """Accepted calls of these methods (all when none is named), in order."""
        return [c for c in self.calls if not methods or c.method in methods]

    def attempts(self, method: str) -> list[Request]:
        """Every HTTP request for ``method``, answered with an error or not."""
        return [r for r in self.requests if r.method == method]

    # -- updates the test queues for a bot ---------------------------------------------------------------

    def push(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue an update of ``kind`` (``message``, ``edited_message``, ...); returns its update_id."""
        with self._lock:
            update_id = self._next_update
            self._next_update += 1
            self.updates.append({"update_id": update_id, kind: payload})
            self.log.append((time.monotonic(), f"-> update {update_id} {kind}: {_describe_update(kind, payload)}"))
            self._polls.notify_all()
        return update_id

    def user_message(
        self, chat_id: int, text: str, *, user_id: int = USER_ID, thread: int | None = None
    ) -> dict[str, Any]:
        """A message a user writes in ``chat_id`` (``thread``: a forum topic); the fake knows it from then on."""
        with self._lock:
            chat = self.chats.get(chat_id) or FakeChat(chat_id)
            message_id = self._next_id[chat_id]
            self._next_id[chat_id] += 1
            message: dict[str, Any] = {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": _chat_json(chat),
                "from": {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"},
                "text": text,
            }
            if text.startswith("/"):
                word = text.split()[0]
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16(word)}]
            if thread is not None:
                message |= {"message_thread_id": thread, "is_topic_message": True}
            self.messages[chat_id][message_id] = message
        return message

    def command(self, chat_id: int, text: str, *, user_id: int = USER_ID, thread: int | None = None) -> dict[str, Any]:
        """A user types ``text`` (e.g. ``/report 2025-11-21``) in a chat; returns the message (its update queued)."""
        message = self.user_message(chat_id, text, user_id=user_id, thread=thread)
        return message | {"update_id": self.push("message", message)}

    def bot_message(
        self, chat_id: int, text: str, *, keyboard: list[list[dict[str, str]]] | None = None, age: float = 0.0
    ) -> dict[str, Any]:
        """A message the bot posted earlier (``age`` seconds ago: another run, another day), with its buttons."""
        with self._lock:
            chat = self.chats.get(chat_id) or FakeChat(chat_id)
            message_id = self._next_id[chat_id]
            self._next_id[chat_id] += 1
            message = {"message_id": message_id, "date": int(time.time() - age), "chat": _chat_json(chat)}
            message |= {"from": _bot_user(), "text": text}
            if keyboard is not None:
                message["reply_markup"] = _inline_keyboard({"inline_keyboard": keyboard})
            self.messages[chat_id][message_id] = message
        return message

    def edited(self, chat_id: int, text: str, *, user_id: int = USER_ID) -> int:
        """A user edits a message of theirs into ``text``."""
        message = self.user_message(chat_id, text, user_id=user_id) | {"edit_date": int(time.time())}
        return self.push("edited_message", message)

    def channel_post(self, chat_id: int, text: str) -> int:
        """A post in a channel (no user: the channel itself is the sender)."""
        chat = self.chats.get(chat_id) or FakeChat(chat_id, type="channel")
        post = {k: v for k, v in self.user_message(chat_id, text).items() if k != "from"}
        return self.push("channel_post", post | {"chat": _chat_json(chat), "sender_chat": _chat_json(chat)})

    def inline_query(self, query: str, *, user_id: int = USER_ID) -> int:
        """``@bot query`` typed in any chat."""
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        return self.push("inline_query", {"id": f"iq{self._next_update}", "from": user, "query": query, "offset": ""})

    def callback_query(
        self,
        chat_id: int,
        data: str,
        *,
        user_id: int = USER_ID,
        message_id: int | None = None,
        inaccessible: bool = False,
    ) -> int:
        """A button pressed under message ``message_id`` of the bot in ``chat_id`` (by default a message the fake
        does not know: Telegram then sends what it holds of it). The update carries the message as it is now,
        its inline keyboard included, as Telegram's does; ``data`` is sent as given (a forged or oversized value
        too: a modified client can send any). ``inaccessible``: the message as Telegram sends one the bot may no
        longer see (deleted, or too old): its chat, its id and a date of 0, nothing else."""
        with self._lock:
            chat = self.chats.get(chat_id) or FakeChat(chat_id)
            message = self.messages[chat_id].get(message_id) if message_id is not None else None
            if message is None:
                message = {"message_id": message_id or 999999, "date": int(time.time()), "chat": _chat_json(chat)}
                message["text"] = "?"
            message = {k: v for k, v in message.items() if k != "reply_to_message"}
            if inaccessible:
                message = {"chat": message["chat"], "message_id": message["message_id"], "date": 0}
            query_id = f"cq{len(self.queries) + 1}"
            self.queries[query_id] = _Query(chat_id, time.monotonic())
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        query = {"id": query_id, "from": user, "chat_instance": "1", "data": data, "message": message}
        update_id = self.push("callback_query", query)
        with self._lock:
            self.queries[query_id].update_id = update_id
        return update_id

    def answered(self, update_id: int) -> list[Call]:
        """The answerCallbackQuery calls made for the callback query of update ``update_id``."""
        ids = {k for k, q in self.queries.items() if q.update_id == update_id}
        return [c for c in self.calls if c.method == "answerCallbackQuery" and c.params.get("callback_query_id") in ids]

    def replies_to(self, message: dict[str, Any]) -> list[Call]:
        """Accepted calls that reply to ``message`` (a message returned by :meth:`command`)."""
        chat, message_id = message["chat"]["id"], message["message_id"]
        return [c for c in self.calls if c.chat_id == chat and _reply_id(c.params) == message_id]

    def sent_to(self, chat_id: int) -> list[Call]:
        """Accepted calls that post something in ``chat_id``."""
        return [c for c in self.calls if c.method.startswith("send") and c.chat_id == chat_id]

    def exchange(self, since: float = 0.0) -> list[str]:
        """What the test sent and what the bot answered, in order (getUpdates rounds left out but conflicts)."""
        with self._lock:
            return [line for at, line in self.log if at >= since]

    # -- the API ---------------------------------------------------------------------------------------

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
        if text == message["text"] and entities == message.get("entities", []) and markup == message.get(
            "reply_markup"
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


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client killed mid-call (the fault tests do it on purpose): nothing to report
        super().handle_error(request, client_address)


def _handler_for(fake: FakeTelegram) -> type[BaseHTTPRequestHandler]:
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
