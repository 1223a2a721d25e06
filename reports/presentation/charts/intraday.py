"""Chart 1: the day's cumulative P&L per agent and the portfolio."""

from __future__ import annotations

import matplotlib.dates as mdates
from matplotlib.figure import Figure

from reports.models import Report
from reports.presentation.charts.style import (
    INK,
    LEGEND_AGENTS,
    OTHERS,
    Chart,
    agent_name,
    caption,
    empty,
    png,
    time_axis,
    usd_axis,
)
from reports.presentation.fmt import fmt_pnl


def intraday_chart(report: Report, colors: dict[str, str]) -> Chart:
    """The day's cumulative P&L per agent (top few named, the rest grey) and the portfolio in black."""
    series = report.intraday
    agents = {a.agent_id: a for a in report.agents}
    title = f"Cumulative P&L through {report.day.date} ({report.day.timezone})"
    moving = {k: v for k, v in series.by_agent.items() if any(abs(x) > 1e-9 for x in v)}
    ranked = sorted(moving, key=lambda k: (-abs(moving[k][-1]), k))
    named, rest = ranked[:LEGEND_AGENTS], ranked[LEGEND_AGENTS:]

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        if not series.times or not moving:
            empty(ax, title, "No P&L moved today")
            return
        x = mdates.date2num(list(series.times))
        for k in rest:
            ax.plot(x, moving[k], color=OTHERS, lw=1.2, alpha=0.6, zorder=1)
        for k in sorted(named, key=lambda k: -moving[k][-1]):
            label = f"{agent_name(k, agents)}  {fmt_pnl(moving[k][-1])}"
            ax.plot(x, moving[k], color=colors[k], lw=2.6, zorder=3, label=label)
        if rest:
            ax.plot([], [], color=OTHERS, lw=2, label=f"{len(rest)} other agents")
        ax.plot(x, series.portfolio, color=INK, lw=4.5, zorder=5, label=f"Portfolio  {fmt_pnl(series.portfolio[-1])}")
        ax.axhline(0, color=INK, lw=1, alpha=0.6)
        time_axis(ax, report)
        usd_axis(ax)
        ax.set_ylabel("USDT")
        ax.set_title(title)
        handles, labels = ax.get_legend_handles_labels()
        order = [len(labels) - 1, *range(len(labels) - 1)]  # portfolio first
        ax.legend(
            [handles[i] for i in order],
            [labels[i] for i in order],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0,
            handlelength=1.6,
        )

    best = ranked[0] if ranked else None
    text = f"Cumulative P&L through {report.day.date} ({report.day.timezone})"
    text += f": portfolio {fmt_pnl(report.totals.total_pnl)} USDT"
    if best is not None:
        text += f"; largest mover {agent_name(best, agents)} {fmt_pnl(moving[best][-1])}"
    return Chart("01-intraday-pnl.png", png(draw), caption(text))


# ---- 2. the day's P&L by agent
