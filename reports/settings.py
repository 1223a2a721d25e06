"""Settings from the environment (CONTRACT 2); flags given on the command line win over them."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reports import redact
from reports.calendar import PERIOD_KINDS
from reports.errors import UsageError
from reports.targets import Targets

DEFAULT_TRADING_SERVICE_URL = "http://trading-system-cloud-trader.trading.svc.cluster.local:8080"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_SCHEDULE = "5 0 * * *"
DEFAULT_BENCHMARK_SYMBOL = "BTCUSDT"
_CHAT_ID = re.compile(r"-?[0-9]+")  # a numeric chat id: a user, a group, or -100... for a supergroup or channel
_CHAT_NAME = re.compile(r"@[A-Za-z][A-Za-z0-9_]{1,31}")  # @channelusername (Telegram: letters, digits, _)
_THREAD = re.compile(r"[0-9]+")
_USER_ID = re.compile(r"[1-9][0-9]{0,19}")  # a Telegram user id: a positive number
_REPORT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class ChatTarget:
    """A Telegram chat, and optionally a forum topic in it (``CHAT:THREAD``)."""

    chat_id: str
    thread_id: int | None = None

    def __str__(self) -> str:
        return self.chat_id if self.thread_id is None else f"{self.chat_id}:{self.thread_id}"


@dataclass(frozen=True, slots=True)
class CapitalPolicy:
    """Capital per agent in USDT: a default, and amounts that set some agents apart."""

    default: float = 100.0
    overrides: Mapping[str, float] = field(default_factory=dict)

    def for_agent(self, agent_id: str) -> float:
        """The capital of one agent."""
        return float(self.overrides.get(agent_id, self.default))


@dataclass(frozen=True)
class Settings:
    """Every setting of CONTRACT 2, parsed and checked."""

    trading_service_url: str = DEFAULT_TRADING_SERVICE_URL
    admin_api_token: Secret | None = None
    prometheus_url: str | None = None
    telegram_bot_token: Secret | None = None
    telegram_chats: tuple[ChatTarget, ...] = ()
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    timezone: str = "UTC"
    schedule: str = DEFAULT_SCHEDULE
    capital: CapitalPolicy = field(default_factory=CapitalPolicy)
    daily_pnl_target: float = 350.0
    target_win_rate: float = 0.55
    state_dir: Path = field(default_factory=lambda: default_state_dir({}))
    pushgateway_url: str | None = None
    templates_dir: Path | None = None
    queries_file: Path | None = None
    max_drawdown_limit: float = 0.25
    log_format: str = "text"
    periods: tuple[str, ...] = PERIOD_KINDS
    """What ``report schedule`` sends: the day, and after it the week on Mondays and the month on the 1st."""
    agents: tuple[str, ...] = ()
    """A desk's own report: only these agents (empty: every agent)."""
    telegram_allowed_chats: tuple[ChatTarget, ...] = ()
    """The chats ``report bot`` answers in (a ``CHAT:THREAD`` entry: only in that topic); from the environment,
    the chats of ``TELEGRAM_CHAT_ID`` when ``TELEGRAM_ALLOWED_CHATS`` is unset."""
    telegram_allowed_users: tuple[int, ...] = ()
    """When set, ``report bot`` answers only these users (in the allowed chats); empty: any member."""
    state_url: str | None = None
    """``REPORT_STATE_URL``: the PostgreSQL database that holds the state instead of ``state_dir``; its password is a
    secret (registered as the other URL settings' credentials)."""
    report_name: str = "daily"
    """``REPORT_NAME``: the report's name, the ``report`` label of its Pushgateway group (its alert) and, in the state
    database, what keeps its delivery records apart from another report's."""
    benchmark_symbol: str = DEFAULT_BENCHMARK_SYMBOL
    """The symbol whose buy and hold the portfolio is compared with (``REPORT_BENCHMARK_SYMBOL``)."""

    def __post_init__(self) -> None:
        # The tokens, and any password or secret query value in a URL setting, are masked in every line from now on.
        redact.register(*self.secrets())

    def urls(self) -> tuple[str, ...]:
        """Every URL setting that is set (each may hold credentials: show it through ``redact``)."""
        urls = (
            self.trading_service_url,
            self.prometheus_url,
            self.pushgateway_url,
            self.telegram_api_url,
            self.state_url,
        )
        return tuple(u for u in urls if u)

    def secrets(self) -> list[str]:
        """Every secret value of the settings: the tokens, and the credentials in the URL settings."""
        tokens = [s.reveal() for s in (self.telegram_bot_token, self.admin_api_token) if s is not None]
        return tokens + [part for url in self.urls() for part in redact.url_secrets(url)]

    @property
    def zone(self) -> ZoneInfo:
        """The report's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def targets(self) -> Targets:
        """The report's targets, as one record the report carries."""
        return Targets(self.daily_pnl_target, self.target_win_rate, self.max_drawdown_limit)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and check the settings; raise :class:`UsageError` naming the variable at fault."""
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise UsageError(f"{name}={raw!r} is not a number: set it to e.g. {default:g}") from None
            if not math.isfinite(value):
                raise UsageError(f"{name}={raw!r} is not a finite number")
            return value

        timezone = get("REPORT_TIMEZONE") or "UTC"
        check_timezone(timezone)
        admin = get("ADMIN_API_TOKEN")
        token = get("TELEGRAM_BOT_TOKEN")
        templates = get("REPORT_TEMPLATES_DIR")
        queries = get("REPORT_QUERIES_FILE")
        log_format = (get("REPORT_LOG_FORMAT") or "text").lower()
        if log_format not in ("text", "json"):
            raise UsageError(f"REPORT_LOG_FORMAT={log_format!r}: use 'text' or 'json'")
        chats = parse_chats(get("TELEGRAM_CHAT_ID") or "")
        allowed = get("TELEGRAM_ALLOWED_CHATS")
        state_url = get("REPORT_STATE_URL")
        if state_url:
            from reports.statedb import check_url

            check_url(state_url)  # exit 2 before any request; its password is masked from here on
        return cls(
            trading_service_url=(get("TRADING_SERVICE_URL") or DEFAULT_TRADING_SERVICE_URL).rstrip("/"),
            admin_api_token=Secret(admin) if admin else None,
            prometheus_url=(get("PROMETHEUS_URL") or "").rstrip("/") or None,
            telegram_bot_token=Secret(token) if token else None,
            telegram_chats=chats,
            telegram_api_url=(get("TELEGRAM_API_URL") or DEFAULT_TELEGRAM_API_URL).rstrip("/"),
            timezone=timezone,
            schedule=get("REPORT_SCHEDULE") or DEFAULT_SCHEDULE,
            capital=parse_capital(get("REPORT_AGENT_CAPITAL") or "100"),
            daily_pnl_target=number("REPORT_DAILY_PNL_TARGET", 350.0),
            target_win_rate=number("REPORT_TARGET_WIN_RATE", 0.55),
            state_dir=Path(get("REPORT_STATE_DIR") or default_state_dir(env)),
            pushgateway_url=(get("PUSHGATEWAY_URL") or "").rstrip("/") or None,
            templates_dir=Path(templates) if templates else None,
            queries_file=Path(queries) if queries else None,
            max_drawdown_limit=number("REPORT_MAX_DRAWDOWN_LIMIT", 0.25),
            log_format=log_format,
            periods=parse_periods(get("REPORT_PERIODS")),
            agents=parse_agents(get("REPORT_AGENTS")),
            telegram_allowed_chats=(
                parse_chats(allowed, "TELEGRAM_ALLOWED_CHATS")
                if allowed
                else tuple(dict.fromkeys(ChatTarget(c.chat_id) for c in chats))  # whole chats, any topic
            ),
            telegram_allowed_users=parse_users(get("TELEGRAM_ALLOWED_USERS")),
            state_url=state_url,
            report_name=parse_report_name(get("REPORT_NAME")),
            benchmark_symbol=(get("REPORT_BENCHMARK_SYMBOL") or DEFAULT_BENCHMARK_SYMBOL).upper(),
        )


def parse_periods(raw: str | None) -> tuple[str, ...]:
    """``REPORT_PERIODS``: some of day, week, month, comma-separated (default all three), in that order."""
    if raw is None:
        return PERIOD_KINDS
    names = [p.strip().lower() for p in raw.split(",")]
    bad = [p for p in names if p not in PERIOD_KINDS]
    if bad or not names:
        raise UsageError(f"REPORT_PERIODS={raw!r}: use some of day, week, month, comma-separated (e.g. day,week)")
    return tuple(p for p in PERIOD_KINDS if p in names)


def parse_report_name(raw: str | None) -> str:
    """``REPORT_NAME``: letters, digits, ``.``, ``_`` and ``-``, at most 63 (a Prometheus label value and a key)."""
    if raw is None:
        return "daily"
    if not _REPORT_NAME.fullmatch(raw):
        raise UsageError(
            f"REPORT_NAME={raw!r}: use letters, digits, '.', '_' or '-' (at most 63, starting with a letter or digit)"
        )
    return raw


def parse_agents(raw: str | None) -> tuple[str, ...]:
    """``REPORT_AGENTS``: agent ids, comma-separated; unset or empty: every agent."""
    if not raw:
        return ()
    names = [a.strip() for a in raw.split(",")]
    if any(not a for a in names):
        raise UsageError(f"REPORT_AGENTS={raw!r} has an empty entry: give agent ids, comma-separated")
    return tuple(dict.fromkeys(names))


def default_state_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_STATE_HOME/sapphire-report``, else ``~/.local/state/sapphire-report``."""
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sapphire-report"


