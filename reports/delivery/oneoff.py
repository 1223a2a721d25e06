"""One-off posts: an outbox sent to a chat with no delivery record, optionally as a reply to a message.

The bot's answers and ``report --today --send`` use it. They are not the daily delivery: nothing is read from
or written to ``REPORT_STATE_DIR/deliveries*``, no lock is taken, and a re-run posts again. The calls are those
of the daily delivery (:func:`~reports.delivery.plan.plan_calls`) made through the same
:class:`~reports.delivery.calls.CallRunner` (pacing, flood control waited out, network errors and 5xx retried,
one line for what retrying cannot cure), each with ``reply_parameters`` when it answers a message.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from telegram import Bot, Message, ReplyParameters
from telegram.warnings import PTBDeprecationWarning

from reports.delivery.calls import CallRunner, Stop, bot_for
from reports.delivery.outbox import Outbox
from reports.delivery.plan import DeliveryPolicy, plan_calls
from reports.delivery.records import DeliveryRecord
from reports.settings import ChatTarget, Settings

_LOG = logging.getLogger(__name__)


class _Replying:
    """A :class:`telegram.Bot` whose send calls reply to one message (every other attribute is the bot's)."""

    def __init__(self, bot: Bot, reply: ReplyParameters) -> None:
        self._bot, self._reply = bot, reply

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bot, name)

    async def send_message(self, *args: Any, **kwargs: Any) -> Message:
        return await self._bot.send_message(*args, reply_parameters=self._reply, **kwargs)

    async def send_photo(self, *args: Any, **kwargs: Any) -> Message:
        return await self._bot.send_photo(*args, reply_parameters=self._reply, **kwargs)

    async def send_media_group(self, *args: Any, **kwargs: Any) -> tuple[Message, ...]:
        return await self._bot.send_media_group(*args, reply_parameters=self._reply, **kwargs)

    async def send_document(self, *args: Any, **kwargs: Any) -> Message:
        return await self._bot.send_document(*args, reply_parameters=self._reply, **kwargs)


class OneOffRunner(CallRunner):
    """A :class:`CallRunner` for one answer: replies to ``reply_to`` (a message id) when given; ``pacing`` may be
    shared between runners so that answers in one chat keep the same one-call-a-second pace."""

    def __init__(
        self,
        bot: Bot,
        policy: DeliveryPolicy,
        log: logging.Logger,
        *,
        reply_to: int | None = None,
        pacing: MutableMapping[str, float] | None = None,
    ) -> None:
        target: Any = bot
        if reply_to is not None:
            # A command deleted meanwhile still gets its answer, just not as a reply.
            target = _Replying(bot, ReplyParameters(message_id=reply_to, allow_sending_without_reply=True))
        super().__init__(target, policy, log, [])
        if pacing is not None:
            self._last_call = pacing  # type: ignore[assignment]


async def post(runner: CallRunner, outbox: Outbox, chat: ChatTarget) -> int:
    """Send ``outbox`` to ``chat`` (its topic when it has one); returns the messages made. :class:`Stop` when
    Telegram refuses a call for good or retrying ran out of time."""
    # In memory only, for the runner's bookkeeping (pacing, a migrated group's new id): never written anywhere.
    target = DeliveryRecord(outbox.report_date, str(chat), chat.chat_id, chat.thread_id)
    sent = 0
    for call in plan_calls(outbox, chat):
        messages, _plain = await runner.send(target, call)
        sent += len(messages)
    return sent


@dataclass(frozen=True, slots=True)
class OneOffResult:
    """What a one-off post did: messages made in all, and the line of each chat that did not get it all."""

    sent: int
    failed: tuple[str, ...]


def send_oneoff(outbox: Outbox, settings: Settings, *, policy: DeliveryPolicy | None = None) -> OneOffResult:
    """Post ``outbox`` to every chat of ``TELEGRAM_CHAT_ID``, with no delivery record (``report --today --send``)."""
    assert settings.telegram_bot_token is not None
    token = settings.telegram_bot_token.reveal()
    policy = policy or DeliveryPolicy()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*`retry_after`", category=PTBDeprecationWarning)
        return asyncio.run(_send_all(outbox, settings, token, policy))


async def _send_all(outbox: Outbox, settings: Settings, token: str, policy: DeliveryPolicy) -> OneOffResult:
    bot = bot_for(settings.telegram_api_url, token, policy)
    runner = OneOffRunner(bot, policy, _LOG)
    try:
        await runner.start()
    except Stop as stop:
        await runner.close()
        return OneOffResult(0, tuple(f"chat {c}: {stop.message}" for c in settings.telegram_chats))
    sent, failed = 0, []
    async with bot:
        for chat in settings.telegram_chats:
            try:
                sent += await post(runner, outbox, chat)
                _LOG.info("chat %s: the day so far sent", chat)
            except Stop as stop:
                failed.append(f"chat {chat}: {stop.message}")
    for warning in runner.warnings:
        _LOG.warning("%s", warning)
    return OneOffResult(sent, tuple(failed))
