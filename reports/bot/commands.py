"""The bot's commands: who is answered, what it registers with ``setMyCommands``, a message read into a request.

Reading a command is pure (no I/O): the date asked for is checked against the calendar here (a malformed date,
a day or a period that has not ended yet); whether it lies before the history is found by the build itself,
which knows the store of closed days. Every refusal is :class:`BadInput`, one line that says what is accepted.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from reports import calendar
from reports.settings import ChatTarget

COMMANDS: tuple[tuple[str, str], ...] = (
    ("today", "The day so far: every figure up to now, not final"),
    ("movers", "What moved the day so far: each agent's P&L by symbol, and why"),
    ("report", "A day's report: /report [YYYY-MM-DD], default yesterday"),
    ("week", "A week's report (Monday to Sunday): /week [YYYY-MM-DD], default the last one"),
    ("month", "A month's report: /month [YYYY-MM-DD], default the last one"),
    ("agent", "One agent's day: /agent NAME [YYYY-MM-DD] (id, name or its start)"),
    ("symbols", "A day's table by symbol: /symbols [YYYY-MM-DD]"),
    ("positions", "Open positions now, per agent"),
    ("status", "Last report delivered, next scheduled run, the sources"),
    ("help", "What this bot answers"),
)
"""Registered with ``setMyCommands``, in this order: Telegram shows them in the chat's menu."""

BUILDS = ("today", "movers", "report", "week", "month", "agent", "symbols", "positions", "status", "refresh")
"""Commands whose answer is built in a process of its own (one per chat at a time, two in all)."""

ACCEPTED = (
    "/today, /report [YYYY-MM-DD], /week [YYYY-MM-DD], /month [YYYY-MM-DD], /agent NAME [YYYY-MM-DD], "
    "/symbols [YYYY-MM-DD], /movers, /positions, /status and /help"
)
_DATE_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_COMMAND = re.compile(r"/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?")


class BadInput(Exception):
    """A command the bot cannot answer as asked: ``str(err)`` is the one-line reply."""


@dataclass(frozen=True, slots=True)
class Request:
    """A command to answer: ``day`` is the report's last day for report/week/month (already resolved)."""

    command: str
    day: date | None = None
    text: str = ""
    """The command as typed (for the log and the "working on" reply)."""
    arg: str | None = None
    """/agent's NAME (as typed: matched in the build, which knows the agents)."""

    @property
    def builds(self) -> bool:
        """Whether the answer needs a build (else it is answered at once)."""
        return self.command in BUILDS

    @property
    def period(self) -> str:
        """``day``, ``week`` or ``month`` for report/week/month."""
        return period_of_command(self.command)


def period_of_command(command: str) -> str:
    """The period a command reports: /week a week, /month a month, /report (and the rest) a day."""
    return command if command in calendar.PERIOD_KINDS else "day"


def parse(text: str, bot_username: str, timezone: str, now: datetime) -> Request | None:
    """The request in a message's text; None when it is no command for this bot (plain text, or a command
    addressed to another bot with ``/cmd@other_bot``). :class:`BadInput` for a command it cannot answer."""
    match = _COMMAND.match(text.strip())
    if not match or not text.strip().startswith("/"):
        return None
    name, target = match.group(1).lower(), match.group(2)
    if target is not None and target.lower() != bot_username.lower().lstrip("@"):
        return None  # "/report@another_bot": not ours, and not ours to refuse
    args = text.strip()[match.end() :].split()
    shown = " ".join([f"/{name}", *args])
    if name in ("today", "movers", "positions", "status", "help", "start"):
        if args:
            raise BadInput(f"/{name} takes no argument: the bot answers {ACCEPTED}")
        return Request("help" if name == "start" else name, None, shown)
    if name in ("report", "week", "month", "symbols"):
        if len(args) > 1:
            raise BadInput(f"/{name} takes at most one date (YYYY-MM-DD): the bot answers {ACCEPTED}")
        return Request(name, resolve(name, args[0] if args else None, timezone, now), shown)
    if name == "agent":
        # The date, when given, comes last; a display name may hold spaces.
        raw = args.pop() if len(args) > 1 and _DATE_LIKE.fullmatch(args[-1]) else None
        if not args:
            raise BadInput("/agent takes an agent's id or name (or its first letters): /agent NAME [YYYY-MM-DD]")
        return Request(name, resolve(name, raw, timezone, now), shown, " ".join(args))
    raise BadInput(f"unknown command /{name}: the bot answers {ACCEPTED}")


def resolve(command: str, raw: str | None, timezone: str, now: datetime) -> date:
    """The last day of the report asked for (:func:`reports.calendar.resolve`): the day itself, or the last day of
    its week or month; without a date, the last complete one."""
    kind = period_of_command(command)
    day = parse_date(raw, command) if raw is not None else None
    try:
        return calendar.resolve(kind, day, timezone, now)
    except calendar.NotEnded as exc:
        asked, done = exc.asked, exc.latest
        if kind == "day":
            raise BadInput(
                f"{day} has not ended yet in {timezone}: /report takes a day up to {done.last} (YYYY-MM-DD); "
                "/today shows the day so far"
            ) from None
        raise BadInput(
            f"the {kind} {asked.first}..{asked.last} has not ended yet in {timezone}: /{command} takes a date "
            f"in a {kind} up to {done.first}..{done.last} (YYYY-MM-DD)"
        ) from None


def parse_date(raw: str, command: str) -> date:
    """``YYYY-MM-DD`` (:func:`reports.calendar.parse_date`), or :class:`BadInput` saying what is accepted."""
    try:
        return calendar.parse_date(raw)
    except calendar.BadDate as exc:
        if exc.malformed:
            raise BadInput(f"{raw!r} is not a date: use /{command} YYYY-MM-DD, e.g. /{command} 2025-11-21") from None
        raise BadInput(f"{raw!r} is not a valid calendar date: use /{command} YYYY-MM-DD") from None


def help_text(timezone: str) -> str:
    """The answer to /help (Telegram HTML)."""
    lines = ["<b>Sapphire report bot</b>: it answers questions and changes nothing in the trading system."]
    lines += [f"/{name} — {html.escape(description, quote=False)}" for name, description in COMMANDS]
    lines.append(
        "Buttons under an answer: ◀ and ▶ bring the day (or week, or month) before or after it, 🔄 Refresh "
        "brings the day so far up to now in place."
    )
    lines.append(f"Days are in {html.escape(timezone)}. Answers come as replies, one question at a time per chat.")
    return "\n".join(lines)


def refusal(
    allowed: Sequence[ChatTarget], users: Collection[int], chat: Any, user: Any, thread: int | None, kind: str
) -> str | None:
    """Why an update is not answered, or None when its chat (and topic) and user are allowed.

    ``allowed`` are the chats of ``TELEGRAM_ALLOWED_CHATS`` (an entry ``CHAT:THREAD`` allows that topic only, an
    ``@name`` the chat of that username); ``users``, when not empty, the only users answered.
    """
    if chat is None:
        return "not in a chat" if kind != "inline_query" else "inline queries are not answered"
    entries = [
        e
        for e in allowed
        if e.chat_id == str(chat.id)
        or (e.chat_id.startswith("@") and chat.username and e.chat_id[1:].lower() == chat.username.lower())
    ]
    if not entries:
        return "not an allowed chat"
    topics = {e.thread_id for e in entries}
    if None not in topics and thread not in topics:
        return "not an allowed topic of the chat"
    if users and (user is None or user.id not in users):
        return "not an allowed user"
    return None
