"""Deliver a day's report to Telegram exactly once per chat (CONTRACT 5).

For each chat: the summary messages, the charts as albums, ``report.html`` as a document, through
python-telegram-bot against ``TELEGRAM_API_URL``. A delivery record (``reports.delivery.records``) is reserved
before the first call of the run and written after every successful call, so a re-run edits or leaves what was
sent and only sends what is missing; a record that cannot be read or written stops its chat, never reposts.
The one window left: a run killed after Telegram took a call and before its record was written (no Bot API
call is idempotent) posts that one item again on the re-run.
The bot token is sent to the Bot API and shown nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from telegram.warnings import PTBDeprecationWarning

from reports.calendar import ADJECTIVE
from reports.delivery.calls import CallRunner, Stop, bot_for
from reports.delivery.outbox import Outbox
from reports.delivery.plan import PLACEHOLDER_CHAT, DeliveryPolicy, PlannedCall, plan_calls, write_call_artifacts
from reports.delivery.record_stores import records_for
from reports.delivery.records import DeliveryRecord, DeliveryStore, SentCall, digest
from reports.delivery.records_pg import RecordsUnavailable
from reports.errors import DeliveryError, UsageError
from reports.logs import SecretFilter
from reports.redact import redact_text
from reports.settings import ChatTarget, Settings

__all__ = [
    "PLACEHOLDER_CHAT",
    "ChatDelivery",
    "DeliveryFailed",
    "DeliveryPolicy",
    "DeliveryResult",
    "PlannedCall",
    "deliver",
    "plan_calls",
    "send_failure_notice",
    "write_call_artifacts",
]

_LOG = logging.getLogger(__name__)
NOTICE_KEY = "failure-notice"  # the failure notice's slot in a delivery record
# Loggers that may print the request URL, which holds the token (PTB's Bot logs its base URL at DEBUG).
_URL_LOGGERS = ("httpx", "httpcore", "telegram.Bot", "telegram.BaseRequest", "telegram.HTTPXRequest")


@dataclass(frozen=True, slots=True)
class ChatDelivery:
    """What happened in one chat: messages newly sent, edited, left as they were; the error if it failed."""

    chat: str
    delivered_to: str
    sent: int = 0
    edited: int = 0
    skipped: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The outcome over every chat, with warnings worth showing to the operator."""

    chats: tuple[ChatDelivery, ...]
    warnings: tuple[str, ...] = ()

    @property
    def messages_sent(self) -> int:
        """Telegram messages newly created, over every chat (an album of n photos counts n)."""
        return sum(c.sent for c in self.chats)

    @property
    def messages_edited(self) -> int:
        """Messages edited in place by a re-run."""
        return sum(c.edited for c in self.chats)

    @property
    def messages_skipped(self) -> int:
        """Messages left as they were (already delivered and unchanged)."""
        return sum(c.skipped for c in self.chats)

    @property
    def failed(self) -> tuple[ChatDelivery, ...]:
        """The chats that did not get the whole report."""
        return tuple(c for c in self.chats if c.error)


class DeliveryFailed(DeliveryError):
    """Not every chat got the whole report; ``result`` says what each chat got."""

    def __init__(self, message: str, result: DeliveryResult) -> None:
        super().__init__(message)
        self.result = result


