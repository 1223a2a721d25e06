"""``report check``: try each configured source and destination; one line each with what was tried and
what came back.

``fail`` marks a link the report cannot be sent without (the command exits 1, or 2 for a bad setting);
``warn`` a link whose loss degrades the report or the job's monitoring but does not stop it.
The bot token is sent to the Bot API and shown nowhere: every line is scrubbed, and every URL in it shows
no credentials (``reports.redact``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from reports.checks.lines import CheckLine, exit_status, trading_client
from reports.checks.store import store_lines
from reports.errors import FetchError, UsageError
from reports.redact import redact_text
from reports.settings import ChatTarget, Settings
from reports.sources.trading_service import TradingService

TIMEOUT = 5.0
FILLS_PAGE = 50
CAN_POST = ("can_send_messages", "can_send_photos", "can_send_documents")
__all__ = ["CheckLine", "exit_status", "run_checks"]  # the CLI and the bot take the lines' names from here


def run_checks(settings: Settings, *, now: datetime | None = None, timeout: float = TIMEOUT) -> Iterator[CheckLine]:
    """Every check in order, each line as soon as it is known; never raises for a broken link."""
    now = now or datetime.now(UTC)
    with httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))) as http:
        for check in (_trading, store_lines, _admin, _prometheus, _pushgateway, _telegram, _state, _schedule):
            try:
                lines = list(check(settings, http, now, timeout))
            except Exception as exc:  # a check that breaks is one broken line, never a traceback
                name = check.__name__.strip("_").removesuffix("_lines")
                lines = [CheckLine(name, "fail", f"check failed: {type(exc).__name__}: {exc}")]
            for line in lines:
                # The link names a URL too: neither half shows a credential.
                yield CheckLine(redact_text(line.link), line.status, redact_text(line.text), line.usage)


def _trading(settings: Settings, http: httpx.Client, now: datetime, timeout: float) -> Iterator[CheckLine]:
    link = f"trading service {settings.trading_service_url}"
    with trading_client(settings, timeout) as service:
        try:
            health = service.healthz()
        except FetchError as exc:
            yield CheckLine(link, "fail", f"/healthz: {exc}: check TRADING_SERVICE_URL and that the service runs")
            return
        state = f"running={json.dumps(health.get('running'))} paper_trading={json.dumps(health.get('paper_trading'))}"
        last_error = health.get("last_error")
        if last_error:
            yield CheckLine(link, "warn", f"/healthz: {state}, last_error: {last_error!r} (the service's own error)")
        else:
            yield CheckLine(link, "ok", f"/healthz: {state}, last_error none")
        try:
            page = service.page_before(now, limit=FILLS_PAGE)
        except FetchError as exc:
            yield CheckLine(link, "fail", f"one page of fills: {exc}")
            return
        frame = page.fills.frame
        funding = _funding(service, str(frame["symbol"].iloc[0]) if len(frame) else "BTCUSDT", now)
    if not page.rows:
        # A new service, or one whose database is down: the store's line tells them apart.
        yield CheckLine(link, "warn", "one page of fills: no fill at all before now (the store's line says more)")
    else:
        newest = page.newest.isoformat() if page.newest else "none well formed"
        dropped = "".join(f"; {warning}" for warning in page.warnings)
        yield CheckLine(
            link, "ok", f"one page of fills: {page.rows} read (limit {FILLS_PAGE}), newest {newest}{dropped}"
        )
    yield funding


def _funding(service: TradingService, symbol: str, now: datetime) -> CheckLine:
    """The last day's funding events of ``symbol`` (the newest fill's; BTCUSDT when there is none)."""
    from reports.sources.funding import FUNDING_PATH, FundingUnavailable

    link = f"funding {service.base_url}{FUNDING_PATH}"
    try:
        events, _ = service.funding(symbol, now - timedelta(days=1), now)
    except FundingUnavailable as exc:
        return CheckLine(
            link,
            "warn",
            f"{exc}: the report goes out with funding 'unavailable' (its P&L excludes funding) and a later run "
            "completes those days",
        )
    if not len(events.t_ns):
        return CheckLine(link, "warn", f"no funding event of {symbol} in the last 24 hours: its funding would be 0")
    return CheckLine(link, "ok", f"{len(events.t_ns)} funding event(s) of {symbol} in the last 24 hours")


def _admin(settings: Settings, http: httpx.Client, now: datetime, timeout: float) -> Iterator[CheckLine]:
    from reports.sources.reconcile import check

    status, text = check(settings, timeout=timeout)
    yield CheckLine("admin token", status, _after_link(text))


def _prometheus(settings: Settings, http: httpx.Client, now: datetime, timeout: float) -> Iterator[CheckLine]:
    from reports.sources.prometheus import PrometheusClient, load_queries

    url = settings.prometheus_url
    if not url:
        yield CheckLine("Prometheus", "ok", "not configured (PROMETHEUS_URL unset): the report has no Operations")
        return
    link = f"Prometheus {url}"
    try:
        queries = load_queries(settings.queries_file)
    except UsageError as exc:
        yield CheckLine(link, "fail", str(exc), usage=True)
        return
    try:
        status = http.get(f"{url}/-/ready").status_code
    except httpx.HTTPError as exc:
        yield CheckLine(
            link,
            "warn",
            f"/-/ready: could not connect ({type(exc).__name__}): check PROMETHEUS_URL; "
            "the report goes out without its Operations section",
        )
        return
    if status != 200:
        yield CheckLine(link, "warn", f"/-/ready answered {status}: the report goes out without Operations")
        return
    yield CheckLine(link, "ok", "/-/ready: ready")
    prom = PrometheusClient(url, http, timeout=timeout, attempts=1)
    for key, exprs in queries.queries.items():
        for expr in exprs:
            query = expr.replace("$range", "86400s")
            try:
                rows = prom.query(query, now)
            except FetchError as exc:
                yield CheckLine(f"Prometheus query {key}", "warn", f"{exc}")
                continue
            if rows:
                yield CheckLine(f"Prometheus query {key}", "ok", f"data ({len(rows)} series) for {query}")
            else:
                yield CheckLine(f"Prometheus query {key}", "warn", f"no data over the last day for {query}")


def _pushgateway(settings: Settings, http: httpx.Client, now: datetime, timeout: float) -> Iterator[CheckLine]:
    from reports.delivery.jobmetrics import check

    url = settings.pushgateway_url
    ok, text = check(url, timeout=timeout)
    link = f"Pushgateway {url}" if url else "Pushgateway"
    yield CheckLine(
        link, "ok" if ok else "warn", _after_link(text) + ("" if ok else " (the missed-report alert is blind)")
    )


def _after_link(text: str) -> str:
    """A helper's line without its own ``Link at URL:`` prefix (the check line names the link already)."""
    return text.split(": ", 1)[1] if ": " in text else text


