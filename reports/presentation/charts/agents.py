"""Chart 2: the day's P&L by agent: gross realized, unrealized change, fees and funding, a diamond at the total."""

from __future__ import annotations

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from reports.models import AgentReport, Report
from reports.presentation.charts.style import INK, MAX_ROWS, Chart, agent_name, caption, empty, png, rows_axis
from reports.presentation.fmt import fmt_pnl

FUNDING = "#c98a00"
"""Funding's segment: amber, apart from the agents' own colours and the fees' near-black."""

Row = tuple[str, str, float, float, float, float, float]


def _agent_rows(report: Report) -> list[Row]:
    """(label, colour key, realized gross, unrealized change, −fees, funding, total), best first, middle grouped."""
    agents = sorted((a for a in report.agents if a.active), key=lambda a: (-a.totals.total_pnl, a.agent_id))

    def row(a: AgentReport) -> Row:
        t = a.totals
        return (
            agent_name(a.agent_id, {a.agent_id: a}),
            a.agent_id,
            t.net_realized_pnl + t.fees,
            t.unrealized_change,
            -t.fees,
            t.funding_pnl or 0.0,
            t.total_pnl,
        )

    if len(agents) <= MAX_ROWS:
        return [row(a) for a in agents]
    head, middle, tail = (
        agents[: MAX_ROWS // 2],
        agents[MAX_ROWS // 2 : -(MAX_ROWS // 2 - 1)],
        agents[-(MAX_ROWS // 2 - 1) :],
    )
    parts = np.array([row(a)[2:] for a in middle]).sum(axis=0)
    others = (f"{len(middle)} others", "", *(float(v) for v in parts))
    return [row(a) for a in head] + [others] + [row(a) for a in tail]


def agents_chart(
    report: Report,
    colors: dict[str, str],
    *,
    when: str | None = None,
    total: str = "day total",
    filename: str = "02-agents-pnl.png",
) -> Chart:
    """Horizontal stacked bars per agent: gross realized, unrealized change and fees; a diamond at the total.

    ``when`` (default ``on <date>``) ends the title, ``total`` names the diamond: a week's or a month's album
    draws the same chart over its own sums.
    """
    rows = _agent_rows(report)
    when = when or f"on {report.day.date}"
    title = f"P&L by agent {when}"

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        if not rows:
            empty(ax, title, "No agent traded or held a position")
            return
        size = 18 if len(rows) <= 12 else 14
        ys = np.arange(len(rows))
        for y, (_, key, realized, unreal, fees, funding, _total) in zip(ys, rows, strict=True):
            if not key:  # the grouped middle: its sum would dwarf every agent, so it shows as a number only
                continue
            color = colors[key]
            styles = [
                dict(color=color),
                dict(facecolor=matplotlib.colors.to_rgba(color, 0.35), edgecolor=color, hatch="//", lw=0),
                dict(color="#303030"),
                dict(facecolor=FUNDING, edgecolor="white", hatch="..", lw=0),
            ]
            pos = neg = 0.0
            for value, style in zip((realized, unreal, fees, funding), styles, strict=True):
                left = pos if value >= 0 else neg
                ax.barh(y, value, left=left, height=0.72, zorder=2, **style)
                pos, neg = (pos + value, neg) if value >= 0 else (pos, neg + value)
        marked = [(r[6], y) for r, y in zip(rows, ys, strict=True) if r[1]]
        ax.scatter(
            [m[0] for m in marked],
            [m[1] for m in marked],
            marker="D",
            s=110 if len(rows) <= 12 else 60,
            color=INK,
            zorder=4,
        )
        rows_axis(ax, [r[0] if r[1] else f"{r[0]} (sum)" for r in rows], [r[6] for r in rows], size, "USDT")
        ax.set_title(title)
        legend = [
            Patch(color="#9a9a9a", label="Realized (gross)"),
            Patch(facecolor="#77777759", edgecolor="#777777", hatch="//", label="Unrealized change"),
            Patch(color="#303030", label="Fees"),
            Patch(facecolor=FUNDING, edgecolor="white", hatch="..", label="Funding"),
            Line2D([], [], marker="D", color=INK, lw=0, markersize=10, label=total.capitalize()),
        ]
        fig.legend(handles=legend, loc="outside lower center", ncols=5, fontsize=15)

    best = rows[0] if rows else None
    text = f"P&L by agent {when}: gross realized, unrealized change, fees and funding; ◆ {total}"
    if best is not None:
        text += f". Best {best[0]} {fmt_pnl(best[6])}, worst {rows[-1][0]} {fmt_pnl(rows[-1][6])} USDT"
        payers = [(r[5], r[0]) for r in rows if r[1] and r[5] < 0]
        if payers:
            paid, who = min(payers)
            text += f". Most funding paid: {who} {fmt_pnl(paid)} USDT"
    return Chart(filename, png(draw), caption(text))
