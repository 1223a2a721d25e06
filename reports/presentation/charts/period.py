"""A week's or a month's first chart: the portfolio's equity at the end of each day over its daily P&L bars."""

from __future__ import annotations

from datetime import datetime, time

import matplotlib
import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from reports.calendar import ADJECTIVE
from reports.models import PeriodFigures, Report
from reports.presentation.charts.style import GAIN, INK, LOSS, OTHERS, Chart, caption, empty, png, usd_axis
from reports.presentation.fmt import fmt_pnl, fmt_signed_pct, fmt_usd, fmt_weekday, period_title

LABEL_ALL_BARS = 10
"""Periods of at most this many days get every bar's value written on it; longer ones the best and worst only."""


def _x(d) -> float:
    return float(mdates.date2num(datetime.combine(d, time())))


def period_pnl_chart(report: Report) -> Chart | None:
    """Equity at the end of each day of the period (top) and the day's P&L as bars (bottom), both in USDT."""
    figures = report.period
    if figures is None:
        return None
    period = figures.period
    days = figures.days
    name = period_title(period)
    title = f"{'Week ' if period.kind == 'week' else ''}{name}: daily P&L and equity"
    total = float(report.totals.total_pnl)

    def draw(fig: Figure) -> None:
        if not days:
            empty(fig.add_subplot(), title, "No history in this period")
            return
        eq_ax, pnl_ax = fig.subplots(2, 1, sharex=True, height_ratios=[2.2, 3])
        x = np.array([_x(p.date) for p in days])
        pnl = np.array([p.total_pnl for p in days])
        start_equity = days[0].equity - days[0].total_pnl
        # Equity at the end of each day, over the equity the period started with (dashed).
        equity = np.array([p.equity for p in days])
        eq_ax.plot(x, equity, color=INK, lw=3.2, marker="o", markersize=6, zorder=3)
        eq_ax.axhline(start_equity, color=OTHERS, lw=1.5, ls="--", zorder=1)
        blend = matplotlib.transforms.blended_transform_factory(eq_ax.transAxes, eq_ax.transData)
        # The start's label at the right end, on the side of the dashed line away from where the equity ended.
        ended_above = equity[-1] >= start_equity
        label = f"start {fmt_usd(start_equity)} "
        box = dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1)
        side = "top" if ended_above else "bottom"
        eq_ax.text(
            0.995, start_equity, label, transform=blend, fontsize=16, color="#555555", ha="right", va=side, bbox=box
        )
        eq_ax.margins(y=0.3)
        usd_axis(eq_ax, signed=False, bins=4)
        eq_ax.set_ylabel("Equity, USDT")
        # The closing equity above its point, or under it when the line came down to it (it would sit on the line).
        above = len(equity) < 2 or equity[-1] >= equity[-min(3, len(equity)) :].max()
        eq_ax.annotate(
            fmt_usd(days[-1].equity),
            (x[-1], days[-1].equity),
            xytext=(-10, 14 if above else -16),
            textcoords="offset points",
            ha="right",
            va="bottom" if above else "top",
            fontsize=19,
            fontweight="bold",
        )
        eq_ax.set_title(title)
        eq_ax.set_title(
            f"{fmt_pnl(total)} USDT", loc="right", fontsize=24, color=GAIN if total > 0 else LOSS if total < 0 else INK
        )
        colors = np.where(pnl >= 0, GAIN, LOSS)
        pnl_ax.bar(x, pnl, width=0.72 if len(days) > LABEL_ALL_BARS else 0.6, color=colors, zorder=2)
        pnl_ax.axhline(0, color=INK, lw=1.2)
        pnl_ax.set_ylabel("Day P&L, USDT")
        usd_axis(pnl_ax)
        _label_bars(pnl_ax, figures, x, pnl)
        pnl_ax.set_xlim(_x(period.first) - 0.7, _x(period.last) + 0.7)
        if (period.last - period.first).days < LABEL_ALL_BARS:
            pnl_ax.xaxis.set_major_locator(mdates.DayLocator())
            pnl_ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d"))
        else:  # a tick on every Monday: the grid marks the weeks
            pnl_ax.xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO))
            pnl_ax.xaxis.set_major_formatter(mdates.DateFormatter("Mon %d %b"))
        for ax in (eq_ax, pnl_ax):
            ax.yaxis.label.set_size(18)
        fig.align_ylabels()

    return Chart("01-period-pnl.png", png(draw), caption(_caption(report, figures, name)))


def _label_bars(ax, figures: PeriodFigures, x: np.ndarray, pnl: np.ndarray) -> None:
    """The value of every bar of a short period, or of the best and worst day of a long one."""
    lo, hi = float(min(pnl.min(), 0.0)), float(max(pnl.max(), 0.0))
    span = (hi - lo) or 1.0
    ax.set_ylim(lo - 0.14 * span if lo < 0 else lo, hi + 0.14 * span if hi > 0 else hi + 0.05 * span)
    extremes = {p.date for p in (figures.best_day, figures.worst_day) if p is not None}
    short = len(pnl) <= LABEL_ALL_BARS
    for i, point in enumerate(figures.days):
        if not short and point.date not in extremes:
            continue
        v = float(pnl[i])
        ax.annotate(
            fmt_pnl(v),
            (x[i], v),
            xytext=(0, 6 if v >= 0 else -6),
            textcoords="offset points",
            ha="center",
            va="bottom" if v >= 0 else "top",
            fontsize=17,
            fontweight="bold",
            color=GAIN if v > 0 else LOSS if v < 0 else INK,
        )


def _caption(report: Report, figures: PeriodFigures, name: str) -> str:
    kind = ADJECTIVE.get(figures.period.kind, figures.period.kind).capitalize()
    days = figures.days
    text = f"{kind} report {name}: net P&L {fmt_pnl(report.totals.total_pnl)} USDT"
    if not days:
        return text + ", no history in this period"
    start = days[0].equity - days[0].total_pnl
    text += f" over {len(days)} day{'s' if len(days) != 1 else ''} ({fmt_signed_pct(figures.risk.return_)})"
    text += f"; equity {fmt_usd(start)} → {fmt_usd(days[-1].equity)}"
    if figures.best_day is not None and figures.worst_day is not None:
        best, worst = figures.best_day, figures.worst_day
        text += f"; best day {fmt_weekday(best.date, year=False)} {fmt_pnl(best.total_pnl)}"
        text += f", worst {fmt_weekday(worst.date, year=False)} {fmt_pnl(worst.total_pnl)}"
    return text