def deliver(
    outbox: Outbox,
    settings: Settings,
    *,
    force: bool = False,
    log: logging.Logger | None = None,
    policy: DeliveryPolicy | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DeliveryResult:
    """Send ``outbox`` to every chat of ``settings.telegram_chats``, exactly once per date and chat.

    A chat already delivered gets its messages edited where they changed and nothing new (``force``
    posts anew); a chat delivered in part gets what is missing. Every chat is tried; if any did not get
    the whole report, :class:`DeliveryFailed` (a :class:`DeliveryError`, exit 1) says what to fix.
    ``should_stop`` is asked before each call (a SIGTERM): when it says yes, the run ends there, every
    call made so far recorded, and a re-run sends the rest.
    """
    if settings.telegram_bot_token is None:
        raise UsageError("TELEGRAM_BOT_TOKEN is not set: set it to send, or use --dry-run")
    if not settings.telegram_chats:
        raise UsageError("TELEGRAM_CHAT_ID is not set: set it to one or more chat ids, or use --dry-run")
    log = log or _LOG
    with _quiet_url_loggers(), warnings.catch_warnings():
        # PTB 22 warns when RetryAfter.retry_after is read as a number; we accept either type.
        warnings.filterwarnings("ignore", message=r".*`retry_after`", category=PTBDeprecationWarning)
        store = records_for(settings, outbox.kind)
        try:
            store.check_writable(outbox.report_date)  # before the first message: a record we cannot keep: a repost
            with store.lock(outbox.report_date):
                result = asyncio.run(
                    _deliver_all(outbox, settings, force, log, policy or DeliveryPolicy(), should_stop, store)
                )
        finally:
            store.close()
    for warning in result.warnings:
        log.warning("%s", warning)
    failed = result.failed
    if failed:
        reasons = list(dict.fromkeys(str(c.error) for c in failed))
        if len(failed) == len(result.chats) and len(reasons) == 1:
            raise DeliveryFailed(reasons[0], result)  # e.g. the token: one cause, one line
        raise DeliveryFailed(
            f"the report was not delivered to {len(failed)} of {len(result.chats)} chat(s): {'; '.join(reasons)}",
            result,
        )
    return result


async def _deliver_all(
    outbox: Outbox,
    settings: Settings,
    force: bool,
    log: logging.Logger,
    policy: DeliveryPolicy,
    should_stop: Callable[[], bool] | None,
    store: DeliveryStore,
) -> DeliveryResult:
    token = settings.telegram_bot_token.reveal() if settings.telegram_bot_token else ""
    warned: list[str] = []
    chats: list[ChatDelivery] = []
    bot = bot_for(settings.telegram_api_url, token, policy)
    runner = CallRunner(bot, policy, log, warned)
    try:
        await runner.start()
    except Stop as stop:  # the token or the server: no chat can be reached
        results = tuple(ChatDelivery(str(c), c.chat_id, error=stop.message) for c in settings.telegram_chats)
        await runner.close()
        return DeliveryResult(results, tuple(warned))
    # Every chat's record is read and its space reserved before the first message of the run: a full disk
    # or a damaged record is found while nothing has been sent yet.
    ready = [_prepare(store, outbox, chat, force) for chat in settings.telegram_chats]
    down: str | None = None
    async with bot:
        for chat, prepared in zip(settings.telegram_chats, ready, strict=True):
            if isinstance(prepared, ChatDelivery) or down is not None:
                chats.append(prepared if down is None else ChatDelivery(str(chat), chat.chat_id, error=down))
                continue
            try:
                chats.append(await _deliver_chat(runner, store, chat, *prepared, log, should_stop))
            except RecordsUnavailable as err:  # the state database is gone: no chat gets a post it cannot record
                down = str(err)
                chats.append(ChatDelivery(str(chat), chat.chat_id, error=down))
    return DeliveryResult(tuple(chats), tuple(warned))


def _prepare(
    store: DeliveryStore, outbox: Outbox, chat: ChatTarget, force: bool
) -> tuple[DeliveryRecord, list[PlannedCall]] | ChatDelivery:
    """The chat's record (read and checked, its file reserved) and its calls; or the chat's failure."""
    try:
        record = None if force else store.load(outbox.report_date, chat)
        record = record or store.new(outbox.report_date, chat)
        planned = plan_calls(outbox, chat)
        store.reserve(record, _slots(record, planned))
    except DeliveryError as err:
        return ChatDelivery(str(chat), chat.chat_id, error=str(err))
    return record, planned


def _slots(record: DeliveryRecord, planned: list[PlannedCall]) -> list[tuple[str, str, int]]:
    """What this run may still add to the record: the calls not sent yet, and a failure notice."""
    if record.complete:
        return []  # a delivered date gets edits only: ids and digests keep their size
    slots = [(c.key, c.method, len(_digests(c))) for c in planned if c.key not in record.calls]
    return [*slots, (NOTICE_KEY, "sendMessage", 1)]


async def _deliver_chat(
    runner: CallRunner,
    store: DeliveryStore,
    chat: ChatTarget,
    record: DeliveryRecord,
    planned: list[PlannedCall],
    log: logging.Logger,
    should_stop: Callable[[], bool] | None = None,
) -> ChatDelivery:
    sent = edited = skipped = 0
    was_complete = record.complete
    try:
        for call in planned:
            if should_stop is not None and should_stop():
                raise Stop(f"stopped before {call.key} of chat {chat}: re-run to send the rest")
            done = record.calls.get(call.key)
            if done is not None:
                changed, unchanged = await _refresh(runner, record, call, done)
                edited, skipped = edited + changed, skipped + unchanged
                if changed:
                    store.save(record)
            elif was_complete:
                runner.warn(
                    f"chat {chat}: {call.key} was not in the report delivered on an earlier run and is not "
                    "sent now (a delivered date gets no new messages; use --force to post the report anew)"
                )
            else:
                messages, plain = await runner.send(record, call)
                ids = [m.message_id for m in messages]
                record.calls[call.key] = SentCall(call.method, ids, _digests(call), plain)
                store.save(record)  # at once: a run killed after this call must not post it again
                sent += len(ids)
                log.info("chat %s: %s sent (%s)", chat, call.key, call.method)
        stale = sorted(set(record.calls) - {c.key for c in planned} - {NOTICE_KEY})
        if stale:
            runner.warn(f"chat {chat}: {', '.join(stale)} from an earlier run no longer belong to the report; left")
        record.complete = True
        store.save(record)
    except Stop as stop:
        return ChatDelivery(str(chat), record.chat_id, sent, edited, skipped, error=stop.message)
    except RecordsUnavailable:
        raise
    except DeliveryError as err:  # a record write failed: no further call to this chat in this run
        return ChatDelivery(str(chat), record.chat_id, sent, edited, skipped, error=str(err))
    return ChatDelivery(str(chat), record.chat_id, sent, edited, skipped)


def _digests(call: PlannedCall) -> list[str]:
    """What each message of the call shows: the text of a message, else the caption of each item."""
    if call.method == "sendMessage":
        return [digest(call.params["text"])]
    if call.method == "sendMediaGroup":
        return [digest(item.get("caption") or "") for item in call.params["media"]]
    return [digest(call.params.get("caption") or "")]


async def _refresh(runner: CallRunner, record: DeliveryRecord, call: PlannedCall, done: SentCall) -> tuple[int, int]:
    """Bring messages sent by an earlier run up to date: (edited, left as they were)."""
    wanted = _digests(call)
    edited = unchanged = 0
    if call.method == "sendMessage":
        texts = [call.params["text"]]
    elif call.method == "sendMediaGroup":
        texts = [item.get("caption") or "" for item in call.params["media"]]
    else:
        texts = [call.params.get("caption") or ""]
    for message_id, old, new, text in zip(done.message_ids, done.digests, wanted, texts, strict=False):
        if old == new:
            unchanged += 1
            continue
        if call.method == "sendMessage":
            changed = await runner.edit_text(record, message_id, text)
        else:
            changed = await runner.edit_caption(record, message_id, text)
        if changed:
            edited += 1
        else:
            unchanged += 1
        done.digests[done.message_ids.index(message_id)] = new
    return edited, unchanged


def send_failure_notice(
    settings: Settings, report_date: date, reason: str, *, policy: DeliveryPolicy | None = None, kind: str = "day"
) -> None:
    """Tell the chats that the report for ``report_date`` could not be built. Best effort: never raises."""
    if settings.telegram_bot_token is None or not settings.telegram_chats:
        return
    token = settings.telegram_bot_token.reveal()
    reason = redact_text(reason)
    text = (
        f"⚠️ <b>The {ADJECTIVE.get(kind, 'daily')} report for {report_date.isoformat()} could not be built.</b>\n"
        f"{_escape(reason)}\nThe job will report it again on its next run."
    )
    policy = policy or DeliveryPolicy(retry_budget=30.0)
    try:
        with _quiet_url_loggers(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*`retry_after`", category=PTBDeprecationWarning)
            # The date's lock: a run delivering this date writes its records; the notice must not race it.
            store = records_for(settings, kind)
            try:
                with store.lock(report_date, wait=10.0):
                    asyncio.run(_notify(settings, token, report_date, text, policy, store))
            finally:
                store.close()
    except Exception as err:  # best effort: the run is failing already, say so and go on
        _LOG.warning("the failure notice could not be sent: %s", redact_text(str(err)))


async def _notify(
    settings: Settings, token: str, report_date: date, text: str, policy: DeliveryPolicy, store: DeliveryStore
) -> None:
    bot = bot_for(settings.telegram_api_url, token, policy)
    runner = CallRunner(bot, policy, _LOG, [])
    try:
        await runner.start()
    except Stop as stop:
        _LOG.warning("the failure notice could not be sent: %s", stop.message)
        await runner.close()
        return
    async with bot:
        for chat in settings.telegram_chats:
            try:
                record = store.load(report_date, chat) or store.new(report_date, chat)
            except RecordsUnavailable:
                raise  # the database is down: a notice it cannot record would be posted again, so none
            except DeliveryError:
                record = store.new(report_date, chat)  # unreadable: notify anyway, keep the broken file
                keep = False
            else:
                keep = True
            if record.complete:
                continue  # the report itself went out on an earlier run: a notice would only confuse
            sent = record.calls.get(NOTICE_KEY)
            if sent is not None and sent.digests == [digest(text)]:
                continue  # this very notice is already in the chat: a re-run must not repeat it
            params: dict[str, Any] = {"chat_id": record.chat_id, "text": text, "parse_mode": "HTML"}
            if chat.thread_id is not None:
                params["message_thread_id"] = chat.thread_id
            try:
                if keep:  # room for the notice's slot first: a notice we could not record would be repeated
                    store.reserve(record, [(NOTICE_KEY, "sendMessage", 1)])
            except DeliveryError as err:
                _LOG.warning("the failure notice was not sent to chat %s: %s", chat, err)
                continue
            try:
                messages, plain = await runner.send(
                    record, PlannedCall(NOTICE_KEY, "sendMessage", chat.chat_id, params)
                )
            except Stop as stop:
                _LOG.warning("the failure notice could not be sent to chat %s: %s", chat, stop.message)
                continue
            record.calls[NOTICE_KEY] = SentCall("sendMessage", [m.message_id for m in messages], [digest(text)], plain)
            if keep:
                try:
                    store.save(record)
                except DeliveryError as err:
                    _LOG.warning("the failure notice sent to chat %s could not be recorded: %s", chat, err)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@contextlib.contextmanager
def _quiet_url_loggers() -> Iterator[None]:
    """Silence the HTTP client loggers (they log URLs) and scrub PTB's own records on their loggers, before
    any handler sees them (one that ``reports.logs`` did not install, too)."""
    scrubber = SecretFilter()
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        logger.addFilter(scrubber)
        if name.startswith("http") and logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name in _URL_LOGGERS:
            logging.getLogger(name).removeFilter(scrubber)
