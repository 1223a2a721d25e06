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

The fake is split in modules of its own: ``fake_telegram_records`` (calls, requests, chats, limits),
``fake_telegram_parse`` (HTML, images, request bodies), ``fake_telegram_params`` (a call's parameters checked,
the JSON answered), ``fake_telegram_messages`` (the methods that post and edit) and ``fake_telegram_api`` (each
request answered, long polling, the server); this module is the class tests use and what they import.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

from fake_telegram_api import BotApi, _handler_for, _Server
from fake_telegram_params import _bot_user, _chat_json, _describe_update, _inline_keyboard, _reply_id
from fake_telegram_parse import ApiError, ParseError, image_size, parse_html, utf16
from fake_telegram_records import _DEFAULT_DESCRIPTIONS, USER_ID, Call, FakeChat, Hold, Request, _Failure, _Query

__all__ = ["ApiError", "Call", "FakeChat", "FakeTelegram", "ParseError", "Request", "image_size", "parse_html"]


class FakeTelegram(BotApi):
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
