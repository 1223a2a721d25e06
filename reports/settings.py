"""Settings from the environment (CONTRACT 2); flags given on the command line win over them."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reports.errors import UsageError

DEFAULT_TRADING_SERVICE_URL = "http://trading-system-cloud-trader.trading.svc.cluster.local:8080"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
DEFAULT_SCHEDULE = "5 0 * * *"


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

    @property
    def zone(self) -> ZoneInfo:
        """The report's time zone."""
        return ZoneInfo(self.timezone)

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
        return cls(
            trading_service_url=(get("TRADING_SERVICE_URL") or DEFAULT_TRADING_SERVICE_URL).rstrip("/"),
            admin_api_token=Secret(admin) if admin else None,
            prometheus_url=(get("PROMETHEUS_URL") or "").rstrip("/") or None,
            telegram_bot_token=Secret(token) if token else None,
            telegram_chats=parse_chats(get("TELEGRAM_CHAT_ID") or ""),
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
        )


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


def parse_chats(raw: str) -> tuple[ChatTarget, ...]:
    """Parse ``TELEGRAM_CHAT_ID``: comma-separated chats, ``CHAT:THREAD`` for a forum topic."""
    chats: list[ChatTarget] = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        chat, sep, thread = part.partition(":")
        if not chat or (sep and not thread.isdigit()):
            raise UsageError(f"TELEGRAM_CHAT_ID entry {part!r} is malformed: use CHAT or CHAT:THREAD, comma-separated")
        chats.append(ChatTarget(chat, int(thread) if sep else None))
    return tuple(chats)


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
