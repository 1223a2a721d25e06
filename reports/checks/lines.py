"""What every check of ``report check`` shares: its result line, the command's exit status, and the client of the
trading service as the checks use it (one try, the check's timeout)."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from reports.settings import Settings
from reports.sources.trading_service import TradingService


@dataclass(frozen=True, slots=True)
class CheckLine:
    """One link's result: ``status`` is ``ok``, ``warn`` or ``fail``; ``usage`` marks a bad setting."""

    link: str
    status: str
    text: str
    usage: bool = False

    def render(self) -> str:
        """``ok   trading service: ...`` as printed."""
        return f"{self.status.upper() if self.status != 'ok' else 'ok':<4} {self.link}: {self.text}"


def exit_status(lines: list[CheckLine]) -> int:
    """2 when a setting is wrong, 1 when a link needed to send is broken, else 0."""
    if any(line.status == "fail" and line.usage for line in lines):
        return 2
    return 1 if any(line.status == "fail" for line in lines) else 0


def trading_client(settings: Settings, timeout: float) -> TradingService:
    """The trading service's client for a check: one try per request, so that a check answers quickly."""
    return TradingService(
        settings.trading_service_url, attempts=1, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0))
    )
