"""Chart 3: the portfolio's last 30 days: equity, daily P&L against the target, drawdown."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time

import matplotlib
import matplotlib.dates as mdates
import matplotlib.style
import numpy as np
from matplotlib.figure import Figure

from reports.models import DailyPoint, Report
from reports.presentation.charts.style import GAIN, INK, LOSS, Chart, caption, empty, png, usd_axis
from reports.presentation.flags import drawdown_series
from reports.presentation.fmt import fmt_pnl, fmt_signed_pct, fmt_usd
from reports.presentation.moves import short_symbol

BENCH = "#8a6d1d"
"""The benchmark's dashed line: a muted gold, apart from the agents' colours and the portfolio's ink."""


def benchmark_curve(report: Report, window: Sequence[DailyPoint]) -> tuple[str, list[date], list[float]] | None:
    """The benchmark held from the window's first day with a mark, scaled to the portfolio's equity on that day:
    its short name, the days and the values; None without two marks in the window."""
    if report.benchmark is None:
        return None
    closes = dict(report.benchmark.closes)
    equity = {p.date: p.equity for p in window}
    days = [p.date for p in window if p.date in closes]
    if len(days) < 2:
        return None
    base = equity[days[0]] / closes[days[0]]
    return short_symbol(report.benchmark.symbol), days, [closes[d] * base for d in days]


def history_chart(report: Report) -> Chart:
    """The portfolio's last 30 days: equity line, daily P&L bars (target dashed) and drawdown."""
    window = report.daily[-30:]
    title = "Last 30 days: equity, daily P&L, drawdown"

    def draw(fig: Figure) -> None:
        if not window:
            empty(fig.add_subplot(), title, "No history yet")
            return
        eq_ax, pnl_ax, dd_ax = fig.subplots(3, 1, sharex=True, height_ratios=[3, 2.4, 1.6])
        x = mdates.date2num([datetime.combine(p.date, time()) for p in window])
        pnl = np.array([p.total_pnl for p in window])
        eq_ax.plot(x, [p.equity for p in window], color=INK, lw=3.2, marker="o", markersize=5, label="Portfolio")
        held = benchmark_curve(report, window)
        if held is not None:
            name, days, values = held
            bx = mdates.date2num([datetime.combine(d, time()) for d in days])
            eq_ax.plot(bx, values, color=BENCH, lw=2.4, ls="--", label=f"{name} buy & hold, same start")
            eq_ax.legend(loc="upper left", fontsize=14, frameon=False)
        eq_ax.set_ylabel("Equity")
        eq_ax.margins(y=0.18)
        usd_axis(eq_ax, signed=False)
        eq_ax.annotate(
            fmt_usd(window[-1].equity),
            (x[-1], window[-1].equity),
            xytext=(-8, 14),
            textcoords="offset points",
            ha="right",
            fontsize=18,
            fontweight="bold",
        )
        pnl_ax.bar(x, pnl, width=0.75, color=np.where(pnl >= 0, GAIN, LOSS), zorder=2)
        target = report.targets.daily_pnl
        if target and target <= 1.5 * float(np.max(np.abs(pnl))):
            pnl_ax.axhline(target, color=INK, lw=1.6, ls="--")
            blend = matplotlib.transforms.blended_transform_factory(pnl_ax.transAxes, pnl_ax.transData)
            pnl_ax.text(0.005, target, f" target {fmt_pnl(target, 0)}", va="bottom", fontsize=16, transform=blend)
        elif target:  # a line far above the bars would flatten them: say where it is instead
            pnl_ax.text(
                0.005,
                0.97,
                f"daily target {fmt_pnl(target, 0)} (above the scale)",
                va="top",
                fontsize=16,
                transform=pnl_ax.transAxes,
                color="#555555",
            )
        pnl_ax.axhline(0, color=INK, lw=1)
        pnl_ax.set_ylabel("Day P&L")
        usd_axis(pnl_ax)
        dd = np.array(drawdown_series(window)) * 100
        dd_ax.fill_between(x, dd, 0, color=LOSS, alpha=0.35, lw=0, step="mid")
        dd_ax.plot(x, dd, color=LOSS, lw=2, drawstyle="steps-mid")
        dd_ax.set_ylim(min(dd.min() * 1.15, -0.5), 0.2)
        usd_axis(dd_ax, suffix="%", bins=3)
        dd_ax.set_ylabel("Drawdown")
        dd_ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=4, maxticks=8))
        dd_ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))
        dd_ax.set_xlim(x[0] - 0.6, x[-1] + 0.6)
        for ax in (eq_ax, pnl_ax, dd_ax):
            ax.yaxis.label.set_size(17)
        eq_ax.set_title(title)
        fig.align_ylabels()

    text = title
    if window:
        risk = report.risk.get("30d")
        held = benchmark_curve(report, window)
        text = (
            f"Last {len(window)} days: P&L {fmt_pnl(float(sum(p.total_pnl for p in window)))} USDT, "
            f"equity {fmt_usd(window[-1].equity)}"
            + (f", max drawdown {fmt_signed_pct(risk.max_drawdown, 1)}" if risk else "")
            + (f"; dashed: {held[0]} held from the same equity" if held is not None else "")
        )
    return Chart("03-last-30-days.png", png(draw), caption(text))
