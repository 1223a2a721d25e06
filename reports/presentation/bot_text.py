"""Texts of the bot's answers that are not a report: the open positions now (``/positions``).

Telegram HTML like the summary: every dynamic string escaped, split into parts of at most 4,096 characters.
"""

from __future__ import annotations

import html
import math

from reports.models import Report
from reports.presentation.fmt import DASH, agent_label, fmt_local, fmt_pnl, fmt_qty, fmt_usd
from reports.presentation.tgtext import split_message


def fmt_price(x: float | None) -> str:
    """A price with the decimals its size needs: ``60,123.45``, ``150.123``, ``0.361234``."""
    if x is None or not math.isfinite(x):
        return DASH
    digits = 2 if x == 0 else min(8, max(2, 5 - math.floor(math.log10(abs(x)))))
    return fmt_usd(x, digits)


def positions_text(report: Report) -> tuple[str, ...]:
    """Open positions at the end of ``report`` (the day so far: now), per agent: symbol, signed quantity,
    average entry, mark, unrealized P&L; agents best unrealized first."""
    tz = report.day.timezone
    when = f"{fmt_local(report.day.end, tz, '%Y-%m-%d %H:%M')} {tz}"
    holders = [a for a in report.agents if a.open_positions]
    holders.sort(key=lambda a: (-sum(p.unrealized_pnl for p in a.open_positions), a.agent_id))
    lines = [f"<b>📍 Open positions</b> · as of {html.escape(when)}"]
    if not holders:
        lines.append("No open position.")
    total = 0.0
    for agent in holders:
        unrealized = sum(p.unrealized_pnl for p in agent.open_positions)
        total += unrealized
        lines += ["", f"<b>{html.escape(agent_label(agent))}</b> · unrealized {fmt_pnl(unrealized)} USDT"]
        for p in agent.open_positions:
            lines.append(
                f"• {html.escape(p.symbol)} <code>{fmt_qty(p.quantity)}</code> · avg {fmt_price(p.avg_entry_price)}"
                f" · mark {fmt_price(p.mark_price)} · <b>{fmt_pnl(p.unrealized_pnl)}</b>"
            )
    if holders:
        lines += ["", f"Total unrealized {fmt_pnl(total)} USDT"]
    lines.append(f"<i>Average cost; marks are the last fill of each symbol before {html.escape(when)}.</i>")
    return tuple(split_message("\n".join(lines)))
