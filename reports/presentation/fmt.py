"""Number and time formatting shared by the charts, the flags and the templates.

USDT with two decimals and thousands separators, P&L signed with a true minus sign (U+2212),
percentages with one or two decimals, ``None`` (not computable) as an em dash.
"""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from reports.models import AgentReport

MINUS = "\u2212"
DASH = "\u2014"


def _bad(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and not math.isfinite(x))


def fmt_usd(x: float | None, digits: int = 2) -> str:
    """``1,234.56``; a negative amount gets a true minus sign; None is a dash."""
    if _bad(x):
        return DASH
    text = f"{abs(x):,.{digits}f}"
    return MINUS + text if x < 0 and text.strip("0.,") else text


def fmt_pnl(x: float | None, digits: int = 2) -> str:
    """``+1,234.56`` / ``−1,234.56``; an amount that rounds to zero is unsigned."""
    if _bad(x):
        return DASH
    text = f"{abs(x):,.{digits}f}"
    if not text.strip("0.,"):
        return text
    return ("+" if x > 0 else MINUS) + text


def fmt_pct(x: float | None, digits: int = 1) -> str:
    """A fraction as a percentage: ``0.123`` -> ``12.3%``."""
    if _bad(x):
        return DASH
    return fmt_usd(x * 100, digits) + "%"


def fmt_signed_pct(x: float | None, digits: int = 2) -> str:
    """A fraction as a signed percentage: ``-0.0123`` -> ``−1.23%``."""
    if _bad(x):
        return DASH
    return fmt_pnl(x * 100, digits) + "%"


def fmt_num(x: float | None, digits: int = 2) -> str:
    """A plain ratio (Sharpe, profit factor): ``1.23``."""
    return fmt_usd(x, digits)


def fmt_count(x: float | None) -> str:
    """A count with thousands separators: ``1,234``."""
    return DASH if _bad(x) else f"{round(x):,}"


def sign_emoji(x: float | None) -> str:
    """🟢 for a gain, 🔴 for a loss, ⚪ for flat or unknown."""
    if _bad(x) or abs(x) < 0.005:
        return "\u26aa"
    return "\U0001f7e2" if x > 0 else "\U0001f534"


def fmt_local(ts: datetime, zone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant in the report's zone."""
    return ts.astimezone(ZoneInfo(zone)).strftime(fmt)


def agent_label(agent: AgentReport, emoji: bool = True) -> str:
    """``emoji name`` when the trading service gave them, else the agent id."""
    name = agent.name or agent.agent_id
    return f"{agent.emoji} {name}" if emoji and agent.emoji else name


def fmt_qty(x: float | None) -> str:
    """A signed position size without trailing zeros: ``−0.0125``, ``+3``."""
    if _bad(x):
        return DASH
    text = f"{abs(x):,.8f}".rstrip("0").rstrip(".")
    return text if text == "0" else ("+" if x > 0 else MINUS) + text


def sign_class(x: float | None) -> str:
    """A CSS class for the sign of an amount: ``pos``, ``neg`` or empty for flat and unknown."""
    if _bad(x) or abs(x) < 0.005:
        return ""
    return "pos" if x > 0 else "neg"
