"""The fake Bot API's records and limits: the calls and requests it logs, the chats it knows, its error answers.

Telegram's limits and error texts as the fake enforces them, and the small state behind
:meth:`FakeTelegram.fail`, :meth:`FakeTelegram.hold` and the callback queries it sends.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

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
