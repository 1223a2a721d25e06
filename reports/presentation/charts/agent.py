"""The bot's /agent chart: one agent's cumulative P&L through the day, and its daily P&L over the last 30 days."""

from __future__ import annotations

from datetime import datetime, time

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from reports.models import AgentReport, Report
from reports.presentation.charts.style import GAIN, INK, LOSS, Chart, agent_colors, caption, png, time_axis, usd_axis
from reports.presentation.fmt import agent_label, fmt_pnl


def agent_chart(report: Report, agent: AgentReport) -> Chart:
    """Top: the agent's cumulative P&L through the report day (in its colour of the report's charts); bottom: its
    daily total P&L over the last 30 days, gains green and losses red."""
    color = agent_colors(report).get(agent.agent_id, INK)
    series = report.intraday.by_agent.get(agent.agent_id, ())
    window = agent.daily[-30:]
    name = agent_label(agent, emoji=False)
    title = f"{name}: cumulative P&L through {report.day.date} ({report.day.timezone})"

    def draw(fig: Figure) -> None:
        day_ax, days_ax = fig.subplots(2, 1, height_ratios=[3, 2])
        if series and report.intraday.times:
            x = mdates.date2num(list(report.intraday.times))
            day_ax.plot(x, series, color=color, lw=3.2)
            day_ax.fill_between(x, series, 0, color=color, alpha=0.15, lw=0)
        day_ax.axhline(0, color=INK, lw=1, alpha=0.6)
        time_axis(day_ax, report)
        usd_axis(day_ax)
        day_ax.set_title(title)
        day_ax.set_ylabel("USDT")
        if window:
            xs = mdates.date2num([datetime.combine(p.date, time()) for p in window])
            pnl = np.array([p.total_pnl for p in window])
            days_ax.bar(xs, pnl, width=0.75, color=np.where(pnl >= 0, GAIN, LOSS), zorder=2)
            days_ax.set_xlim(xs[0] - 0.6, xs[-1] + 0.6)
            days_ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=8))
            days_ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        days_ax.axhline(0, color=INK, lw=1)
        usd_axis(days_ax)
        days_ax.set_ylabel("Day P&L")
        days_ax.set_title(f"Last {len(window)} days", fontsize=18)

    text = f"{name} on {report.day.date}: {fmt_pnl(agent.totals.total_pnl)} USDT"
    if window:
        text += f"; last {len(window)} days {fmt_pnl(float(sum(p.total_pnl for p in window)))} USDT"
    return Chart("agent-pnl.png", png(draw), caption(text))
