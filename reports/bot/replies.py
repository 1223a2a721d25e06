"""How the bot answers: a command's build and its replies (the summary first), a press of a button.

:class:`Answering` is the half of :class:`~reports.bot.app.ReportBot` that posts: a build's first part (the
summary, with its buttons under its last message) goes out as soon as the build process sends it, while that
process draws the charts; the album and the document follow. A press of a button is answered at once
(``answerCallbackQuery``), then handled like the command it stands for; 🔄 Refresh edits the summary it sits
under, in place. Replies go through the delivery's call runner (pacing, flood control, retries).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.error import TelegramError

from reports.bot.buttons import FORGED, BadPress, Keyboard, on_keyboard, read_press
from reports.bot.commands import Request
from reports.bot.records import Answer, Job, answer_error
from reports.bot.runtime import Builds
from reports.delivery.calls import Stop
from reports.delivery.oneoff import OneOffRunner
from reports.delivery.outbox import Outbox
from reports.delivery.plan import DeliveryPolicy, plan_calls
from reports.delivery.records import DeliveryRecord
from reports.logs import new_run_id, run_context
from reports.redact import redact_text
from reports.settings import ChatTarget, Settings

log = logging.getLogger("reports.bot.app")

STALE_MESSAGE = "This message is too old for its buttons: ask with a command (/help lists them)"


class _Keyed:
    """The runner's bot with the keyboard of the message being sent or edited (every other attribute is the bot's)."""

    def __init__(self, bot: Any) -> None:
        self._bot = bot
        self.markup: InlineKeyboardMarkup | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bot, name)

    async def send_message(self, *args: Any, **kwargs: Any) -> Message:
        if self.markup is not None:
            kwargs["reply_markup"] = self.markup
        return await self._bot.send_message(*args, **kwargs)

    async def edit_message_text(self, *args: Any, **kwargs: Any) -> Any:
        return await self._bot.edit_message_text(*args, reply_markup=self.markup, **kwargs)


def _markup(keyboard: Keyboard) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d) for t, d in row] for row in keyboard])


class Answering:
    """Builds and replies; mixed into the bot, whose attributes these are."""

    settings: Settings
    demo: bool
    builds: Builds
    policy: DeliveryPolicy
    _app_bot: Any
    _busy: dict[str, str]
    _building: dict[str, str]
    _sending: dict[asyncio.Task[Any], str]
    _pacing: dict[str, float]
    _stopping: bool

    def _spawn(self, work: Any) -> None:
        raise NotImplementedError

    # -- commands -----------------------------------------------------------------------------------------------

    async def _answer(self, request: Request, target: ChatTarget, reply_to: int) -> None:
        """Build the answer in a process of its own and post it as replies, its summary as soon as it is ready;
        one at a time per chat."""
        run_id = new_run_id()
        started = time.monotonic()
        task = asyncio.current_task()
        sent = 0

        async def first_part(part: Answer) -> None:
            nonlocal sent
            # From here on the answer is being sent: SIGTERM lets it finish (its summary never goes alone).
            self._building.pop(target.chat_id, None)
            if task is not None:
                self._sending[task] = str(target)
            assert part.outbox is not None
            sent += await self._post(part.outbox, target, reply_to, part.keyboard)
            log.info("%s: summary sent to chat %s after %.2f s", request.text, target, time.monotonic() - started)

        try:
            with run_context(request.day, run_id):
                self._building[target.chat_id] = request.text
                try:
                    job = Job(request.command, request.day, self.demo, run_id, request.arg)
                    answer = await self.builds.run(job, first_part)
                finally:
                    self._building.pop(target.chat_id, None)
                if answer.error is not None:
                    if answer.usage:
                        log.info("%s for chat %s refused: %s", request.text, target, answer.error)
                    else:
                        log.warning("%s for chat %s failed: %s", request.text, target, answer.error)
                    answer = answer_error(answer, request.text, after_summary=sent > 0)
                assert answer.outbox is not None
                sent += await self._post(answer.outbox, target, reply_to, answer.keyboard)
                outcome = f"{answer.outcome}, " if answer.outcome and answer.error is None else ""
                log.info(
                    "answered %s in chat %s: %s%d message(s), %.1f s",
                    request.text,
                    target,
                    outcome,
                    sent,
                    time.monotonic() - started,
                )
        finally:
            self._busy.pop(target.chat_id, None)
            if task is not None:
                self._sending.pop(task, None)

    async def _reply(self, target: ChatTarget, reply_to: int, text: str) -> None:
        outbox = Outbox(report_date=datetime.now(UTC).date(), messages=(text,), photos=(), document=None, kind="answer")
        await self._post(outbox, target, reply_to)

    async def _post(self, outbox: Outbox, target: ChatTarget, reply_to: int, keyboard: Keyboard = ()) -> int:
        """Post an answer (the keyboard under its last message); once begun, SIGTERM lets it finish (for a while).
        Returns the messages made."""
        task = asyncio.current_task()
        if task is None or (self._stopping and task not in self._sending):
            return 0
        runner = OneOffRunner(self._app_bot, self.policy, log, reply_to=reply_to, pacing=self._pacing)
        keyed = _Keyed(runner.bot)
        runner.bot = keyed  # type: ignore[assignment]
        mine = task not in self._sending
        self._sending[task] = str(target)
        sent = 0
        try:
            # In memory only, for the runner's bookkeeping (pacing, a migrated group's id): never written.
            record = DeliveryRecord(outbox.report_date, str(target), target.chat_id, target.thread_id)
            calls = plan_calls(outbox, target)
            last = max((i for i, c in enumerate(calls) if c.method == "sendMessage"), default=-1)
            for i, call in enumerate(calls):
                keyed.markup = _markup(keyboard) if i == last else None
                messages, _plain = await runner.send(record, call)
                sent += len(messages)
        except Stop as stop:
            log.warning("could not answer in chat %s: %s", target, stop.message)
        finally:
            if mine:
                self._sending.pop(task, None)
        for warning in runner.warnings:
            log.warning("%s", warning)
        return sent

    # -- buttons ------------------------------------------------------------------------------------------------

    async def _answer_query(self, query_id: str, text: str | None = None) -> None:
        """answerCallbackQuery: stops the client's spinner; ``text`` is shown to the presser only."""
        try:
            await self._app_bot.answer_callback_query(query_id, text=text)
        except TelegramError as exc:  # too old (15 minutes), or answered already: the press is handled anyway
            log.info("could not answer the callback query (%s)", redact_text(exc.message or type(exc).__name__))

    def _press(self, update: Any, target: ChatTarget, ids: str) -> None:
        """A press of a button of the bot's, in an allowed chat by an allowed user (the gate let it through)."""
        query = update.callback_query
        message = query.message
        try:
            if not isinstance(message, Message) or not message.is_accessible:
                raise BadPress(STALE_MESSAGE)  # deleted, or too old: Telegram sends its chat, its id and date 0
            if message.from_user is None or message.from_user.id != self._app_bot.id:
                raise BadPress(FORGED)
            markup = message.reply_markup.to_dict() if message.reply_markup is not None else None
            request = read_press(query.data, self.settings.timezone, datetime.now(UTC))
            if not on_keyboard(query.data or "", markup):
                raise BadPress(FORGED)
        except BadPress as bad:
            log.info("%s: a button (%r) refused: %s", ids, (query.data or "")[:80], bad)
            self._spawn(self._answer_query(query.id, str(bad)))
            return
        log.info("%s: %s", ids, request.text)
        busy = self._busy.get(target.chat_id)
        if busy is not None:
            line = f"⏳ working on the previous request ({busy}): press again once it is answered"
            self._spawn(self._answer_query(query.id, line))
            return
        self._busy[target.chat_id] = request.text
        self._spawn(self._answer_query(query.id))  # at once: the client stops its spinner
        if request.command == "refresh":
            self._spawn(self._refresh(request, target, message))
        else:
            self._spawn(self._answer(request, target, message.message_id))

    async def _refresh(self, request: Request, target: ChatTarget, message: Message) -> None:
        """🔄 Refresh: the day so far as of now, edited into the summary the button sits under (the figures of a
        minute with nothing new are the same: "message is not modified" is no failure)."""
        started = time.monotonic()
        run_id = new_run_id()
        try:
            with run_context(request.day, run_id):
                self._building[target.chat_id] = request.text
                try:
                    answer = await self.builds.run(Job("refresh", request.day, self.demo, run_id))
                finally:
                    self._building.pop(target.chat_id, None)
                if answer.error is not None or answer.outbox is None or len(answer.outbox.messages) != 1:
                    if answer.error is not None:
                        answer = answer_error(answer, request.text)
                    assert answer.outbox is not None
                    # A failure, or a summary grown past one message: replied, not edited.
                    await self._post(answer.outbox, target, message.message_id, answer.keyboard)
                    log.info("answered %s in chat %s with a reply: %s", request.text, target, answer.error or "")
                    return
                changed = await self._edit(target, message.message_id, answer.outbox.messages[0], answer.keyboard)
                log.info(
                    "answered %s in chat %s: message %d %s, %s, %.1f s",
                    request.text,
                    target,
                    message.message_id,
                    "edited" if changed else "unchanged (nothing new)",
                    answer.outcome,
                    time.monotonic() - started,
                )
        finally:
            self._busy.pop(target.chat_id, None)

    async def _edit(self, target: ChatTarget, message_id: int, text: str, keyboard: Keyboard) -> bool:
        """Edit a message of the bot's in ``target``'s chat; False when Telegram found it unchanged (or gone)."""
        task = asyncio.current_task()
        if task is None or self._stopping:
            return False
        runner = OneOffRunner(self._app_bot, self.policy, log, pacing=self._pacing)
        keyed = _Keyed(runner.bot)
        keyed.markup = _markup(keyboard)
        runner.bot = keyed  # type: ignore[assignment]
        self._sending[task] = str(target)
        try:
            record = DeliveryRecord(datetime.now(UTC).date(), str(target), target.chat_id, target.thread_id)
            return await runner.edit_text(record, message_id, text)
        except Stop as stop:
            log.warning("could not edit message %d in chat %s: %s", message_id, target, stop.message)
            return False
        finally:
            self._sending.pop(task, None)
            for warning in runner.warnings:
                log.warning("%s", warning)
