"""The monthly returns table as a heatmap: years as rows, January to December as columns, each cell the
month's compounded return in % (its P&L in USDT beneath), blank for months without history."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from reports.models import MonthRow, Report
from reports.presentation.charts.style import GAIN, INK, LOSS, OTHERS, Chart, caption, empty, png, usd_axis
from reports.presentation.fmt import (
    MONTHS,
    fmt_pnl,
    fmt_signed_pct,
    heat_color,
    heat_ink,
    month_name,
    partial_months,
)

MAX_YEARS = 8
"""Years drawn, the latest ones; a longer history is in report.json and report.html."""
MISSING_RETURN = "#eeeeee"
BLANK = "#e3e3e3"


def return_text(r: float) -> str:
    """A month's return in a cell, in % (the title says so): one decimal, none from 1,000 on."""
    return fmt_signed_pct(r, 0 if abs(r) >= 10 else 1).removesuffix("%")


def pnl_text(x: float) -> str:
    """A month's P&L in a cell: cents below 1,000 USDT, whole USDT above."""
    return fmt_pnl(x, 0 if abs(x) >= 1000 else 2)


def monthly_grid(
    monthly: tuple[MonthRow, ...], max_years: int = MAX_YEARS
) -> tuple[list[int], dict[tuple[int, int], MonthRow]]:
    """The years shown (the latest ``max_years`` with history, every year between them too) and the cells by
    (year, month)."""
    if not monthly:
        return [], {}
    first, last = min(m.year for m in monthly), max(m.year for m in monthly)
    years = list(range(max(first, last - max_years + 1), last + 1))
    cells = {(m.year, m.month): m for m in monthly if m.year in years}
    return years, cells


BARS_UP_TO_YEARS = 2
"""A table of at most this many years leaves room under it for the P&L of the latest year's months as bars."""


def monthly_returns_chart(report: Report) -> Chart | None:
    """Years × months, each cell the compounded return of the month's days, coloured around 0; under a short
    table, the P&L of the latest year's months as bars."""
    figures = report.period
    if figures is None:
        return None
    years, cells = monthly_grid(figures.monthly)
    title = "Monthly returns, % (P&L in USDT beneath)"
    current = (figures.period.last.year, figures.period.last.month) if figures.period.kind == "month" else None
    notes = partial_months(report)

    def draw(fig: Figure) -> None:
        if not cells:
            empty(fig.add_subplot(), title, "No history yet")
            return
        if len(years) <= BARS_UP_TO_YEARS:
            table_ax, bars_ax = fig.subplots(2, 1, height_ratios=[len(years) + 0.6 + (0.4 if notes else 0.0), 2.6])
            _bars(bars_ax, years[-1], cells, current)
        else:
            table_ax = fig.add_subplot()
        _table(table_ax, years, cells, current, notes)
        table_ax.set_title(title)

    return Chart("05-monthly-returns.png", png(draw), caption(_caption(figures.monthly, years, cells)))


def _table(
    ax: Axes,
    years: list[int],
    cells: dict[tuple[int, int], MonthRow],
    current: tuple[int, int] | None,
    notes: dict[tuple[int, int], str],
) -> None:
    scale = max((abs(m.return_) for m in cells.values() if m.return_ is not None), default=0.0)
    ax.set_axis_off()
    rows = len(years)
    ax.set_xlim(-1.0, 12.0)
    ax.set_ylim(rows + (0.4 if notes else 0.0), -0.6)
    if notes:  # under the table, right-aligned with it
        ax.text(12.0, rows + 0.22, "* " + "; ".join(notes.values()), ha="right", va="center", fontsize=16,
                color="#555555")  # fmt: skip
    big, small = (20, 14) if rows <= 4 else (18, 13)
    for month in range(12):
        ax.text(month + 0.5, -0.3, MONTHS[month][:3], ha="center", va="center", fontsize=19, fontweight="bold")
    for row, year in enumerate(years):
        ax.text(-0.12, row + 0.5, str(year), ha="right", va="center", fontsize=20, fontweight="bold")
        for month in range(12):
            m = cells.get((year, month + 1))
            if m is None:  # no history that month: a blank cell
                ax.add_patch(Rectangle((month + 0.03, row + 0.03), 0.94, 0.94, facecolor="none", edgecolor=BLANK, lw=1))
                continue
            face = MISSING_RETURN if m.return_ is None else heat_color(m.return_, scale)
            ink = OTHERS if m.return_ is None else heat_ink(m.return_, scale)
            mark = (year, month + 1) == current
            ax.add_patch(Rectangle((month + 0.03, row + 0.03), 0.94, 0.94, facecolor=face,
                                   edgecolor=INK if mark else face, lw=3.5 if mark else 0))  # fmt: skip
            text = ("—" if m.return_ is None else return_text(m.return_)) + ("*" if (year, month + 1) in notes else "")
            ax.text(month + 0.5, row + 0.42, text, ha="center", va="center", fontsize=big, fontweight="bold",
                    color=ink)  # fmt: skip
            ax.text(month + 0.5, row + 0.76, pnl_text(m.pnl), ha="center", va="center", fontsize=small, color=ink)


def _bars(ax: Axes, year: int, cells: dict[tuple[int, int], MonthRow], current: tuple[int, int] | None) -> None:
    """The P&L in USDT of each month of ``year``, each bar under its month's cell, the report's month outlined."""
    months = [cells[(year, month)] for month in range(1, 13) if (year, month) in cells]
    xs = np.array([m.month - 0.5 for m in months])
    pnl = np.array([m.pnl for m in months])
    bars = ax.bar(xs, pnl, width=0.62, color=np.where(pnl >= 0, GAIN, LOSS), zorder=2)
    for bar, m in zip(bars, months, strict=True):
        if (m.year, m.month) == current:
            bar.set_edgecolor(INK)
            bar.set_linewidth(3)
    ax.axhline(0, color=INK, lw=1.2)
    ax.set_xlim(-1.0, 12.0)
    ax.set_xticks([])
    ax.grid(axis="x", visible=False)
    ax.spines["bottom"].set_visible(False)
    ax.margins(y=0.15)
    usd_axis(ax, bins=4)
    ax.set_title(f"P&L by month in {year}, USDT", fontsize=20)


def _caption(monthly: tuple[MonthRow, ...], years: list[int], cells: dict[tuple[int, int], MonthRow]) -> str:
    text = "Monthly returns (compounded daily returns)"
    if not cells:
        return text + ": no history yet"
    shown = sorted(cells.values(), key=lambda m: (m.year, m.month))
    first, last = (
        month_name(shown[0].year, shown[0].month, short=True),
        month_name(shown[-1].year, shown[-1].month, True),
    )
    rated = [m for m in shown if m.return_ is not None]
    if len(shown) == 1:
        return text + f", {first}: {fmt_signed_pct(shown[0].return_, 1)}, {fmt_pnl(shown[0].pnl)} USDT"
    text += f", {first} – {last}"
    if rated:
        best = max(rated, key=lambda m: (m.return_, -m.year, -m.month))
        worst = min(rated, key=lambda m: (m.return_, m.year, m.month))
        text += f": best {month_name(best.year, best.month, short=True)} {fmt_signed_pct(best.return_, 1)}"
        text += f", worst {month_name(worst.year, worst.month, short=True)} {fmt_signed_pct(worst.return_, 1)}"
    if len(shown) < len(monthly):
        text += f" (the last {len(years)} years; the whole table is in the full report)"
    return text
