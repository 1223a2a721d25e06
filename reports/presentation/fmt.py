"""Number and time formatting shared by the charts, the flags and the templates.

USDT with two decimals and thousands separators, P&L signed with a true minus sign (U+2212),
percentages with one or two decimals, ``None`` (not computable) as an em dash.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from reports.calendar import ADJECTIVE, Period
from reports.models import AgentReport, Report

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


# ---- weeks and months: names, and the diverging colours of the heatmaps (shared by the charts and report.html)

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")  # fmt: skip
"""English month names, whatever the process locale."""
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
PERIOD_ADJECTIVE = ADJECTIVE  # the calendar's; kept under this name for presentation/render.py


def month_name(year: int, month: int, short: bool = False) -> str:
    """``November 2026``, or ``Nov 2026`` when ``short``."""
    name = MONTHS[month - 1]
    return f"{name[:3] if short else name} {year}"


def period_title(period: Period) -> str:
    """A month as ``November 2026``, a week (or any other span) as ``2026-11-23 – 2026-11-29``."""
    if period.kind == "month":
        return month_name(period.first.year, period.first.month)
    if period.first == period.last:
        return period.first.isoformat()
    return f"{period.first.isoformat()} – {period.last.isoformat()}"


def fmt_weekday(d: date, year: bool = True) -> str:
    """``Sat 2026-11-07``, or ``Sat 7 Nov`` without the year."""
    if year:
        return f"{WEEKDAYS[d.weekday()]} {d.isoformat()}"
    return f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1][:3]}"


HEAT_LOSS, HEAT_ZERO, HEAT_GAIN = (215, 48, 39), (247, 247, 247), (26, 152, 80)
"""The heatmaps' diverging scale: the charts' loss red, a near-white zero and the charts' gain green."""
HEAT_GAMMA = 0.6
"""Below 1 so that small amounts are tinted rather than white; the sign is never lost."""


def heat_level(x: float | None, scale: float) -> float:
    """Where ``x`` sits on the diverging scale: −1 (the largest loss) … 0 … +1 (the largest gain)."""
    if _bad(x) or not scale or not math.isfinite(scale):
        return 0.0
    t = min(1.0, abs(x) / abs(scale)) ** HEAT_GAMMA
    return t if x > 0 else -t


def heat_color(x: float | None, scale: float) -> str:
    """The heatmap colour of ``x`` (``#rrggbb``), centred on 0: white at 0, saturated at ±``scale``."""
    level = heat_level(x, scale)
    end = HEAT_GAIN if level > 0 else HEAT_LOSS
    rgb = (round(z + (e - z) * abs(level)) for z, e in zip(HEAT_ZERO, end, strict=True))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def heat_ink(x: float | None, scale: float) -> str:
    """Text colour that reads on :func:`heat_color`: white on the darker cells, near-black on the rest."""
    return "#ffffff" if abs(heat_level(x, scale)) > 0.62 else "#222222"


def partial_months(report: Report) -> dict[tuple[int, int], str]:
    """The months of the table that the history covers only in part, each with a note saying which days: the
    first (the history started after the 1st) and the last (the report ends before the month does)."""
    if not report.daily:
        return {}
    first, last = report.daily[0].date, report.daily[-1].date
    starts_late = first.day != 1
    ends_early = (last + timedelta(days=1)).month == last.month
    notes = {}
    if starts_late:
        notes[(first.year, first.month)] = f"{month_name(first.year, first.month, short=True)} from {first}"
    if ends_early:
        key = (last.year, last.month)
        notes[key] = notes.get(key, month_name(last.year, last.month, short=True)) + f" to {last}"
    return notes
