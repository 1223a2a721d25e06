"""``report bot``: traders ask in Telegram, the allowed chats get an answer, nobody else gets anything.

A python-telegram-bot :class:`~telegram.ext.Application` long-polls ``getUpdates`` in the foreground. Every
update goes through one handler that answers quickly and never waits on the network: an update from a chat or
user that is not allowed (or an edited message, a channel post, an inline query) is dropped without a reply
and logged at INFO with its chat and user ids (a button pressed there gets at most an empty answer); a command
is read (:mod:`~reports.bot.commands`), a button's press too (:mod:`~reports.bot.buttons`), and its answer
built in a process of its own (:mod:`~reports.bot.runtime`), one per chat at a time and two in all, then posted
as replies in the same chat and topic, the summary first (:mod:`~reports.bot.replies`), through the delivery's
call runner (pacing, flood control, retries). Answers are never the daily delivery: no delivery record is read
(but by /status) or written. Nothing here calls the trading system but to read it.

Two pollers with one token: Telegram answers 409 Conflict to the older long poll and the two take turns; the
bot warns at most once a minute and keeps polling. SIGTERM or Ctrl-C stops it at once (exit 0), builds in
progress included (they are ended; nothing is stored half-way).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import UTC, datetime
from typing import Any

from telegram import BotCommand, Message, Update
from telegram.error import Conflict, InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler
from telegram.request import HTTPXRequest

from reports.bot.commands import COMMANDS, BadInput, Request, help_text, parse, refusal
from reports.bot.replies import Answering
from reports.bot.runtime import STALE_AFTER, Builds, Claims, Heartbeat, PollRequest
from reports.delivery.plan import DeliveryPolicy
from reports.errors import ReportError, UsageError
from reports.redact import redact_text
from reports.settings import ChatTarget, Settings

log = logging.getLogger("reports.bot.app")

POLL_TIMEOUT = 25
"""Seconds Telegram holds a getUpdates call open when there is no update."""
WARN_EVERY = 60.0
"""A polling problem (a conflict, a network error) is logged at most this often."""
START_BUDGET = 120.0
"""Seconds the bot keeps trying to reach the Bot API at start before it gives up (exit 1)."""
FINISH_SENDING = 20.0
"""After SIGTERM, seconds an answer already being sent has to finish (builds in progress are ended at once)."""
_KINDS = tuple(str(kind) for kind in Update.ALL_TYPES)  # message, edited_message, channel_post, inline_query...


def run_bot(settings: Settings, *, demo: bool, verbose: bool) -> int:
    """``report bot``: check what can be checked before any request, then answer until SIGTERM/SIGINT."""
    if not demo:
        from reports.sources.prometheus import load_queries

        load_queries(settings.queries_file)  # a malformed queries file: exit 2 now, not on every answer
    folder = settings.state_dir / "bot"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".probe").touch()
        (folder / ".probe").unlink()
    except OSError as exc:
        raise UsageError(
            f"cannot write in {folder} ({exc.strerror or exc}): the bot keeps its heartbeat there; fix REPORT_STATE_DIR"
        ) from None
    return asyncio.run(ReportBot(settings, demo=demo, verbose=verbose).serve())


class ReportBot(Answering):
    """One bot process: polling, the gate, the builds, the answers (:class:`~reports.bot.replies.Answering`)."""

    def __init__(self, settings: Settings, *, demo: bool, verbose: bool, poll_timeout: int = POLL_TIMEOUT) -> None:
        assert settings.telegram_bot_token is not None
        self.settings, self.demo, self.poll_timeout = settings, demo, poll_timeout
        self.token = settings.telegram_bot_token.reveal()
        self.builds = Builds(settings, {"fmt": settings.log_format, "verbose": verbose})
        self.heartbeat = Heartbeat(settings.state_dir / "bot" / "heartbeat")
        self.policy = DeliveryPolicy()
        self.users = set(settings.telegram_allowed_users)
        self.username = ""
        self.claims: Claims | None = None
        self._app_bot: Any = None
        self._busy: dict[str, str] = {}  # chat id -> the command being answered there
        self._building: dict[str, str] = {}  # chat id -> the command whose answer is being built
        self._sending: dict[asyncio.Task[Any], str] = {}  # answers being posted -> chat id
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pacing: dict[str, float] = {}  # shared by every answer: one call a second per chat
        self._warned: dict[str, tuple[float, int]] = {}
        self._stop: asyncio.Event | None = None
        self._stopping = False
        self._status = 0

    # -- running ------------------------------------------------------------------------------------------------

    async def serve(self) -> int:
        """Poll and answer until SIGTERM/SIGINT (0) or until polling has stopped (1)."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._on_signal, signum)
        app = self._application()
        warm = asyncio.create_task(self.builds.warm())
        try:
            await self._initialize(app)
            if self._stopping:
                return 0
            self._app_bot, self.username = app.bot, app.bot.username
            self.claims = Claims(self.settings.state_dir / "bot" / "answered" / str(app.bot.id))
            await self._register_commands(app)
            self.heartbeat.beat()
            await app.updater.start_polling(  # type: ignore[union-attr]
                timeout=self.poll_timeout, error_callback=self._poll_error, bootstrap_retries=3
            )
            await app.start()
            self._log_start()
            watchdog = asyncio.create_task(self._watch())
            await self._stop.wait()
            watchdog.cancel()
            await self._wind_down(app)
        finally:
            warm.cancel()
            try:
                await app.shutdown()
            except Exception as exc:  # shutting down must not hide why it stops
                log.debug("shutting down: %s", redact_text(repr(exc)))
        log.info("bot stopped")
        return self._status

    def _application(self) -> Application:  # type: ignore[type-arg]
        root = self.settings.telegram_api_url.rstrip("/")
        requests = HTTPXRequest(
            connection_pool_size=16,
            connect_timeout=10.0,
            read_timeout=30.0,
            write_timeout=30.0,
            media_write_timeout=60.0,
        )
        polling = PollRequest(self.heartbeat, connect_timeout=10.0, read_timeout=10.0)
        app = (
            ApplicationBuilder()
            .token(self.token)
            .base_url(root + "/bot")
            .base_file_url(root + "/file/bot")
            .request(requests)
            .get_updates_request(polling)
            .job_queue(None)
            .build()
        )
        app.add_handler(TypeHandler(Update, self._on_update))
        app.add_error_handler(self._on_error)
        return app

    async def _initialize(self, app: Application) -> None:  # type: ignore[type-arg]
        """getMe, retried for :data:`START_BUDGET` seconds; a rejected token is one line (exit 1)."""
        started, delay = time.monotonic(), 1.0
        while True:
            try:
                await app.initialize()
                return
            except InvalidToken:  # its message holds the token: never shown
                raise ReportError(
                    "TELEGRAM_BOT_TOKEN was rejected by Telegram (Unauthorized): set the token BotFather gave the bot"
                ) from None
            except (NetworkError, TelegramError) as exc:
                if time.monotonic() - started + delay > START_BUDGET or self._stopping:
                    if self._stopping:
                        return
                    raise ReportError(
                        f"cannot reach the Bot API at {self.settings.telegram_api_url} ({redact_text(str(exc))})"
                        f" after {time.monotonic() - started:.0f} s: check TELEGRAM_API_URL and the network"
                    ) from None
                log.warning("the Bot API did not answer getMe (%s): retrying in %g s", redact_text(str(exc)), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _register_commands(self, app: Application) -> None:  # type: ignore[type-arg]
        try:
            await app.bot.set_my_commands([BotCommand(name, text) for name, text in COMMANDS])
        except TelegramError as exc:
            log.warning(
                "setMyCommands failed (%s): Telegram's menu may not list the commands; they still work",
                redact_text(str(exc)),
            )
            return
        log.info("commands registered: %s", " ".join(f"/{name}" for name, _ in COMMANDS))

    def _log_start(self) -> None:
        chats = ", ".join(str(c) for c in self.settings.telegram_allowed_chats)
        users = ", ".join(str(u) for u in self.settings.telegram_allowed_users) or "any member"
        log.info(
            "bot @%s polling getUpdates (long polls of %d s); answering chats %s, users: %s; heartbeat %s "
            "(stale after %g s)%s",
            self.username,
            self.poll_timeout,
            chats,
            users,
            self.heartbeat.path,
            STALE_AFTER,
            "; demo data" if self.demo else "",
        )

    async def _watch(self) -> None:
        """Exit with status 1 when no getUpdates round ended for :data:`STALE_AFTER` seconds (polling has died)."""
        while True:
            await asyncio.sleep(5.0)
            if self.heartbeat.age() > STALE_AFTER:
                log.error(
                    "polling has stopped: no getUpdates round ended for %.0f s; exiting so that it is restarted",
                    self.heartbeat.age(),
                )
                self._status = 1
                self._request_stop()
                return

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self._stopping:
            log.warning("%s again: exiting now", name)
            self.builds.end_all(everything=True)
            raise SystemExit(self._status)
        parts = []
        if self._building:
            asked = "; ".join(f"{text} in chat {chat}" for chat, text in self._building.items())
            parts.append(f"abandoning the build in progress, not answered: {asked}")
        if self._sending:
            parts.append(f"finishing the {len(self._sending)} answer(s) being sent (at most {FINISH_SENDING:g} s)")
        if self._building:
            log.warning("%s: stopping; %s", name, "; ".join(parts))
        else:
            log.info("%s: stopping%s", name, "".join(f"; {p}" for p in parts))
        self._request_stop()

    def _request_stop(self) -> None:
        self._stopping = True
        if self._stop is not None:
            self._stop.set()

    async def _wind_down(self, app: Application) -> None:  # type: ignore[type-arg]
        """Builds ended at once, answers being sent finished (for a while), polling stopped (its last offset
        confirmed)."""
        self._stopping = True
        self.builds.end_all()
        sending = set(self._sending)
        for task in list(self._tasks):
            if task not in sending:
                task.cancel()
        if sending:
            _, late = await asyncio.wait(sending, timeout=FINISH_SENDING)
            for task in late:
                log.warning(
                    "an answer still being sent after %g s was cut short (to chat %s)",
                    FINISH_SENDING,
                    self._sending.get(task),
                )
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.builds.end_all(everything=True)  # the builds of answers cut short too
        await asyncio.to_thread(self.builds.reap)
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()

    # -- polling problems ---------------------------------------------------------------------------------------

    def _poll_error(self, exc: TelegramError) -> None:
        """PTB's error callback for getUpdates (it retries by itself): say what is wrong, at most once a minute."""
        desc = redact_text(exc.message or type(exc).__name__)
        if isinstance(exc, Conflict) and "webhook" in desc.lower():
            self._warn("webhook", f"a webhook is set for this bot token ({desc}): delete it, or stop what set it")
        elif isinstance(exc, Conflict):
            self._warn(
                "conflict",
                f"another instance is polling with this token (Telegram answered 409 Conflict: {desc}); this one "
                "keeps polling and the two take turns: stop the other one",
            )
        else:
            self._warn(type(exc).__name__, f"getUpdates failed ({type(exc).__name__}: {desc}); retrying")

    def _warn(self, key: str, message: str) -> None:
        now = time.monotonic()
        last, quiet = self._warned.get(key, (float("-inf"), 0))
        if now - last < WARN_EVERY:
            self._warned[key] = (last, quiet + 1)
            return
        self._warned[key] = (now, 0)
        log.warning("%s%s", message, f" ({quiet} more since the last warning)" if quiet else "")

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        err = context.error
        log.error("handling an update failed: %s: %s", type(err).__name__, redact_text(str(err)))
        log.debug("traceback", exc_info=err)

    # -- the gate -----------------------------------------------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Every update: dropped, or answered in a task of its own (this handler never waits on the network)."""
        kind = next((k for k in _KINDS if getattr(update, k, None) is not None), "other")
        chat, user, message = update.effective_chat, update.effective_user, update.message
        shown = update.effective_message  # for a button: the message it sits under
        topic = isinstance(shown, Message) and shown.is_topic_message
        thread = shown.message_thread_id if topic and shown is not None else None
        refused = self._refused(chat, user, thread, kind)
        ids = f"chat {chat.id if chat else '-'} user {user.id if user else '-'}"
        if refused:
            log.info("dropped an update (%s) from %s: %s", kind, ids, refused)
            if kind == "callback_query" and update.callback_query is not None:
                # No visible answer; an empty one only stops the presser's spinner.
                self._spawn(self._answer_query(update.callback_query.id))
            return
        if kind == "callback_query" and chat is not None and update.callback_query is not None:
            if self.claims is None or self.claims.claim(update.update_id):
                self._press(update, ChatTarget(str(chat.id), thread), ids)
            return
        if kind != "message" or message is None or chat is None:
            log.info("dropped an update (%s) from %s: only new messages are answered", kind, ids)
            return
        try:
            request: Request | BadInput | None = parse(
                message.text or "", self.username, self.settings.timezone, datetime.now(UTC)
            )
        except BadInput as bad:
            request = bad
        if request is None:
            log.debug("ignored a message that is no command for this bot, from %s", ids)
            return
        if self.claims is not None and not self.claims.claim(update.update_id):
            log.info(
                "update %d from %s was answered already (by another instance or before a restart)",
                update.update_id,
                ids,
            )
            return
        target = ChatTarget(str(chat.id), thread)
        if isinstance(request, BadInput):
            log.info("%s: %r refused: %s", ids, message.text, request)
            self._spawn(self._reply(target, message.message_id, str(request)))
            return
        log.info("%s: %s", ids, request.text)
        if request.command == "help":
            self._spawn(self._reply(target, message.message_id, help_text(self.settings.timezone)))
            return
        busy = self._busy.get(target.chat_id)
        if busy is not None:
            line = f"⏳ working on the previous request ({busy}): ask again once it is answered"
            self._spawn(self._reply(target, message.message_id, line))
            return
        self._busy[target.chat_id] = request.text
        self._spawn(self._answer(request, target, message.message_id))

    def _refused(self, chat: Any, user: Any, thread: int | None, kind: str) -> str | None:
        return refusal(self.settings.telegram_allowed_chats, self.users, chat, user, thread, kind)

    # -- answers ------------------------------------------------------------------------------------------------

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
