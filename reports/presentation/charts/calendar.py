"""A month's calendar of daily P&L: weeks as rows, Monday to Sunday, each day's P&L in its cell, and the week's sum."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from reports.models import DailyPoint, PeriodFigures, Report
from reports.presentation.charts.style import GAIN, INK, LOSS, OTHERS, Chart, caption, png
from reports.presentation.fmt import WEEKDAYS, fmt_pnl, fmt_weekday, heat_color, heat_ink, period_title

WEEK_COLUMN = "Week total"
NO_DATA = "#eeeeee"


@dataclass(frozen=True, slots=True)
class Cell:
    """One day of the month on the calendar: its row (week) and column (0 = Monday), and its point if any."""

    day: date
    row: int
    column: int
    point: DailyPoint | None


def calendar_cells(first: date, last: date, points: tuple[DailyPoint, ...]) -> list[Cell]:
    """One cell per calendar day from ``first`` to ``last``; rows are the weeks, Monday to Sunday."""
    by_date = {p.date: p for p in points}
    offset = first.weekday()
    cells = []
    d = first
    while d <= last:
        index = (d - first).days + offset
        cells.append(Cell(d, index // 7, index % 7, by_date.get(d)))
        d += timedelta(days=1)
    return cells


def _amount(x: float) -> str:
    """A cell's amount: cents while they fit, whole USDT from 1,000 on."""
    return fmt_pnl(x, 0 if abs(x) >= 1000 else 2)


def calendar_chart(report: Report) -> Chart | None:
    """The month's days as a heatmap: green gains, red losses, white 0; days without history in grey."""
    figures = report.period
    if figures is None or figures.period.kind != "month":
        return None
    period = figures.period
    cells = calendar_cells(period.first, period.last, figures.days)
    rows = cells[-1].row + 1
    scale = max((abs(c.point.total_pnl) for c in cells if c.point), default=0.0)
    name = period_title(period)
    title = f"Daily P&L calendar, {name} (USDT)"

    def draw(fig: Figure) -> None:
        ax = fig.add_subplot()
        ax.set_axis_off()
        ax.set_xlim(0, 8.06)
        ax.set_ylim(rows + 0.02, -0.55)
        for column, label in enumerate((*WEEKDAYS, WEEK_COLUMN)):
            ax.text(column + 0.5 + (0.06 if column == 7 else 0), -0.27, label, ha="center", va="center", fontsize=20,
                    fontweight="bold")  # fmt: skip
        for cell in cells:
            value = cell.point.total_pnl if cell.point else None
            face = NO_DATA if value is None else heat_color(value, scale)
            ink = OTHERS if value is None else heat_ink(value, scale)
            ax.add_patch(Rectangle((cell.column + 0.03, cell.row + 0.03), 0.94, 0.94, facecolor=face,
                                   edgecolor="white", lw=0))  # fmt: skip
            ax.text(cell.column + 0.1, cell.row + 0.2, str(cell.day.day), ha="left", va="center", fontsize=17,
                    color=ink)  # fmt: skip
            text = "no data" if value is None else _amount(value)
            ax.text(cell.column + 0.5, cell.row + 0.6, text, ha="center", va="center",
                    fontsize=17 if value is None else 22, fontweight="normal" if value is None else "bold",
                    color=ink)  # fmt: skip
        for row in range(rows):
            values = [c.point.total_pnl for c in cells if c.row == row and c.point]
            if not values:
                continue
            week = float(sum(values))
            ax.add_patch(Rectangle((7.09, row + 0.03), 0.94, 0.94, facecolor="white", edgecolor="#bbbbbb", lw=1.5))
            color = GAIN if week > 0.005 else LOSS if week < -0.005 else INK
            ax.text(7.56, row + 0.52, _amount(week), ha="center", va="center", fontsize=21, fontweight="bold",
                    color=color)  # fmt: skip
        ax.set_title(title)

    return Chart("02-month-calendar.png", png(draw), caption(_caption(cells, name, figures)))


def _caption(cells: list[Cell], name: str, figures: PeriodFigures) -> str:
    points = [c.point for c in cells if c.point]
    text = f"Daily P&L calendar, {name}: weeks Monday to Sunday, week sums on the right"
    if not points:
        return text + "; no history in this month"
    gains = sum(1 for p in points if p.total_pnl > 0.005)
    losses = sum(1 for p in points if p.total_pnl < -0.005)
    text += f"; {gains} green day{'s' if gains != 1 else ''}, {losses} red"
    best, worst = figures.best_day, figures.worst_day
    if best is not None and worst is not None:
        text += f"; best {fmt_weekday(best.date, year=False)} {fmt_pnl(best.total_pnl)}"
        text += f", worst {fmt_weekday(worst.date, year=False)} {fmt_pnl(worst.total_pnl)} USDT"
    missing = len(cells) - len(points)
    if missing:
        text += f"; {missing} day{'s' if missing != 1 else ''} without history (grey)"
    return text