def _telegram(settings: Settings, http: httpx.Client, now: datetime, timeout: float) -> Iterator[CheckLine]:
    root = settings.telegram_api_url
    link = f"Telegram {root}"
    if settings.telegram_bot_token is None:
        yield CheckLine(link, "fail", "TELEGRAM_BOT_TOKEN is not set: nothing can be sent", usage=True)
        return
    bot = _Bot(http, root, settings.telegram_bot_token.reveal())
    ok, me = bot.call("getMe", {})
    if not ok:
        yield CheckLine(link, "fail", f"getMe: {me}: set the token BotFather gave the bot, or fix TELEGRAM_API_URL")
        return
    yield CheckLine(link, "ok", f"getMe: @{me.get('username')} (id {me.get('id')})")
    if not settings.telegram_chats:
        yield CheckLine("Telegram chats", "fail", "TELEGRAM_CHAT_ID is not set: no chat to send to", usage=True)
        return
    for chat in settings.telegram_chats:
        yield _chat_line(bot, chat, int(me.get("id", 0)))


def _chat_line(bot: _Bot, chat: ChatTarget, bot_id: int) -> CheckLine:
    link = f"Telegram chat {chat}"
    ok, info = bot.call("getChat", {"chat_id": chat.chat_id})
    if not ok:
        return CheckLine(link, "fail", f"getChat: {info}: check TELEGRAM_CHAT_ID and that the bot is in the chat")
    title = f"{info.get('title') or info.get('username') or info.get('first_name') or '?'!r} ({info.get('type')})"
    if chat.thread_id is not None and not info.get("is_forum"):
        return CheckLine(link, "fail", f"getChat: {title} has no topics: remove ':{chat.thread_id}' from the chat id")
    ok, member = bot.call("getChatMember", {"chat_id": chat.chat_id, "user_id": bot_id})
    if not ok:
        return CheckLine(link, "fail", f"getChat: {title}; getChatMember for the bot: {member}")
    status = member.get("status")
    problem = _rights_problem(info, member)
    if problem:
        return CheckLine(link, "fail", f"getChat: {title}; the bot is {status}: {problem}")
    return CheckLine(link, "ok", f"getChat: {title}; the bot is {status} and may post text, photos and documents")