def check_timezone(name: str) -> ZoneInfo:
    """The zone of that IANA name, or :class:`UsageError`."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {name!r} in REPORT_TIMEZONE: use an IANA name such as UTC or Europe/Berlin"
        ) from None


def parse_chats(raw: str, name: str = "TELEGRAM_CHAT_ID") -> tuple[ChatTarget, ...]:
    """Parse ``TELEGRAM_CHAT_ID`` (or ``name``): comma-separated chats, ``CHAT:THREAD`` for a forum topic.

    A chat is a number (``-1001234567890``) or ``@channelname``; THREAD a number. An empty entry or any other
    text is a :class:`UsageError` naming the entry, found before any request is made.
    """
    if not raw.strip():
        return ()
    chats: list[ChatTarget] = []
    entries = raw.split(",")
    for number, part in enumerate((p.strip() for p in entries), start=1):
        if not part:
            raise UsageError(
                f"{name}={raw!r} has an empty entry (number {number} of {len(entries)}): "
                "remove the extra comma; use CHAT or CHAT:THREAD, comma-separated"
            )
        chat, sep, thread = part.partition(":")
        if not (_CHAT_ID.fullmatch(chat) or _CHAT_NAME.fullmatch(chat)) or (sep and not _THREAD.fullmatch(thread)):
            raise UsageError(
                f"{name} entry {part!r} is malformed: use a chat id (e.g. -1001234567890) or "
                "@channelname, optionally :THREAD (a topic number), comma-separated"
            )
        chats.append(ChatTarget(chat, int(thread) if sep else None))
    return tuple(chats)


def parse_users(raw: str | None) -> tuple[int, ...]:
    """Parse ``TELEGRAM_ALLOWED_USERS``: numeric Telegram user ids, comma-separated; unset: any user."""
    if not raw:
        return ()
    users: list[int] = []
    entries = raw.split(",")
    for number, part in enumerate((p.strip() for p in entries), start=1):
        if not part:
            raise UsageError(
                f"TELEGRAM_ALLOWED_USERS={raw!r} has an empty entry (number {number} of {len(entries)}): "
                "remove the extra comma; use numeric user ids, comma-separated"
            )
        if not _USER_ID.fullmatch(part):
            raise UsageError(
                f"TELEGRAM_ALLOWED_USERS entry {part!r} is malformed: use numeric Telegram user ids (e.g. "
                "123456789), comma-separated; the bot logs the id of everyone it does not answer"
            )
        users.append(int(part))
    return tuple(dict.fromkeys(users))


def parse_capital(raw: str) -> CapitalPolicy:
    """Parse ``REPORT_AGENT_CAPITAL``: ``agent=amount,...`` sets agents apart, a bare number the rest."""
    default = 100.0
    overrides: dict[str, float] = {}
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        agent, sep, amount = part.rpartition("=")
        try:
            value = float(amount)
        except ValueError:
            raise UsageError(
                f"REPORT_AGENT_CAPITAL entry {part!r} is malformed: use a number or agent=number"
            ) from None
        if not math.isfinite(value) or value <= 0:
            raise UsageError(f"REPORT_AGENT_CAPITAL entry {part!r}: capital must be a positive number")
        if sep:
            overrides[agent.strip()] = value
        else:
            default = value
    return CapitalPolicy(default, overrides)
