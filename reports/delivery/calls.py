"""One Bot API call at a time, the way Telegram wants it: paced, 429s waited out, 5xx retried, errors explained.

:class:`CallRunner` turns python-telegram-bot's exceptions into one of three outcomes: a result, a retry
within a bounded time, or :class:`Stop` with a line that tells the operator what to fix.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from telegram import Bot, InputFile, InputMediaPhoto, LinkPreviewOptions, Message
from telegram.constants import MessageLimit, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import HTTPXRequest

from reports.delivery.records import DeliveryRecord
from reports.presentation.tgtext import to_plain_text, truncate_plain
from reports.redact import redact_text

if TYPE_CHECKING:
    from reports.delivery.plan import DeliveryPolicy, PlannedCall

T = TypeVar("T")


class Stop(Exception):
    """A chat (or every chat) cannot get the report now; ``message`` says what to fix."""

    def __init__(self, message: str) -> None:
        message = redact_text(" ".join(message.split()))  # one line, whatever Telegram's description held
        super().__init__(message)
        self.message = message


def _secs(value: float) -> str:
    """A duration as said in a line: ``91 s``, or ``0.3 s`` below ten seconds."""
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _is_parse_error(err: BadRequest) -> bool:
    return "can't parse entities" in err.message.lower()


def _is_not_modified(err: BadRequest) -> bool:
    return "message is not modified" in err.message.lower()


def _is_gone(err: BadRequest) -> bool:
    text = err.message.lower()
    return "message to edit not found" in text or "message can't be edited" in text


class CallRunner:
    """Makes the calls of one run through one :class:`telegram.Bot`."""

    def __init__(self, bot: Bot, policy: DeliveryPolicy, log: logging.Logger, warnings: list[str]) -> None:
        self.bot, self.policy, self.log = bot, policy, log
        self.warnings = warnings
        self._last_call: dict[str, float] = {}

    def warn(self, message: str) -> None:
        """Keep a warning for the result (shown once at the end of the run)."""
        message = redact_text(message)
        if message not in self.warnings:
            self.warnings.append(message)

    async def start(self) -> None:
        """Initialize the bot (getMe): a rejected token or an unreachable server stops every chat."""
        try:
            await self._retrying("getMe", None, lambda _chat: self.bot.initialize())
        except InvalidToken as err:
            # PTB re-raises a rejected getMe with the token in the message; Telegram's own answer is the cause.
            cause = err.__cause__ if isinstance(err.__cause__, TelegramError) else err
            raise self._explain(cause, "getMe", None) from None
        except TelegramError as err:
            raise Stop(f"the Bot API at TELEGRAM_API_URL refused getMe ({self._desc(err)})") from None
        except Stop as stop:
            raise Stop(f"{stop.message}; check TELEGRAM_API_URL and the network") from None

    async def close(self) -> None:
        """Release the HTTP client after a failed start."""
        try:
            await self.bot.shutdown()
        except Exception as err:  # closing after a failure must not hide that failure
            self.log.debug("closing the bot failed: %s", redact_text(repr(err)))

    async def send(self, record: DeliveryRecord, call: PlannedCall) -> tuple[list[Message], bool]:
        """Make a send call; on "can't parse entities", send the same as plain text. Returns (messages, plain)."""
        what = f"{call.method} ({call.key})"
        try:
            return await self._retrying(what, record, lambda chat: self._post(call, chat, plain=False)), False
        except BadRequest as err:
            if not _is_parse_error(err):
                raise self._explain(err, what, record) from None
            self.warn(
                f"chat {record.chat}: Telegram could not parse the HTML of {call.key} ({self._desc(err)}); "
                "sent it as plain text instead"
            )
        except (InvalidToken, Forbidden) as err:
            raise self._explain(err, what, record) from None
        try:
            return await self._retrying(what, record, lambda chat: self._post(call, chat, plain=True)), True
        except (BadRequest, InvalidToken, Forbidden) as err:
            raise self._explain(err, what, record) from None

    async def edit_text(self, record: DeliveryRecord, message_id: int, text: str) -> bool:
        """Edit a sent message; False when Telegram says it is already like that, or it is gone."""

        async def edit(chat: str, plain: bool) -> Any:
            return await self.bot.edit_message_text(
                truncate_plain(to_plain_text(text)) if plain else text,
                chat_id=chat,
                message_id=message_id,
                parse_mode=None if plain else ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )

        return await self._edit(record, message_id, "editMessageText", edit)

    async def edit_caption(self, record: DeliveryRecord, message_id: int, caption: str) -> bool:
        """Edit the caption of a sent photo or document; False when unchanged or gone."""

        async def edit(chat: str, plain: bool) -> Any:
            limit = MessageLimit.CAPTION_LENGTH
            return await self.bot.edit_message_caption(
                chat_id=chat,
                message_id=message_id,
                caption=(truncate_plain(to_plain_text(caption), limit) if plain else caption) or None,
                parse_mode=None if plain or not caption else ParseMode.HTML,
            )

        return await self._edit(record, message_id, "editMessageCaption", edit)

    # -- the machinery ---------------------------------------------------------------------------------

    async def _edit(
        self, record: DeliveryRecord, message_id: int, method: str, edit: Callable[[str, bool], Awaitable[Any]]
    ) -> bool:
        what = f"{method} (message {message_id})"
        for plain in (False, True):
            try:
                await self._retrying(what, record, lambda chat, plain=plain: edit(chat, plain))
                return True
            except BadRequest as err:
                if _is_not_modified(err):
                    return False
                if _is_gone(err):
                    self.warn(
                        f"chat {record.chat}: message {message_id} of an earlier delivery can no longer be "
                        f"edited ({self._desc(err)}); left as it was (use --force to post the report anew)"
                    )
                    return False
                if plain or not _is_parse_error(err):
                    raise self._explain(err, what, record) from None
                self.warn(
                    f"chat {record.chat}: Telegram could not parse the HTML of message {message_id} "
                    f"({self._desc(err)}); edited it as plain text instead"
                )
            except (InvalidToken, Forbidden) as err:
                raise self._explain(err, what, record) from None
        return False  # not reached: the plain attempt returns or raises

    async def _post(self, call: PlannedCall, chat: str, *, plain: bool) -> list[Message]:
        params = call.params
        thread = params.get("message_thread_id")
        limit = MessageLimit.CAPTION_LENGTH

        def caption(text: str | None) -> str | None:
            return truncate_plain(to_plain_text(text), limit) if plain and text else text

        def mode(text: str | None) -> str | None:
            return ParseMode.HTML if text and not plain else None

        def upload(name: str, *, attach: bool = False) -> InputFile:
            attachment = call.files[name.removeprefix("attach://")]
            return InputFile(attachment.data, filename=attachment.filename, attach=attach)

        if call.method == "sendMessage":
            text = params["text"]
            message = await self.bot.send_message(
                chat,
                truncate_plain(to_plain_text(text)) if plain else text,
                parse_mode=None if plain else ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                message_thread_id=thread,
            )
            return [message]
        if call.method == "sendPhoto":
            text = params.get("caption")
            message = await self.bot.send_photo(
                chat, upload(params["photo"]), caption=caption(text), parse_mode=mode(text), message_thread_id=thread
            )
            return [message]
        if call.method == "sendMediaGroup":
            media = [
                InputMediaPhoto(
                    upload(item["media"], attach=True),
                    caption=caption(item.get("caption")),
                    parse_mode=mode(item.get("caption")),
                )
                for item in params["media"]
            ]
            return list(await self.bot.send_media_group(chat, media, message_thread_id=thread))
        if call.method == "sendDocument":
            text = params.get("caption")
            message = await self.bot.send_document(
                chat,
                upload(params["document"]),
                caption=caption(text),
                parse_mode=mode(text),
                message_thread_id=thread,
            )
            return [message]
        raise ValueError(f"unknown planned method {call.method}")

    async def _pace(self, key: str) -> None:
        """Keep calls to one chat at least ``min_interval`` apart (Telegram: about one message a second)."""
        loop = asyncio.get_running_loop()
        last = self._last_call.get(key)
        if last is not None:
            wait = last + self.policy.min_interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        self._last_call[key] = loop.time()

    async def _retrying(self, what: str, record: DeliveryRecord | None, call: Callable[[str], Awaitable[T]]) -> T:
        """Run ``call(chat_id)`` until it succeeds: errors within ``retry_budget``, 429s within ``flood_budget``.

        429 waits ``retry_after``; a network error or 5xx waits an exponential backoff; a migrated group
        is followed at once. A 400, 401 or 403 is raised to the caller: retrying it would not help.
        A send that timed out may have reached Telegram before the answer was lost; it is retried all the
        same (one message possibly twice rather than a report lost), and the record is written only on success.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        tries = 0
        deadline = started + self.policy.retry_budget
        # Flood control is waited out (CONTRACT 5): it has its own, longer bound, kept under the Job's deadline.
        flood_deadline = loop.time() + self.policy.flood_budget
        delay = self.policy.backoff_initial
        where = f" for chat {record.chat}" if record else ""
        while True:
            if record is not None:
                await self._pace(record.chat)
            tries += 1
            try:
                return await call(record.chat_id if record else "")
            except RetryAfter as err:
                wait = _seconds(err.retry_after)
                if loop.time() + wait > flood_deadline:
                    raise Stop(
                        f"Telegram's flood control asks to wait {wait:g} s before {what}{where}, "
                        f"beyond {self.policy.flood_budget:g} s of waiting: re-run later, only what is "
                        "missing is sent"
                    ) from None
                self.log.warning("Telegram flood control: waiting %g s before %s%s", wait, what, where)
                await asyncio.sleep(wait)
            except ChatMigrated as err:
                if record is None:
                    raise Stop(f"unexpected chat migration during {what}") from None
                old, record.chat_id = record.chat_id, str(err.new_chat_id)
                self.warn(
                    f"chat {old} was upgraded to a supergroup with id {record.chat_id}: the report went there; "
                    f"set TELEGRAM_CHAT_ID to {record.chat_id}"
                )
            except (BadRequest, InvalidToken, Forbidden):
                raise
            except (TimedOut, NetworkError) as err:
                if loop.time() + delay > deadline:
                    # What was spent, not the budget: the next wait would have overrun it, so retrying stops short.
                    raise Stop(
                        f"Telegram did not take {what}{where} ({self._desc(err)}), still failing after "
                        f"{_secs(loop.time() - started)} of retries ({tries} tries): re-run later, only what is "
                        "missing is sent"
                    ) from None
                self.log.warning("Telegram %s%s failed (%s); retrying in %g s", what, where, self._desc(err), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.policy.backoff_max)
            except TelegramError as err:
                raise Stop(f"Telegram answered {what}{where} with an error: {self._desc(err)}") from None

    def _desc(self, err: TelegramError) -> str:
        return redact_text(err.message or type(err).__name__)

    def _explain(self, err: TelegramError, what: str, record: DeliveryRecord | None) -> Stop:
        """The one line that says what to fix for an error that retrying will not cure."""
        desc = self._desc(err)
        chat = record.chat_id if record else "-"
        if isinstance(err, InvalidToken):
            return Stop(f"TELEGRAM_BOT_TOKEN was rejected by Telegram ({desc}): set the token BotFather gave the bot")
        lowered = desc.lower()
        if isinstance(err, Forbidden) and "blocked by the user" in lowered:
            return Stop(
                f"the bot was blocked by the user of private chat {chat} ({desc}): ask them to unblock it (open the "
                f"chat with the bot and press Restart), or remove {chat} from TELEGRAM_CHAT_ID"
            )
        if isinstance(err, Forbidden) and "user is deactivated" in lowered:
            return Stop(f"the user of private chat {chat} is deactivated ({desc}): remove it from TELEGRAM_CHAT_ID")
        if isinstance(err, Forbidden) and "initiate conversation" in lowered:
            return Stop(
                f"the bot may not write first to user {chat} ({desc}): they must open the bot and press Start, "
                f"or remove {chat} from TELEGRAM_CHAT_ID"
            )
        if isinstance(err, Forbidden):
            return Stop(
                f"the bot is not a member of chat {chat} or may not post there ({desc}): add the bot to the chat "
                "with the right to post, or fix TELEGRAM_CHAT_ID"
            )
        if "chat not found" in lowered:
            return Stop(
                f"chat {chat} was not found ({desc}): check TELEGRAM_CHAT_ID (a group id starts with -100) "
                "and that the bot was added to the chat"
            )
        if "thread not found" in lowered and record is not None:
            return Stop(
                f"topic {record.thread_id} was not found in chat {chat} ({desc}): check the :THREAD part of "
                "TELEGRAM_CHAT_ID"
            )
        return Stop(
            f"Telegram refused {what} for chat {chat} ({desc}): fix the cause and re-run, only what is missing is sent"
        )


def bot_for(api_url: str, token: str, policy: DeliveryPolicy) -> Bot:
    """A Bot on ``api_url`` (TELEGRAM_API_URL) with the policy's timeouts, for every sender of this package."""
    root = api_url.rstrip("/")
    request = HTTPXRequest(
        connect_timeout=policy.connect_timeout,
        read_timeout=policy.read_timeout,
        write_timeout=policy.read_timeout,
        media_write_timeout=policy.write_timeout,
    )
    return Bot(token, base_url=root + "/bot", base_file_url=root + "/file/bot", request=request)