def _rights_problem(chat: dict[str, Any], member: dict[str, Any]) -> str | None:
    """Why the bot cannot post the report in this chat, or None."""
    status = member.get("status")
    if status in ("left", "kicked"):
        return "add the bot to the chat again"
    if chat.get("type") == "channel":
        if status == "creator" or (status == "administrator" and member.get("can_post_messages")):
            return None
        return "a channel needs the bot as administrator with the right to post messages"
    if status in ("creator", "administrator"):
        return None
    rights = member if status == "restricted" else chat.get("permissions") or {}
    denied = [name for name in CAN_POST if rights.get(name) is False]
    return f"the chat does not allow it to {', '.join(denied)}: grant them or make it an admin" if denied else None


class _Bot:
    """Raw Bot API calls for the checks: ``(True, result)`` or ``(False, what went wrong)``, token-free."""

    def __init__(self, http: httpx.Client, root: str, token: str) -> None:
        self.http, self.root, self.token = http, root.rstrip("/"), token

    def call(self, method: str, params: dict[str, Any]) -> tuple[bool, Any]:
        try:
            response = self.http.post(f"{self.root}/bot{self.token}/{method}", json=params)
        except httpx.HTTPError as exc:
            return False, f"could not connect to TELEGRAM_API_URL {self.root} ({type(exc).__name__})"
        try:
            body = response.json()
        except ValueError:
            return False, f"answered {response.status_code} with a body that is not JSON"
        if isinstance(body, dict) and body.get("ok") is True:
            return True, body.get("result") or {}
        description = body.get("description") if isinstance(body, dict) else None
        return False, f"{response.status_code} {description or 'error'}"


def _state(settings: Settings, http: httpx.Client, now: datetime, timeout: float) -> Iterator[CheckLine]:
    if settings.state_url:
        from reports.checks.store import database_line

        yield database_line(settings)
        return
    folder = settings.state_dir
    link = f"state folder {folder}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".check-", dir=folder)
        try:
            os.write(fd, b"ok")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        yield CheckLine(link, "fail", f"not writable ({exc.strerror or exc}): fix REPORT_STATE_DIR or its permissions")
        return
    records = len(list((folder / "deliveries").glob("*/*.json")))
    yield CheckLine(link, "ok", f"writable, {records} delivery record(s)")


def _schedule(settings: Settings, http: httpx.Client, now: datetime, timeout: float) -> Iterator[CheckLine]:
    from reports.cron import next_runs, parse_schedule, when

    link = f"schedule {settings.schedule!r} in {settings.timezone}"
    try:
        trigger = parse_schedule(settings.schedule, settings.timezone)
    except UsageError as exc:
        yield CheckLine(link, "fail", str(exc), usage=True)
        return
    upcoming = ", ".join(when(f, trigger.zone) for f in next_runs(trigger, now, 3))
    yield CheckLine(link, "ok", f"next runs {upcoming or 'never'} (each reports the day before)")
